"""Side evaluators: boolean masks of one image's players -> embeddings, cached and batched.

One :class:`SideEvaluator` lives as long as one explanation (or one query
explained against many hits). It encodes every distinct mask once, in batches
of ``batch_size``, counts the encoder passes and the seconds spent in the
encoder, and shows a tqdm bar for long runs (silent when stderr is not a TTY,
or with ``progress=False``).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ._typing import CoalitionMatrix, FloatMatrix
from .coalitions import all_coalitions
from .masking import masked_batch, region_adjacency


class EmbeddingError(ValueError):
    """The encoder (or an embedding function) returned unusable embeddings (NaN/inf, wrong shape)."""


def _check_neighbours(neighbours: object, n: int, name: str) -> np.ndarray | None:
    if neighbours is None:
        return None
    arr = np.asarray(neighbours)
    if arr.shape != (n, n) or arr.dtype != np.bool_:
        raise ValueError(f"{name}: neighbours must be an ({n}, {n}) boolean matrix; got {arr.dtype} of shape "
                         f"{arr.shape}.")
    if not (arr == arr.T).all() or arr.diagonal().any():
        raise ValueError(f"{name}: neighbours must be symmetric with a False diagonal.")
    return arr


class SideEvaluator:
    """Cached mask -> embedding map for one side (query or hit) of a pair.

    Args:
        embed_fn: maps a (b, n_players) bool matrix to a (b, d) float array.
        n_players: number of players n of this side.
        batch_size: most masks passed to ``embed_fn`` at once (>= 1).
        progress: True shows a bar (if stderr is a TTY), False never, None
            (default) shows one only for runs of more than 4 batches on a TTY.
        name: ``"query"`` or ``"hit"``; used in messages and the bar.
        neighbours: optional (n, n) bool, symmetric: which players are neighbours
            (adjacent regions, consecutive words). The joint sampler's control
            variate then tries pair terms of neighbours only; None: no such prior.

    Attributes:
        encoder_passes: distinct masks encoded so far (the cost).
        encoder_seconds: wall time spent inside ``embed_fn``.
        calls: number of ``embed_fn`` calls (batches).
    """

    def __init__(
        self,
        embed_fn: Callable[[CoalitionMatrix], np.ndarray],
        n_players: int,
        *,
        batch_size: int = 64,
        progress: bool | None = None,
        name: str = "query",
        neighbours: np.ndarray | None = None,
    ) -> None:
        if int(n_players) < 1:
            raise ValueError(f"{name} side needs n_players >= 1; got {n_players}.")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        self.neighbours = _check_neighbours(neighbours, int(n_players), name)
        self.embed_fn = embed_fn
        self.n_players = int(n_players)
        self.batch_size = int(batch_size)
        self.progress = progress
        self.name = name
        self.encoder_passes = 0
        self.encoder_seconds = 0.0
        self.calls = 0
        self._index: dict[bytes, int] = {}
        self._store: np.ndarray | None = None
        self.dim: int | None = None

    # -- cache ---------------------------------------------------------------------------
    def _append(self, emb: np.ndarray) -> None:
        start = self.encoder_passes
        need = start + emb.shape[0]
        if self._store is None:
            self._store = np.empty((max(need, 64), emb.shape[1]), dtype=np.float64)
        elif need > self._store.shape[0]:
            grown = np.empty((max(need, 2 * self._store.shape[0]), self._store.shape[1]), dtype=np.float64)
            grown[:start] = self._store[:start]
            self._store = grown
        self._store[start:need] = emb
        self.encoder_passes = need

    def _check(self, raw: object, rows: int) -> np.ndarray:
        try:
            emb = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise EmbeddingError(
                f"The {self.name} encoder must return a numeric (m, d) array; got {type(raw).__name__}."
            ) from None
        if emb.ndim != 2 or emb.shape[0] != rows:
            raise EmbeddingError(
                f"The {self.name} encoder must return an array of shape ({rows}, d) for {rows} masked images; "
                f"got shape {emb.shape}."
            )
        if self.dim is not None and emb.shape[1] != self.dim:
            raise EmbeddingError(
                f"The {self.name} encoder returned dimension {emb.shape[1]} after returning {self.dim} before."
            )
        bad = ~np.isfinite(emb).all(axis=1)
        if bad.any():
            raise EmbeddingError(
                f"The {self.name} encoder returned NaN or inf embeddings for {int(bad.sum())} of {rows} masked "
                f"images (first at row {int(np.flatnonzero(bad)[0])} of the batch). Scores would be undefined; "
                f"check the model's precision (fp16/bf16 overflow), its weights, or the input images."
            )
        return emb

    def embed(self, masks: CoalitionMatrix) -> FloatMatrix:
        """Embeddings of the given masks, (m, d); each distinct mask is encoded once ever.

        Raises:
            ValueError: masks of the wrong shape.
            EmbeddingError: the encoder returned NaN/inf or the wrong shape.
        """
        z = np.asarray(masks)
        if z.ndim != 2 or z.shape[1] != self.n_players:
            raise ValueError(
                f"{self.name} masks must be a (m, {self.n_players}) boolean matrix; got shape {z.shape}."
            )
        z = z.astype(bool, copy=False)
        if z.shape[0] == 0 and self._store is None:
            raise ValueError(f"{self.name}: embed() of zero masks before any mask was encoded (dimension unknown).")
        packed = np.packbits(z, axis=1)
        keys = [row.tobytes() for row in packed]
        rows = np.empty(len(keys), dtype=np.int64)
        new_keys: dict[bytes, int] = {}
        new_rows: list[int] = []
        for r, key in enumerate(keys):
            hit = self._index.get(key)
            if hit is None:
                hit = new_keys.get(key)
                if hit is None:
                    hit = self.encoder_passes + len(new_rows)
                    new_keys[key] = hit
                    new_rows.append(r)
            rows[r] = hit
        if new_rows:
            self._encode_new(z[np.asarray(new_rows)])
            self._index.update(new_keys)
        return self._store[rows]

    def _encode_new(self, todo: np.ndarray) -> None:
        starts = range(0, todo.shape[0], self.batch_size)
        n_batches = len(starts)
        show = self.progress if self.progress is not None else n_batches > 4
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=todo.shape[0], desc=f"encoding {self.name} masks", unit="img", disable=None, leave=False)
        try:
            for batch, payload in self._inputs(todo, starts):
                t0 = time.perf_counter()
                raw = self._call(payload)
                self.encoder_seconds += time.perf_counter() - t0
                self.calls += 1
                emb = self._check(raw, batch.shape[0])
                if self.dim is None:
                    self.dim = int(emb.shape[1])
                self._append(emb)
                if bar is not None:
                    bar.update(batch.shape[0])
        finally:
            if bar is not None:
                bar.close()

    def _inputs(self, todo: np.ndarray, starts: range):
        """Yield (mask batch, what :meth:`_call` takes) for each batch."""
        for start in starts:
            batch = todo[start : start + self.batch_size]
            yield batch, batch.copy()

    def _call(self, payload: object) -> object:
        return self.embed_fn(payload)

    def table(self) -> FloatMatrix:
        """All 2^n embeddings in bitmask order, (2^n, d); 2^n encoder passes at most."""
        return self.embed(all_coalitions(self.n_players))


class ImageSide(SideEvaluator):
    """A :class:`SideEvaluator` that masks a model-space image and calls an encoder.

    Args:
        pixels: (H, W, 3) uint8 model-space image (``encoder.prepare(img).pixels``).
        baseline: (H, W, 3) uint8 replacement image (see :func:`make_baseline`).
        labels: (H, W) int labels 0..n-1 (``Players.labels``).
        encode: ``encoder.encode``: (b, H, W, 3) uint8 -> (b, d).
        batch_size, progress, name: as in :class:`SideEvaluator`.
        masked_encode: optional (b, n) bool masks -> (b, d) embeddings that builds
            the masked images itself (an encoder's ``masked_encoder(pixels,
            baseline, labels)``, which composes them on the GPU); then no masked
            batch is built here and ``encode`` is not called.

    Its ``neighbours`` are the regions that touch in ``labels``
    (:func:`~qdrant_explain.explainers.masking.region_adjacency`).

    Attributes:
        masking_seconds: wall time spent building masked batches.
    """

    def __init__(
        self,
        pixels: np.ndarray,
        baseline: np.ndarray,
        labels: np.ndarray,
        encode: Callable[[np.ndarray], np.ndarray],
        *,
        batch_size: int = 64,
        progress: bool | None = None,
        name: str = "query",
        masked_encode: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        self.baseline = np.ascontiguousarray(baseline, dtype=np.uint8)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.pixels.shape != self.baseline.shape or self.pixels.shape[:2] != self.labels.shape:
            raise ValueError(
                f"{name}: pixels {self.pixels.shape}, baseline {self.baseline.shape} and labels "
                f"{self.labels.shape} must describe the same (H, W) image."
            )
        self.encode = encode
        self.masked_encode = masked_encode
        self.masking_seconds = 0.0
        self._buffers: list[np.ndarray] = []
        n = int(self.labels.max()) + 1
        super().__init__(self._embed_masks, n, batch_size=batch_size, progress=progress, name=name,
                         neighbours=region_adjacency(self.labels, n))

    def _mask(self, masks: np.ndarray, slot: int) -> np.ndarray:
        t0 = time.perf_counter()
        while len(self._buffers) <= slot:
            self._buffers.append(np.empty((0,) + self.pixels.shape, dtype=np.uint8))
        if self._buffers[slot].shape[0] < masks.shape[0]:
            self._buffers[slot] = np.empty((masks.shape[0],) + self.pixels.shape, dtype=np.uint8)
        out = masked_batch(self.pixels, self.baseline, self.labels, masks, out=self._buffers[slot][: masks.shape[0]])
        self.masking_seconds += time.perf_counter() - t0
        return out

    def _embed_masks(self, masks: np.ndarray) -> np.ndarray:
        return self._call(self._mask(masks, 0) if self.masked_encode is None else masks)

    def _inputs(self, todo: np.ndarray, starts: range):
        """Masked batches, the next one built in a worker thread while the encoder runs (numpy releases the GIL).

        With ``masked_encode`` the encoder builds them: the payload is the mask batch itself.
        """
        if self.masked_encode is not None:
            yield from super()._inputs(todo, starts)
            return
        if len(starts) == 1:
            batch = todo[starts[0] : starts[0] + self.batch_size]
            yield batch, self._mask(batch, 0)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            batches = [todo[s : s + self.batch_size] for s in starts]
            future = pool.submit(self._mask, batches[0], 0)
            for k, batch in enumerate(batches):
                pixels = future.result()
                if k + 1 < len(batches):  # double buffering: slot k % 2 is in use by the encoder
                    future = pool.submit(self._mask, batches[k + 1], (k + 1) % 2)
                yield batch, pixels

    def _call(self, payload: object) -> object:
        return self.encode(payload) if self.masked_encode is None else self.masked_encode(payload)


class ExpectedSide:
    """The expectation of a score over several fills of the removed regions (SHAP-style background data).

    Each background image gives one :class:`SideEvaluator` (same pixels and players, removed regions
    filled from that background). For a score that is bilinear in the (normalised) embeddings, the
    expected score of a coalition is the score of the mean (normalised) embedding, so :meth:`embed`
    returns that mean, in *score space*: with ``normalise=True`` (cosine) every background's embedding
    is normalised before the mean, and the caller must score the result with ``"dot"`` against
    normalised vectors. E_b[cos(e_b(S), y)] = <mean_b e_b(S)/|e_b(S)|, y/|y|> exactly.

    The full coalition fills nothing, so it is encoded once (first background) instead of K times.

    Args:
        sides: one evaluator per background, all over the same players.
        normalise: normalise each embedding before averaging (cosine scores).

    Attributes:
        expectation: True (the pipeline scores this side in score space).
    """

    expectation = True

    def __init__(self, sides: "list[SideEvaluator]", *, normalise: bool) -> None:
        sides = list(sides)
        if not sides:
            raise ValueError("ExpectedSide needs at least one background evaluator.")
        counts = {int(s.n_players) for s in sides}
        if len(counts) != 1:
            raise ValueError(f"every background evaluator must have the same players; got counts {sorted(counts)}.")
        self.sides = sides
        self.normalise = bool(normalise)
        self.n_players = counts.pop()
        self.name = sides[0].name

    @property
    def neighbours(self) -> np.ndarray | None:
        """The players' neighbours (the backgrounds share the players)."""
        return self.sides[0].neighbours

    @property
    def first(self) -> SideEvaluator:
        """The first background's evaluator (the full image's raw embedding comes from it)."""
        return self.sides[0]

    @property
    def encoder_passes(self) -> int:
        """Masked images encoded over all backgrounds."""
        return int(sum(s.encoder_passes for s in self.sides))

    @property
    def encoder_seconds(self) -> float:
        """Seconds inside the encoder over all backgrounds."""
        return float(sum(s.encoder_seconds for s in self.sides))

    @property
    def calls(self) -> int:
        """Encoder calls over all backgrounds."""
        return int(sum(s.calls for s in self.sides))

    @property
    def dim(self) -> int | None:
        """Embedding dimension (None before the first encode)."""
        return self.sides[0].dim

    def embed(self, masks: CoalitionMatrix) -> FloatMatrix:
        """(m, d) mean over backgrounds of each mask's (normalised) embedding; full masks cost one pass."""
        from .scores import normalize_rows

        z = np.asarray(masks, dtype=bool)
        if z.ndim != 2 or z.shape[1] != self.n_players:
            raise ValueError(f"{self.name} masks must be a (m, {self.n_players}) boolean matrix; got shape {z.shape}.")
        if z.shape[0] == 0:
            raise ValueError(f"{self.name}: embed() of zero masks.")
        prep = normalize_rows if self.normalise else np.asarray
        full = z.all(axis=1)
        pieces: dict[str, np.ndarray] = {}
        if full.any():  # nothing is filled: one encode, whatever the background
            pieces["full"] = prep(self.sides[0].embed(z[full]))
        if (~full).any():
            pieces["part"] = sum(prep(side.embed(z[~full])) for side in self.sides) / len(self.sides)
        d = next(iter(pieces.values())).shape[1]
        out = np.empty((z.shape[0], d))
        if "full" in pieces:
            out[full] = pieces["full"]
        if "part" in pieces:
            out[~full] = pieces["part"]
        return out

    def table(self) -> FloatMatrix:
        """All 2^n mean embeddings in bitmask order."""
        return self.embed(all_coalitions(self.n_players))


class NormalisedSide:
    """A side evaluator whose embeddings are normalised (score space of cosine beside an :class:`ExpectedSide`)."""

    def __init__(self, inner: SideEvaluator) -> None:
        self.inner = inner
        self.n_players = inner.n_players
        self.name = inner.name

    encoder_passes = property(lambda self: self.inner.encoder_passes, doc="As the wrapped evaluator.")
    encoder_seconds = property(lambda self: self.inner.encoder_seconds, doc="As the wrapped evaluator.")
    calls = property(lambda self: self.inner.calls, doc="As the wrapped evaluator.")
    dim = property(lambda self: self.inner.dim, doc="As the wrapped evaluator.")
    neighbours = property(lambda self: getattr(self.inner, "neighbours", None), doc="As the wrapped evaluator.")

    def embed(self, masks: CoalitionMatrix) -> FloatMatrix:
        """Normalised embeddings of the masks."""
        from .scores import normalize_rows

        return normalize_rows(self.inner.embed(masks))

    def table(self) -> FloatMatrix:
        """All 2^n normalised embeddings in bitmask order."""
        return self.embed(all_coalitions(self.n_players))


__all__ = ["EmbeddingError", "ExpectedSide", "ImageSide", "NormalisedSide", "SideEvaluator"]
