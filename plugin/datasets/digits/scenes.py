"""Digit scenes with known ground truth: sklearn 8 x 8 digits placed on a grid of cells.

A *scene* is a black canvas cut into a ``grid x grid`` array of square cells;
``k`` sklearn 8x8 digits of distinct classes are upscaled and placed, one per
occupied cell, with a small random offset. Classes, cells and pixel boxes are
recorded, so the truth of any explanation is known: two scenes are similar
exactly as much as their digit classes overlap (the Ochiai coefficient
``|A & B| / sqrt(|A| |B|)``, which is the cosine of their multi-hot class
vectors), and the regions that *should* get the credit are the digits they share.
Scenes are drawn from *screened* digits by default: the few sklearn digits whose
label independent classifiers dispute (:func:`~.screen.ambiguous_digits`) are left
out, so that the labels defining the truth are ones a reader would agree with.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .screen import ambiguous_digits

CANVAS = 96
"""Default canvas side in pixels (3 x 3 cells of 32 px)."""

GRID = 3
"""Default number of cells per side."""

DIGIT_SCALE = 3
"""Upscaling of the 8x8 sklearn digits (8 * 3 = 24 px inside a 32 px cell)."""

N_CLASSES = 10
"""Number of digit classes (0 .. 9)."""

SPLITS = ("train", "test")
"""The fixed 70/30 splits of the digit images, independent of any seed."""


@dataclass(frozen=True)
class Scene:
    """One digit scene and its ground truth.

    Attributes:
        image: (H, W, 3) uint8 RGB canvas (white-ish digits on black).
        classes: digit class of each placed digit, length k, all distinct.
        cells: grid cell (row-major, ``row * grid + col``) of each digit.
        boxes: (k, 4) int pixel boxes ``(top, left, bottom, right)``, bottom/right exclusive.
        grid: cells per side.
    """

    image: np.ndarray
    classes: tuple[int, ...]
    cells: tuple[int, ...]
    boxes: np.ndarray
    grid: int = GRID

    @property
    def class_set(self) -> frozenset[int]:
        """The digit classes present."""
        return frozenset(self.classes)

    def cell_labels(self) -> np.ndarray:
        """(H, W) int label map of the grid cells (label = row-major cell index, 0 .. grid^2 - 1).

        Use it as a player label map: one player per cell, one digit per occupied cell.
        """
        h, w = self.image.shape[:2]
        rows = np.minimum(np.arange(h) * self.grid // h, self.grid - 1)
        cols = np.minimum(np.arange(w) * self.grid // w, self.grid - 1)
        return (rows[:, None] * self.grid + cols[None, :]).astype(np.int64)

    def cell_classes(self) -> np.ndarray:
        """(grid^2,) int: the digit class in each cell, -1 for an empty cell."""
        out = np.full(self.grid * self.grid, -1, dtype=np.int64)
        out[list(self.cells)] = self.classes
        return out

    def object_mask(self, index: int) -> np.ndarray:
        """(H, W) bool mask of digit ``index``'s box."""
        top, left, bottom, right = (int(v) for v in self.boxes[index])
        mask = np.zeros(self.image.shape[:2], dtype=bool)
        mask[top:bottom, left:right] = True
        return mask


