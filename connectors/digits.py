"""Digit scenes with known ground truth, and a small CNN encoder trained on them.

A *scene* is a black canvas cut into a ``grid x grid`` array of square cells;
``k`` sklearn 8x8 digits of distinct classes are upscaled and placed, one per
occupied cell, with a small random offset. Classes, cells and pixel boxes are
recorded, so the truth of any explanation is known: two scenes are similar
exactly as much as their digit classes overlap (the Ochiai coefficient
``|A & B| / sqrt(|A| |B|)``, which is the cosine of their multi-hot class
vectors), and the regions that *should* get the credit are the digits they share.
Scenes are drawn from *screened* digits by default: the few sklearn digits whose
label independent classifiers dispute (:func:`ambiguous_digits`) are left out, so
that the labels defining the truth are ones a reader would agree with.

:class:`DigitsEncoder` (spec ``"digits-cnn"``) implements the encoder protocol of
:mod:`qdrant_explain.explainers.encoder`. Its weights (``weights/digits_cnn.pt``,
153 KiB) come from ``benchmarks/fidelity/train_digits.py``, which trains it
with a contrastive loss so that the cosine of two scene embeddings tracks the
overlap of their classes.

Example:
    >>> from qdrant_explain.connectors.digits import load_digits_encoder, make_scenes
    >>> enc = load_digits_encoder()
    >>> scenes = make_scenes(4, seed=0, split="test")
    >>> emb = enc.encode(np.stack([s.image for s in scenes]))   # (4, 32)
"""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass

import numpy as np

from qdrant_explain.explainers.encoder import PreparedImage, prepare_image

SPEC = "digits-cnn"
"""Encoder spec of the trained digits CNN."""

WEIGHTS_PATH = pathlib.Path(__file__).resolve().parent / "weights" / "digits_cnn.pt"
"""Where the trained weights live (a torch state dict plus its config)."""

CANVAS = 96
"""Default canvas side in pixels (3 x 3 cells of 32 px)."""

GRID = 3
"""Default number of cells per side."""

DIGIT_SCALE = 3
"""Upscaling of the 8x8 sklearn digits (8 * 3 = 24 px inside a 32 px cell)."""

N_CLASSES = 10

