"""The fidelity benchmark's protocol on digit scenes: which cells should get the credit, which digits the model reads.

Helpers shared by ``run.py``, ``diagnose.py`` and ``tests/test_fidelity.py``; the
dataset itself (scenes, screen, CNN) is :mod:`qdrant_explain.datasets.digits`.

* :func:`truth` and :func:`matches`: the ground truth of a (query, hit) pair of scenes:
  the cells of shared and unshared digits, and which query cell should link to which hit cell.
* :func:`class_centroids`, :func:`recognised_cells`, :func:`reads_every_digit`: the
  model's own reading of each digit (no explanation involved), so that a "miss" on a
  digit the model misreads is charged to the model, not to the explainer.

Run as scripts, ``run.py`` and ``diagnose.py`` import this module as ``protocol``
(their folder is on ``sys.path``); a test loads it by path.
"""

from __future__ import annotations

import numpy as np

from qdrant_explain.datasets import digits


def truth(scene: digits.Scene, other: digits.Scene) -> tuple[list[int], list[int]]:
    """(cells of shared digits, cells of unshared digits) of ``scene`` with respect to ``other``.

    A digit is shared when ``other`` holds a digit of the same class; empty cells are in neither list.
    """
    cc = scene.cell_classes()
    shared = [c for c in range(cc.size) if cc[c] >= 0 and cc[c] in other.class_set]
    unshared = [c for c in range(cc.size) if cc[c] >= 0 and cc[c] not in other.class_set]
    return shared, unshared


def matches(q: digits.Scene, h: digits.Scene) -> dict[int, int]:
    """Query cell -> hit cell of the digit of the same class, for every class the two scenes share."""
    hc = dict(zip(h.classes, h.cells))
    return {cell: hc[cls] for cls, cell in zip(q.classes, q.cells) if cls in hc}


def class_centroids(
    encoder, *, split: str = "train", per_class: int | None = None, screened: bool = True
) -> np.ndarray:
    """(10, d) unit-norm mean embedding of each class's digits shown alone (centre cell of a blank canvas).

    The model's own notion of each class, measured without any explanation: used by
    :func:`recognised_cells` to tell which scene digits the model reads as their class.
    ``per_class`` caps the digits used per class (None: every digit of the split);
    ``screened`` leaves out ``digits.ambiguous_digits()``.
    """
    pool = digits.digit_pool(split, screened=screened, caller="class_centroids")
    bank, labels, _ = digits.digit_bank(digits.DIGIT_SCALE)
    side = bank.shape[1]
    cell = digits.CANVAS // digits.GRID
    top = cell + (cell - side) // 2
    out = []
    for cls in range(digits.N_CLASSES):
        idx = pool[labels[pool] == cls][:per_class]
        canvas = np.zeros((idx.size, digits.CANVAS, digits.CANVAS), dtype=np.uint8)
        canvas[:, top : top + side, top : top + side] = bank[idx]
        emb = np.asarray(encoder.encode(np.repeat(canvas[..., None], 3, axis=3)), dtype=np.float64)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        mean = emb.mean(axis=0)
        out.append(mean / max(np.linalg.norm(mean), 1e-12))
    return np.stack(out)


def recognised_cells(encoder, scene: digits.Scene, centroids: np.ndarray) -> np.ndarray:
    """(grid^2,) bool: cells whose digit, kept alone (other cells black), is nearest its own class centroid.

    A digit the model misreads (an ambiguous 8 x 8 nine closer to the 4s) carries a
    class label that is not the model's ground truth; fidelity metrics can be
    reported on recognised digits too, separating the model's errors from the explainer's.
    """
    labels = scene.cell_labels()
    cells = list(scene.cells)
    alone = np.stack([scene.image * (labels == c)[:, :, None] for c in cells])
    emb = np.asarray(encoder.encode(alone.astype(np.uint8)), dtype=np.float64)
    pred = (emb @ centroids.T).argmax(axis=1)
    out = np.zeros(scene.grid * scene.grid, dtype=bool)
    out[cells] = pred == np.asarray(scene.classes)
    return out


def reads_every_digit(encoder, scenes: "digits.Scene | list[digits.Scene] | tuple[digits.Scene, ...]", centroids: np.ndarray) -> bool:
    """True when the model reads every digit of ``scenes`` as its class (:func:`recognised_cells`)."""
    scenes = [scenes] if isinstance(scenes, digits.Scene) else list(scenes)
    return all(recognised_cells(encoder, sc, centroids)[list(sc.cells)].all() for sc in scenes)


__all__ = ["class_centroids", "matches", "reads_every_digit", "recognised_cells", "truth"]