def overlap(a: Scene | frozenset[int], b: Scene | frozenset[int]) -> float:
    """True similarity of two scenes: Ochiai overlap ``|A & B| / sqrt(|A| |B|)`` of their classes."""
    sa = a.class_set if isinstance(a, Scene) else frozenset(a)
    sb = b.class_set if isinstance(b, Scene) else frozenset(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / float(np.sqrt(len(sa) * len(sb)))


def multi_hot(scenes: list[Scene]) -> np.ndarray:
    """(m, 10) float multi-hot class vectors of ``scenes``."""
    out = np.zeros((len(scenes), N_CLASSES), dtype=np.float64)
    for row, scene in enumerate(scenes):
        out[row, list(scene.classes)] = 1.0
    return out


@functools.lru_cache(maxsize=4)
def digit_bank(scale: int = DIGIT_SCALE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sklearn digits upscaled, their labels, and the fixed split each belongs to.

    Args:
        scale: upscaling factor of the 8 x 8 digits (bilinear).

    Returns:
        ``(images, labels, split)``: (1797, 8*scale, 8*scale) uint8, (1797,) int64 classes,
        (1797,) int64 split id (0: train, 1: test: a fixed 70/30 split, independent of any
        seed). The arrays are cached and read-only.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.clip(data.images / 16.0 * 255.0, 0, 255).astype(np.uint8)
    side = 8 * scale
    big = np.stack([np.asarray(Image.fromarray(im).resize((side, side), Image.BILINEAR)) for im in images])
    # fixed split of the 1797 digit images: 70 % train, 30 % test, independent of any seed
    order = np.random.default_rng(12345).permutation(len(images))
    split = np.zeros(len(images), dtype=np.int64)
    split[order[int(0.7 * len(images)) :]] = 1
    labels = data.target.astype(np.int64)
    for arr in (big, labels, split):
        arr.setflags(write=False)
    return big, labels, split


def digit_pool(split: str, *, screened: bool = True, caller: str = "digit_pool") -> np.ndarray:
    """Indices (into :func:`digit_bank`) of the digit images a scene may use.

    Args:
        split: ``"train"`` or ``"test"``.
        screened: leave out :func:`~.screen.ambiguous_digits`.
        caller: the public function named in the error message.

    Returns:
        Sorted int64 indices.

    Raises:
        ValueError: ``split`` is not one of :data:`SPLITS`.
    """
    if split not in SPLITS:
        raise ValueError(f"{caller}(split=...) must be 'train' or 'test'; got {split!r}.")
    _, _, which = digit_bank(DIGIT_SCALE)
    keep = which == SPLITS.index(split)
    if screened:
        keep &= ~ambiguous_digits()
    return np.flatnonzero(keep)


def make_scene(
    rng: np.random.Generator,
    *,
    k: int,
    split: str = "train",
    canvas: int = CANVAS,
    grid: int = GRID,
    classes: list[int] | None = None,
    screened: bool = True,
) -> Scene:
    """Draw one scene of ``k`` digits with distinct classes in distinct cells.

    Args:
        rng: the random generator (all randomness comes from it).
        k: number of digits, 1 <= k <= min(10, grid^2).
        split: ``"train"`` or ``"test"``: which fixed 70/30 split of the digit images to draw from.
        canvas: canvas side in pixels (a multiple of ``grid``).
        grid: cells per side.
        classes: force these classes (length k) instead of drawing them.
        screened: leave out the digits whose label independent classifiers dispute
            (:func:`~.screen.ambiguous_digits`); ``False`` draws from every digit of the split.

    Returns:
        :class:`Scene`.

    Raises:
        ValueError: ``split`` unknown, ``k`` out of range, ``classes`` not ``k`` distinct
            classes, ``canvas`` not a multiple of ``grid``, or cells too small for a digit.
    """
    pool = digit_pool(split, screened=screened, caller="make_scene")
    if not 1 <= k <= min(N_CLASSES, grid * grid):
        raise ValueError(f"make_scene needs 1 <= k <= {min(N_CLASSES, grid * grid)}; got k={k}.")
    if canvas % grid:
        raise ValueError(f"make_scene needs canvas divisible by grid; got canvas={canvas}, grid={grid}.")
    cell = canvas // grid
    bank, labels, _ = digit_bank(DIGIT_SCALE)
    side = bank.shape[1]
    if side > cell:
        raise ValueError(f"digits of {side} px do not fit cells of {cell} px; raise canvas or lower grid.")
    if classes is not None:
        chosen = [int(c) for c in classes]
        if len(chosen) != k or len(set(chosen)) != k or not all(0 <= c < N_CLASSES for c in chosen):
            raise ValueError(
                f"make_scene(classes=...) must list k={k} distinct classes in 0..{N_CLASSES - 1}; got {list(classes)!r}. "
                "Pass k=len(classes), or drop classes= to draw them."
            )
    else:
        chosen = [int(c) for c in rng.choice(N_CLASSES, size=k, replace=False)]
    cells = [int(c) for c in rng.choice(grid * grid, size=k, replace=False)]
    image = np.zeros((canvas, canvas), dtype=np.float64)
    boxes = np.zeros((k, 4), dtype=np.int64)
    for i, (cls, cell_id) in enumerate(zip(chosen, cells)):
        candidates = pool[labels[pool] == cls]
        digit = bank[rng.choice(candidates)].astype(np.float64)
        brightness = rng.uniform(0.7, 1.0)
        r, c = divmod(cell_id, grid)
        top = r * cell + int(rng.integers(0, cell - side + 1))
        left = c * cell + int(rng.integers(0, cell - side + 1))
        image[top : top + side, left : left + side] = np.maximum(
            image[top : top + side, left : left + side], digit * brightness
        )
        boxes[i] = (top, left, top + side, left + side)
    rgb = np.repeat(np.clip(image, 0, 255).round().astype(np.uint8)[:, :, None], 3, axis=2)
    return Scene(image=rgb, classes=tuple(chosen), cells=tuple(cells), boxes=boxes, grid=grid)


def make_scenes(
    n: int,
    *,
    seed: int = 0,
    k: int | tuple[int, int] = (1, 4),
    split: str = "test",
    canvas: int = CANVAS,
    grid: int = GRID,
    screened: bool = True,
) -> list[Scene]:
    """``n`` scenes, deterministic given ``seed``.

    Args:
        n: number of scenes.
        seed: seed of the one generator all scenes are drawn from.
        k: digits per scene: a count, or an inclusive ``(low, high)`` range drawn per scene.
        split, canvas, grid, screened: as in :func:`make_scene`.

    Returns:
        A list of ``n`` :class:`Scene`.

    Raises:
        ValueError: as :func:`make_scene`.
    """
    rng = np.random.default_rng(seed)
    lo, hi = (k, k) if isinstance(k, int) else k
    return [
        make_scene(rng, k=int(rng.integers(lo, hi + 1)), split=split, canvas=canvas, grid=grid, screened=screened)
        for _ in range(n)
    ]


__all__ = [
    "CANVAS",
    "DIGIT_SCALE",
    "GRID",
    "N_CLASSES",
    "SPLITS",
    "Scene",
    "digit_bank",
    "digit_pool",
    "make_scene",
    "make_scenes",
    "multi_hot",
    "overlap",
]