N_DIGITS = 1797
"""Number of images in sklearn's digits dataset."""


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
def _digit_bank(scale: int = DIGIT_SCALE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upscaled sklearn digits as (1797, 8*scale, 8*scale) uint8, their labels, and a split id."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.clip(data.images / 16.0 * 255.0, 0, 255).astype(np.uint8)
    from PIL import Image

    side = 8 * scale
    big = np.stack([np.asarray(Image.fromarray(im).resize((side, side), Image.BILINEAR)) for im in images])
    # fixed split of the 1797 digit images: 70 % train, 30 % test, independent of any seed
    order = np.random.default_rng(12345).permutation(len(images))
    split = np.zeros(len(images), dtype=np.int64)
    split[order[int(0.7 * len(images)) :]] = 1
    return big, data.target.astype(np.int64), split


AMBIGUOUS_PATH = pathlib.Path(__file__).resolve().parent / "weights" / "digits_ambiguous.json"
"""Indices of the sklearn digits :func:`screen_digits` flags (shipped, so loading costs nothing)."""


def screen_digits() -> np.ndarray:
    """(1797,) bool: sklearn digits whose label an independent reader disputes (the computation).

    Three standard classifiers that know nothing of the CNN (an RBF SVM, 3-nearest
    neighbours, logistic regression on standardised pixels) each predict every
    8 x 8 digit out of fold (10 folds, fixed split); a digit is *ambiguous* when any
    of them reads it as another class (66 of the 1797, e.g. #5, a "5" that all of
    them, and the CNN, read as a 9). A few seconds on one core; :func:`ambiguous_digits`
    loads the shipped result (``AMBIGUOUS_PATH``, checked against this in the tests).
    """
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from threadpoolctl import threadpool_limits

    data = load_digits()
    folds = StratifiedKFold(10, shuffle=True, random_state=0)
    readers = (
        SVC(gamma=0.001, C=10.0),
        KNeighborsClassifier(3),
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
    )
    out = np.zeros(len(data.target), dtype=bool)
    with threadpool_limits(1):  # small problems: BLAS threads only contend
        for reader in readers:
            out |= cross_val_predict(reader, data.data, data.target, cv=folds) != data.target
    return out


@functools.lru_cache(maxsize=1)
def ambiguous_digits() -> np.ndarray:
    """(1797,) bool: the digits :func:`screen_digits` flags, as shipped with the package.

    Scenes drawn with ``screened=True`` (the default) leave these digits out, so the
    class labels, which are the benchmark's ground truth, are ones a reader would
    agree with: a misread digit would otherwise charge the model's (justified)
    confusion to the explainer. Regenerate the file with
    ``python -c "from qdrant_explain.connectors import digits; digits.write_ambiguous_digits()"``.
    """
    import json

    flagged = np.zeros(N_DIGITS, dtype=bool)
    flagged[json.loads(AMBIGUOUS_PATH.read_text())["indices"]] = True
    flagged.setflags(write=False)
    return flagged


def write_ambiguous_digits(path: pathlib.Path = AMBIGUOUS_PATH) -> pathlib.Path:
    """Run :func:`screen_digits` and write its flagged indices to ``path`` (JSON)."""
    import json

    indices = [int(i) for i in np.flatnonzero(screen_digits())]
    path.write_text(json.dumps({"made_by": "qdrant_explain.connectors.digits.screen_digits", "indices": indices}) + "\n")
    return path


def _pool(split: str, screened: bool, caller: str) -> np.ndarray:
    """Indices of the digit images a scene may use: one split, optionally without :func:`ambiguous_digits`."""
    if split not in ("train", "test"):
        raise ValueError(f"{caller}(split=...) must be 'train' or 'test'; got {split!r}.")
    _, _, which = _digit_bank(DIGIT_SCALE)
    keep = which == (0 if split == "train" else 1)
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
            (:func:`ambiguous_digits`); ``False`` draws from every digit of the split.

    Returns:
        :class:`Scene`.
    """
    pool = _pool(split, screened, "make_scene")
    if not 1 <= k <= min(N_CLASSES, grid * grid):
        raise ValueError(f"make_scene needs 1 <= k <= {min(N_CLASSES, grid * grid)}; got k={k}.")
    if canvas % grid:
        raise ValueError(f"make_scene needs canvas divisible by grid; got canvas={canvas}, grid={grid}.")
    cell = canvas // grid
    bank, labels, _ = _digit_bank(DIGIT_SCALE)
    side = bank.shape[1]
    if side > cell:
        raise ValueError(f"digits of {side} px do not fit cells of {cell} px; raise canvas or lower grid.")
    chosen = list(classes) if classes is not None else [int(c) for c in rng.choice(N_CLASSES, size=k, replace=False)]
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
    """``n`` scenes, deterministic given ``seed``; ``k`` is a count or an inclusive (low, high) range.

    ``screened`` as in :func:`make_scene`.
    """
    rng = np.random.default_rng(seed)
    lo, hi = (k, k) if isinstance(k, int) else k
    return [
        make_scene(rng, k=int(rng.integers(lo, hi + 1)), split=split, canvas=canvas, grid=grid, screened=screened)
        for _ in range(n)
    ]


# --------------------------------------------------------------------------- the CNN


def build_network(embed_dim: int = 32, width: int = 32):
    """The digits CNN (torch ``nn.Module``): patchify conv, three conv blocks, global sum pool, linear.

    No layer has a bias, so the black background maps to exactly zero features
    and the embedding is (up to receptive-field overlaps between neighbouring
    digits) a sum of per-digit features: that is what lets cosine similarity
    track class overlap. Sum pooling makes the per-digit features independent of
    the canvas size, so training can use small 2 x 2 canvases and the encoder
    still applies to 3 x 3 ones. A blank canvas embeds to the zero vector, whose
    cosine with anything is 0 in qdrant-explain's scores (nothing shared, no similarity).
    """
    import torch
    from torch import nn

    class DigitsCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, width, kernel_size=3, stride=3, bias=False),  # 96 -> 32 (one conv step per digit pixel)
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, 2 * width, kernel_size=3, stride=2, padding=1, bias=False),  # 32 -> 16
                nn.ReLU(inplace=True),
                nn.Conv2d(2 * width, 2 * width, kernel_size=3, stride=2, padding=1, bias=False),  # 16 -> 8
                nn.ReLU(inplace=True),
            )
            self.head = nn.Linear(2 * width, embed_dim, bias=False)
            for module in self.features:
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            h = self.features(x)
            return self.head(h.sum(dim=(2, 3)))

    return DigitsCNN()


def to_tensor(pixels: np.ndarray):
    """(m, H, W, 3) uint8 -> (m, 3, H, W) float32 tensor in [0, 1]."""
    import torch

    arr = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8).transpose(0, 3, 1, 2))
    return torch.from_numpy(arr).float().div_(255.0)


class DigitsEncoder:
    """The digits CNN as an :class:`~qdrant_explain.explainers.encoder.Encoder`.

    Args:
        weights: path to a state-dict file, ``None`` for the shipped trained
            weights, or ``"random"`` for an untrained (random-init) network
            with the same architecture: the sanity-check baseline.
        seed: seed of the random initialisation when ``weights="random"``.
        batch_size: images per forward pass in :meth:`encode`.
        threads: torch intra-op threads while encoding (None leaves torch's setting).

    Attributes:
        name: ``"digits-cnn"`` (``"digits-cnn@random<seed>"`` for random weights).
        input_size: (96, 96).
    """

    def __init__(
        self,
        weights: str | pathlib.Path | None = None,
        *,
        seed: int = 0,
        batch_size: int = 512,
        threads: int | None = None,
    ) -> None:
        import torch

        config = {"embed_dim": 32, "width": 32, "canvas": CANVAS}
        state = None
        if isinstance(weights, str) and weights == "random":
            self.name = f"{SPEC}@random{seed}"
        else:
            path = pathlib.Path(weights) if weights is not None else WEIGHTS_PATH
            if not path.is_file():
                raise ValueError(
                    f"DigitsEncoder(weights=...) found no weights file at {str(path)!r}. Train them with "
                    "`python benchmarks/fidelity/train_digits.py`, or pass weights='random'."
                )
            blob = torch.load(path, map_location="cpu", weights_only=True)
            config.update(blob.get("config", {}))
            state = blob["state_dict"]
            self.name = SPEC if weights is None else f"{SPEC}@{path.name}"
        torch.manual_seed(seed)
        self.model = build_network(embed_dim=int(config["embed_dim"]), width=int(config["width"]))
        if state is not None:
            self.model.load_state_dict(state)
        self.model.eval()
        side = int(config["canvas"])
        self.input_size = (side, side)
        self.batch_size = int(batch_size)
        self.threads = threads

    @property
    def dim(self) -> int:
        """Embedding dimension d."""
        return int(self.model.head.out_features)

    def prepare(self, image: object) -> PreparedImage:
        """Resize/crop a PIL image or array to 96 x 96 model space (identity for a scene)."""
        arr = np.asarray(image) if not hasattr(image, "mode") else image
        if isinstance(arr, np.ndarray) and arr.shape[:2] == self.input_size and arr.ndim == 3 and arr.dtype == np.uint8:
            # scenes are already in model space: skip the resampling round trip
            from qdrant_explain.explainers.encoder import Geometry

            h, w = self.input_size
            geometry = Geometry(original_size=(h, w), input_size=(h, w), resized_size=(h, w), crop_offset=(0, 0))
            return PreparedImage(pixels=np.ascontiguousarray(arr[:, :, :3]), geometry=geometry)
        return prepare_image(image, self.input_size)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Embed an (m, 96, 96, 3) uint8 batch into (m, 32) float64 (unnormalised)."""
        import torch

        batch = np.asarray(pixels)
        if batch.ndim != 4 or batch.shape[1:3] != self.input_size or batch.shape[3] != 3:
            raise ValueError(
                f"{self.name}.encode expects an (m, {self.input_size[0]}, {self.input_size[1]}, 3) uint8 "
                f"batch; got shape {batch.shape}."
            )
        out = np.empty((batch.shape[0], self.dim), dtype=np.float64)
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            with torch.inference_mode():
                for start in range(0, batch.shape[0], self.batch_size):
                    chunk = to_tensor(batch[start : start + self.batch_size])
                    out[start : start + chunk.shape[0]] = self.model(chunk).double().numpy()
        finally:
            if self.threads:
                torch.set_num_threads(previous)
        return out

    def __repr__(self) -> str:
        return f"DigitsEncoder(name={self.name!r}, input_size={self.input_size}, dim={self.dim})"


def class_centroids(
    encoder, *, split: str = "train", per_class: int | None = None, screened: bool = True
) -> np.ndarray:
    """(10, d) unit-norm mean embedding of each class's digits shown alone (centre cell of a blank canvas).

    The model's own notion of each class, measured without any explanation: used by
    :func:`recognised_cells` to tell which scene digits the model reads as their class.
    ``per_class`` caps the digits used per class (None: every digit of the split);
    ``screened`` leaves out :func:`ambiguous_digits`.
    """
    pool = _pool(split, screened, "class_centroids")
    bank, labels, _ = _digit_bank(DIGIT_SCALE)
    side = bank.shape[1]
    cell = CANVAS // GRID
    top = cell + (cell - side) // 2
    out = []
    for cls in range(N_CLASSES):
        idx = pool[labels[pool] == cls][:per_class]
        canvas = np.zeros((idx.size, CANVAS, CANVAS), dtype=np.uint8)
        canvas[:, top : top + side, top : top + side] = bank[idx]
        emb = np.asarray(encoder.encode(np.repeat(canvas[..., None], 3, axis=3)), dtype=np.float64)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        mean = emb.mean(axis=0)
        out.append(mean / max(np.linalg.norm(mean), 1e-12))
    return np.stack(out)


def recognised_cells(encoder, scene: Scene, centroids: np.ndarray) -> np.ndarray:
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


def reads_every_digit(encoder, scenes: "Scene | list[Scene] | tuple[Scene, ...]", centroids: np.ndarray) -> bool:
    """True when the model reads every digit of ``scenes`` as its class (:func:`recognised_cells`)."""
    scenes = [scenes] if isinstance(scenes, Scene) else list(scenes)
    return all(recognised_cells(encoder, sc, centroids)[list(sc.cells)].all() for sc in scenes)


def load_digits_encoder(
    weights: str | pathlib.Path | None = None,
    *,
    seed: int = 0,
    batch_size: int = 512,
    threads: int | None = None,
    device: str = "cpu",
    dtype: str = "fp32",
) -> DigitsEncoder:
    """The ``"digits-cnn"`` encoder: shipped trained weights by default, ``weights="random"`` for random init.

    This is the factory registered as ``load_encoder("digits-cnn")``. The CNN is tiny,
    so it always runs on the CPU in fp32; ``device`` and ``dtype`` are accepted for
    compatibility with the other encoders' options and must be CPU/fp32-compatible.
    """
    if device not in ("cpu", "auto"):
        raise ValueError(f"digits-cnn runs on the CPU only; got device={device!r}. Use device='cpu' or 'auto'.")
    if dtype not in ("fp32", "float32"):
        raise ValueError(f"digits-cnn runs in fp32 only; got dtype={dtype!r}.")
    return DigitsEncoder(weights, seed=seed, batch_size=batch_size, threads=threads)


def _register() -> None:
    from .encoders import register_encoder

    register_encoder(SPEC, load_digits_encoder, overwrite=True)


_register()


__all__ = [
    "SPEC",
    "WEIGHTS_PATH",
    "Scene",
    "DigitsEncoder",
    "build_network",
    "AMBIGUOUS_PATH",
    "ambiguous_digits",
    "screen_digits",
    "write_ambiguous_digits",
    "class_centroids",
    "load_digits_encoder",
    "make_scene",
    "make_scenes",
    "multi_hot",
    "overlap",
    "reads_every_digit",
    "recognised_cells",
]
