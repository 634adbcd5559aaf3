"""Tasks whose true attributions are known by construction: co-occurrence, redundancy, and their joint forms.

The digit scenes' similarity *should* come from shared digits, but what the trained CNN
really computes is only approximately that, and on easy pairs every method (the trivial
ones included) ranks shared digits first. Here the truth is exact instead: a
:class:`CellLogicEncoder` embeds a scene by boolean *features* of which grid cells hold a
digit, each feature an ``"and"`` (fires only when every listed digit is present: a
co-occurrence, a pure interaction) or an ``"or"`` (fires when any is present: redundant,
interchangeable digits), with positive weights. The embedding always has unit norm, so
under both cosine and dot the score is a known multilinear polynomial of the cell
indicators,

* a scene against the stored vector of its ideal scene (every feature firing):
  ``v(S) = sum_k w_k f_k(S) / W`` (:class:`SideTask`);
* a query scene against a hit scene, feature k of the query pairing with feature k of the
  hit: ``v(Sq, Sh) = sum_k w_k f_k(Sq) g_k(Sh) / W`` (:class:`JointTask`);

with ``W = sum_k w_k``. Its Möbius coefficients follow from the features by hand
(``and`` over T: one unanimity game u_T; ``or`` over T: ``sum_{R subset T, R nonempty}
(-1)^{|R|+1} u_R``) and every index follows from them in closed form
(:func:`shapley_from_moebius`: ``phi_i = sum_{T ni i} m(T) / |T|``;
:func:`shapley_taylor2_from_moebius`: singletons ``m({i})``, pairs ``sum_{T sup {i,j}}
m(T) / C(|T|, 2)``), never by enumerating coalitions. For example: an ``and`` of two digits
gives each half its weight (their singletons are 0, leaving either out loses all of it);
an ``or`` of two digits gives each half too (each alone scores the whole weight, leaving
one out loses nothing).

Removed cells become black (``baseline="constant:0,0,0"``, the scene background), so
removing a cell removes exactly its digit and the encoder's presence test reads the
coalition back from the pixels: the tasks run through the real pipeline of sides
(``qdrant_explain.sides``) with a real encoder object, and :class:`LogicGame` is the same
truth as a pure game on any number of players.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb
from typing import Sequence

import numpy as np

from qdrant_explain.explainers.encoder import Geometry, PreparedImage, prepare_image

from .scenes import CANVAS, GRID, Scene, make_scene

FEATURE_KINDS = ("and", "or")
"""What a :class:`CellFeature` computes over its cells: all present (``"and"``) or any present (``"or"``)."""

SIDE_TASKS = ("additive", "co-occurrence", "redundancy", "mixed")
"""Kinds of :func:`make_side_task` (and :func:`make_logic_game`)."""

JOINT_TASKS = ("additive", "co-occurrence", "redundancy", "mixed")
"""Kinds of :func:`make_joint_task`."""

PRESENCE_THRESHOLD = 32
"""A cell holds a digit when some pixel of it is brighter than this (digits peak at >= 178, the background is 0)."""

Moebius = dict
"""Möbius coefficients of a multilinear game: ``{frozenset(players): coefficient}`` (absent sets are 0)."""


# ----------------------------------------------------------------------------- features and their Möbius form


@dataclass(frozen=True)
class CellFeature:
    """One boolean feature of a scene: do all (``"and"``) or any (``"or"``) of ``cells`` hold a digit?

    Attributes:
        kind: one of :data:`FEATURE_KINDS`.
        cells: distinct player (cell) indices, at least one.
    """

    kind: str
    cells: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"CellFeature(kind=...) must be one of {FEATURE_KINDS}; got {self.kind!r}.")
        cells = tuple(int(c) for c in self.cells)
        if not cells or len(set(cells)) != len(cells) or min(cells) < 0:
            raise ValueError(
                f"CellFeature(cells=...) must list one or more distinct cell indices >= 0; got {self.cells!r}."
            )
        object.__setattr__(self, "cells", cells)

    def value(self, presence: np.ndarray) -> np.ndarray:
        """(m,) 0/1 floats of the feature for an (m, n) bool presence matrix (n > max(cells))."""
        p = np.asarray(presence, dtype=bool)[:, list(self.cells)]
        return (p.all(axis=1) if self.kind == "and" else p.any(axis=1)).astype(np.float64)

    def moebius(self) -> Moebius:
        """The feature as a sum of unanimity games (closed form: ``and`` one term, ``or`` inclusion-exclusion)."""
        if self.kind == "and":
            return {frozenset(self.cells): 1.0}
        out: Moebius = {}
        for mask in range(1, 2 ** len(self.cells)):
            subset = frozenset(c for b, c in enumerate(self.cells) if mask >> b & 1)
            out[subset] = (-1.0) ** (len(subset) + 1)
        return out


def _add(a: Moebius, b: Moebius, scale: float = 1.0) -> Moebius:
    out = dict(a)
    for key, coef in b.items():
        out[key] = out.get(key, 0.0) + scale * coef
    return out


def _product(a: Moebius, b: Moebius) -> Moebius:
    """Product of two multilinear 0/1 polynomials (u_S u_T = u_{S | T} for indicator variables)."""
    out: Moebius = {}
    for sa, ca in a.items():
        for sb, cb in b.items():
            key = sa | sb
            out[key] = out.get(key, 0.0) + ca * cb
    return out


def _shift(a: Moebius, offset: int) -> Moebius:
    return {frozenset(i + offset for i in key): coef for key, coef in a.items()}


def shapley_from_moebius(moebius: Moebius, n_players: int) -> np.ndarray:
    """(n,) Shapley values in closed form: each coefficient m(T) split evenly over the players of T."""
    out = np.zeros(n_players, dtype=np.float64)
    for key, coef in moebius.items():
        if key:
            out[list(key)] += coef / len(key)
    return out


def shapley_taylor2_from_moebius(moebius: Moebius, n_players: int) -> tuple[np.ndarray, np.ndarray]:
    """Order-2 Shapley-Taylor indices in closed form: ((n,) singletons m({i}), (n, n) pairs, zero diagonal).

    A pair {i, j} gets ``sum_{T sup {i, j}} m(T) / C(|T|, 2)`` (Sundararajan et al. 2020): every
    coefficient of order >= 2 split evenly over the pairs inside it.
    """
    single = np.zeros(n_players, dtype=np.float64)
    pairs = np.zeros((n_players, n_players), dtype=np.float64)
    for key, coef in moebius.items():
        members = sorted(key)
        if len(members) == 1:
            single[members[0]] += coef
        elif len(members) >= 2:
            share = coef / comb(len(members), 2)
            idx = np.asarray(members)
            pairs[np.ix_(idx, idx)] += share
    np.fill_diagonal(pairs, 0.0)
    return single, pairs


def game_value(moebius: Moebius, coalitions: np.ndarray) -> np.ndarray:
    """(m,) v(S) = sum_T m(T) [T subset S] for an (m, n) bool coalition matrix."""
    z = np.asarray(coalitions, dtype=bool)
    out = np.zeros(z.shape[0], dtype=np.float64)
    for key, coef in moebius.items():
        out += coef * (z[:, sorted(key)].all(axis=1) if key else 1.0)
    return out


def _check_weights(weights: Sequence[float], k: int, caller: str) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (k,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"{caller} needs one positive finite weight per feature ({k}); got {[float(x) for x in np.ravel(w)]!r}.")
    return w


def _features(features: Sequence[CellFeature], caller: str) -> tuple[CellFeature, ...]:
    feats = tuple(features)
    if not feats or not all(isinstance(f, CellFeature) for f in feats):
        raise ValueError(f"{caller} needs a non-empty sequence of CellFeature; got {features!r}.")
    return feats


def weighted_moebius(features: Sequence[CellFeature], weights: Sequence[float]) -> Moebius:
    """Möbius coefficients of ``sum_k w_k f_k / W`` (``W = sum_k w_k``)."""
    feats = _features(features, "weighted_moebius")
    w = _check_weights(weights, len(feats), "weighted_moebius")
    out: Moebius = {}
    for f, wk in zip(feats, w / w.sum()):
        out = _add(out, f.moebius(), wk)
    return out


# ----------------------------------------------------------------------------- the encoder


class CellLogicEncoder:
    """An encoder whose unit-norm embedding is a known boolean function of which grid cells hold a digit.

    ``encode`` reads each cell's presence from the pixels (some pixel brighter than
    ``threshold``) and returns ``[sqrt(w_k / W) f_k ..., filler]`` with the filler
    ``sqrt(1 - sum_k w_k f_k / W)`` in dimension ``K + slot``, so every embedding has norm 1.
    Two encoders with the same features and weights but different slots (0 for the
    query, 1 for the hit) score ``sum_k w_k f_k(q) g_k(h) / W`` under cosine and dot
    alike (the fillers never meet); against :meth:`ideal_vector` the score is
    ``sum_k w_k f_k / W``.

    Args:
        features: the K features (:class:`CellFeature`, cells in ``0 .. grid^2 - 1``).
        weights: K positive weights (default all 1).
        slot: 0 or 1, where the filler goes.
        grid: cells per side of the scenes.
        canvas: scene side in pixels (the model input size).
        threshold: presence threshold (:data:`PRESENCE_THRESHOLD`).

    Attributes:
        name: ``"cell-logic"`` plus the features, e.g. ``"cell-logic[and(0,4)|or(2,7)]"``.
        input_size: (canvas, canvas).
        dim: K + 2.
    """

    def __init__(
        self,
        features: Sequence[CellFeature],
        weights: Sequence[float] | None = None,
        *,
        slot: int = 0,
        grid: int = GRID,
        canvas: int = CANVAS,
        threshold: int = PRESENCE_THRESHOLD,
    ) -> None:
        self.features = _features(features, "CellLogicEncoder")
        k = len(self.features)
        self.weights = _check_weights(np.ones(k) if weights is None else weights, k, "CellLogicEncoder")
        if slot not in (0, 1):
            raise ValueError(f"CellLogicEncoder(slot=...) must be 0 (query) or 1 (hit); got {slot!r}.")
        if canvas % grid:
            raise ValueError(f"CellLogicEncoder needs canvas divisible by grid; got canvas={canvas}, grid={grid}.")
        top = max(c for f in self.features for c in f.cells)
        if top >= grid * grid:
            raise ValueError(f"CellLogicEncoder: cell {top} is outside the {grid} x {grid} grid (cells 0..{grid * grid - 1}).")
        self.slot, self.grid, self.threshold = int(slot), int(grid), int(threshold)
        self.input_size = (int(canvas), int(canvas))
        self.dim = k + 2
        self.name = "cell-logic[" + "|".join(f"{f.kind}({','.join(map(str, f.cells))})" for f in self.features) + "]"

    def prepare(self, image: object) -> PreparedImage:
        """Identity for a canvas-sized uint8 scene; otherwise resize and centre-crop."""
        arr = np.asarray(image) if not hasattr(image, "mode") else image
        if isinstance(arr, np.ndarray) and arr.ndim == 3 and arr.shape[:2] == self.input_size and arr.dtype == np.uint8:
            h, w = self.input_size
            return PreparedImage(np.ascontiguousarray(arr[:, :, :3]), Geometry((h, w), (h, w), (h, w), (0, 0)))
        return prepare_image(image, self.input_size)

    def presence(self, pixels: np.ndarray) -> np.ndarray:
        """(m, grid^2) bool: which cells of an (m, H, W, 3) uint8 batch hold a digit."""
        batch = np.asarray(pixels)
        if batch.ndim != 4 or batch.shape[1:3] != self.input_size or batch.shape[3] != 3:
            raise ValueError(
                f"{self.name}.encode expects an (m, {self.input_size[0]}, {self.input_size[1]}, 3) uint8 batch; "
                f"got shape {batch.shape}."
            )
        g, side = self.grid, self.input_size[0] // self.grid
        peak = batch.max(axis=3).reshape(batch.shape[0], g, side, g, side).max(axis=(2, 4))
        return peak.reshape(batch.shape[0], g * g) > self.threshold

    def embed_presence(self, presence: np.ndarray) -> np.ndarray:
        """(m, K + 2) unit-norm embeddings of an (m, grid^2) bool presence matrix (the pure-game form)."""
        p = np.asarray(presence, dtype=bool)
        share = self.weights / self.weights.sum()
        f = np.stack([feat.value(p) for feat in self.features], axis=1)
        out = np.zeros((p.shape[0], self.dim), dtype=np.float64)
        out[:, : len(self.features)] = np.sqrt(share) * f
        out[:, len(self.features) + self.slot] = np.sqrt(np.clip(1.0 - f @ share, 0.0, None))
        return out

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Embed an (m, H, W, 3) uint8 batch into (m, K + 2) float64, unit norm."""
        return self.embed_presence(self.presence(pixels))

    def ideal_vector(self) -> np.ndarray:
        """(K + 2,) the stored vector of a scene where every feature fires and the filler is 0."""
        out = np.zeros(self.dim, dtype=np.float64)
        out[: len(self.features)] = np.sqrt(self.weights / self.weights.sum())
        return out

    def moebius(self) -> Moebius:
        """Möbius coefficients of ``S -> score(encode(scene with cells S), ideal_vector())`` (cells as players)."""
        return weighted_moebius(self.features, self.weights)

    def __repr__(self) -> str:
        return f"CellLogicEncoder(name={self.name!r}, slot={self.slot}, dim={self.dim})"


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class SideTask:
    """Order 1: a scene against the stored vector of its ideal scene, truth known in closed form.

    Attributes:
        kind: one of :data:`SIDE_TASKS`.
        scene: the query scene (players: its ``grid^2`` cells, ``scene.cell_labels()``).
        encoder: the :class:`CellLogicEncoder` (slot 0).
        vector: the stored hit vector (``encoder.ideal_vector()``).
        roles: which cells play which part (e.g. ``{"together": (a, b), "alone": (c,)}``).
    """

    kind: str
    scene: Scene
    encoder: CellLogicEncoder
    vector: np.ndarray
    roles: dict = field(default_factory=dict)

    @property
    def n_players(self) -> int:
        """grid^2 cells."""
        return self.scene.grid**2

    def moebius(self) -> Moebius:
        """Möbius coefficients of the score over the cells (empty cells never appear)."""
        return self.encoder.moebius()

    def shapley(self) -> np.ndarray:
        """(n,) the true Shapley values (closed form)."""
        return shapley_from_moebius(self.moebius(), self.n_players)

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        """(m,) the true score of each coalition of cells (closed form)."""
        return game_value(self.moebius(), coalitions)


@dataclass(frozen=True)
class JointTruth:
    """Closed-form order-2 Shapley-Taylor indices of a joint task (fields as ``JointExplanation``'s)."""

    cross: np.ndarray
    query_values: np.ndarray
    hit_values: np.ndarray
    query_interactions: np.ndarray
    hit_interactions: np.ndarray
    query_side_values: np.ndarray
    hit_side_values: np.ndarray
    base_value: float
    full_value: float


@dataclass(frozen=True)
class JointTask:
    """Order 2: a query scene against a hit scene, query feature k pairing with hit feature k.

    Attributes:
        kind: one of :data:`JOINT_TASKS`.
        query, hit: the scenes (players: their cells; query cells first in the joint game).
        query_encoder, hit_encoder: :class:`CellLogicEncoder` with the same weights, slots 0 and 1.
        roles: which cells play which part.
    """

    kind: str
    query: Scene
    hit: Scene
    query_encoder: CellLogicEncoder
    hit_encoder: CellLogicEncoder
    roles: dict = field(default_factory=dict)

    @property
    def n_players(self) -> tuple[int, int]:
        """(nq, nh) cells of each scene."""
        return self.query.grid**2, self.hit.grid**2

    def moebius(self) -> Moebius:
        """Möbius coefficients of ``v(Sq, Sh)`` over the nq + nh players (query cells first)."""
        nq, _ = self.n_players
        w = self.query_encoder.weights
        out: Moebius = {}
        for fq, fh, share in zip(self.query_encoder.features, self.hit_encoder.features, w / w.sum()):
            out = _add(out, _product(fq.moebius(), _shift(fh.moebius(), nq)), share)
        return out

    def truth(self) -> JointTruth:
        """The closed-form indices, from :meth:`moebius` (never from enumerated coalitions)."""
        nq, nh = self.n_players
        m = self.moebius()
        single, pairs = shapley_taylor2_from_moebius(m, nq + nh)
        # side games: the other side complete, so a joint term u_{T | U} becomes u_T (U inside the full side)
        q_side: Moebius = {}
        h_side: Moebius = {}
        for key, coef in m.items():
            q_part = frozenset(i for i in key if i < nq)
            h_part = frozenset(i - nq for i in key if i >= nq)
            q_side[q_part] = q_side.get(q_part, 0.0) + coef
            h_side[h_part] = h_side.get(h_part, 0.0) + coef
        full = np.ones((1, nq + nh), dtype=bool)
        return JointTruth(
            cross=pairs[:nq, nq:].copy(),
            query_values=single[:nq].copy(),
            hit_values=single[nq:].copy(),
            query_interactions=pairs[:nq, :nq].copy(),
            hit_interactions=pairs[nq:, nq:].copy(),
            query_side_values=shapley_from_moebius(q_side, nq),
            hit_side_values=shapley_from_moebius(h_side, nh),
            base_value=float(m.get(frozenset(), 0.0)),
            full_value=float(game_value(m, full)[0]),
        )

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        """(m,) the true score of each joint coalition (query cells, then hit cells)."""
        return game_value(self.moebius(), coalitions)


def _check_kind(kind: str, allowed: tuple[str, ...], caller: str) -> str:
    if kind not in allowed:
        raise ValueError(f"{caller}(kind=...) must be one of {allowed}; got {kind!r}.")
    return kind


def _side_features(kind: str, cells: Sequence[int]) -> tuple[list[CellFeature], dict]:
    """The features of a side task on four distinct cells a, b, c, d."""
    a, b, c, d = (int(x) for x in cells[:4])
    if kind == "additive":
        feats = [CellFeature("and", (a,)), CellFeature("and", (b,)), CellFeature("and", (c,))]
        roles = {"alone": (a, b, c)}
    elif kind == "co-occurrence":
        feats = [CellFeature("and", (a, b)), CellFeature("and", (c,))]
        roles = {"together": (a, b), "alone": (c,)}
    elif kind == "redundancy":
        feats = [CellFeature("or", (a, b)), CellFeature("and", (c,))]
        roles = {"redundant": (a, b), "alone": (c,)}
    else:  # mixed
        feats = [CellFeature("and", (a, b)), CellFeature("or", (b, c, d)), CellFeature("and", (d,))]
        roles = {"together": (a, b), "redundant": (b, c, d), "alone": (d,)}
    return feats, roles


def make_side_task(
    kind: str,
    rng: np.random.Generator,
    *,
    screened: bool = True,
    split: str = "test",
    digits: int = 5,
) -> SideTask:
    """One order-1 task: a fresh scene of ``digits`` digits and features over four of its digit cells.

    Kinds (:data:`SIDE_TASKS`; a, b, c, d are distinct digit cells, weights drawn in [0.5, 1.5]):

    * ``"additive"`` (control): ``and(a)``, ``and(b)``, ``and(c)``: every method, the trivial
      ones included, should get it right.
    * ``"co-occurrence"``: ``and(a, b)`` (scores only when both digits are present) + ``and(c)``;
      truth a = b = w1 / 2W, singleton gives them 0, leave-one-out w1 / W each.
    * ``"redundancy"``: ``or(a, b)`` (either digit suffices) + ``and(c)``; truth a = b = w1 / 2W,
      singleton gives them w1 / W each, leave-one-out 0.
    * ``"mixed"``: ``and(a, b)`` + ``or(b, c, d)`` + ``and(d)``.

    Other digit cells are distractors (true value 0), empty cells too.

    Args:
        kind: the task kind.
        rng: all randomness (scene, roles, weights).
        screened, split: as :func:`~.scenes.make_scene`.
        digits: digits in the scene, 4 .. 9.

    Returns:
        :class:`SideTask`.

    Raises:
        ValueError: unknown ``kind`` or ``digits`` out of range.
    """
    _check_kind(kind, SIDE_TASKS, "make_side_task")
    if not 4 <= int(digits) <= 9:
        raise ValueError(f"make_side_task(digits=...) needs 4 to 9 digits (four play roles); got {digits!r}.")
    scene = make_scene(rng, k=int(digits), split=split, screened=screened)
    cells = [int(c) for c in rng.permutation(scene.cells)]
    feats, roles = _side_features(kind, cells)
    weights = rng.uniform(0.5, 1.5, size=len(feats))
    enc = CellLogicEncoder(feats, weights, slot=0, grid=scene.grid, canvas=scene.image.shape[0])
    return SideTask(kind=kind, scene=scene, encoder=enc, vector=enc.ideal_vector(), roles=roles)


def _joint_features(kind: str, q: Sequence[int], h: Sequence[int]) -> tuple[list, list, dict]:
    a1, a2, a3, a4 = (int(x) for x in q[:4])
    b1, b2, b3, b4 = (int(x) for x in h[:4])
    A, O = (lambda *c: CellFeature("and", c)), (lambda *c: CellFeature("or", c))  # noqa: E731
    if kind == "additive":
        pairs = [(A(a1), A(b1)), (A(a2), A(b2))]
        roles = {"pairs": ((a1, b1), (a2, b2))}
    elif kind == "co-occurrence":
        pairs = [(A(a1, a2), A(b1)), (A(a3), A(b2))]
        roles = {"together": ((a1, a2), b1), "pairs": ((a3, b2),)}
    elif kind == "redundancy":
        pairs = [(A(a1), O(b1, b2)), (A(a3), A(b3))]
        roles = {"redundant": (a1, (b1, b2)), "pairs": ((a3, b3),)}
    else:  # mixed
        pairs = [(A(a1, a2), O(b1, b2)), (O(a3, a4), A(b3)), (A(a4), A(b4))]
        roles = {"together": ((a1, a2), (b1, b2)), "redundant": ((a3, a4), b3), "pairs": ((a4, b4),)}
    return [p[0] for p in pairs], [p[1] for p in pairs], roles


def make_joint_task(
    kind: str,
    rng: np.random.Generator,
    *,
    screened: bool = True,
    split: str = "test",
    digits: int = 5,
) -> JointTask:
    """One order-2 task: a query and a hit scene of ``digits`` digits each, paired features over their cells.

    Kinds (:data:`JOINT_TASKS`; a1..a4 query digit cells, b1..b4 hit digit cells, weights in [0.5, 1.5]):

    * ``"additive"`` (control): ``and(a1) x and(b1)``, ``and(a2) x and(b2)``: pairs that score alone.
    * ``"co-occurrence"``: ``and(a1, a2) x and(b1)`` (the hit digit matches only the two query digits
      together) + ``and(a3) x and(b2)``; truth cross(a1, b1) = cross(a2, b1) = w1 / 3W; the pair
      singleton gives 0, pair leave-one-out (sbsm) w1 / W.
    * ``"redundancy"``: ``and(a1) x or(b1, b2)`` (redundant partners in the hit) + ``and(a3) x and(b3)``;
      truth cross(a1, b1) = cross(a1, b2) = 2 w1 / 3W; the pair singleton gives w1 / W, sbsm 0.
    * ``"mixed"``: ``and(a1, a2) x or(b1, b2)`` + ``or(a3, a4) x and(b3)`` + ``and(a4) x and(b4)``.

    Args, Returns, Raises: as :func:`make_side_task` (returns a :class:`JointTask`).
    """
    _check_kind(kind, JOINT_TASKS, "make_joint_task")
    if not 4 <= int(digits) <= 9:
        raise ValueError(f"make_joint_task(digits=...) needs 4 to 9 digits per scene; got {digits!r}.")
    query = make_scene(rng, k=int(digits), split=split, screened=screened)
    hit = make_scene(rng, k=int(digits), split=split, screened=screened)
    fq, fh, roles = _joint_features(kind, [int(c) for c in rng.permutation(query.cells)],
                                    [int(c) for c in rng.permutation(hit.cells)])
    weights = rng.uniform(0.5, 1.5, size=len(fq))
    canvas = query.image.shape[0]
    return JointTask(
        kind=kind,
        query=query,
        hit=hit,
        query_encoder=CellLogicEncoder(fq, weights, slot=0, grid=query.grid, canvas=canvas),
        hit_encoder=CellLogicEncoder(fh, weights, slot=1, grid=hit.grid, canvas=canvas),
        roles=roles,
    )


# ----------------------------------------------------------------------------- pure games


@dataclass(frozen=True)
class LogicGame:
    """The same truth as a pure game on ``n_players``: ``v(S) = sum_k w_k f_k(S) / W``.

    Callable on an (m, n) bool coalition matrix (a value function for ``explain_game``);
    :meth:`shapley` and :meth:`shapley_taylor2` give the closed-form truth.
    """

    kind: str
    n_players: int
    features: tuple[CellFeature, ...]
    weights: np.ndarray
    roles: dict = field(default_factory=dict)

    def moebius(self) -> Moebius:
        """Möbius coefficients of the game."""
        return weighted_moebius(self.features, self.weights)

    def __call__(self, coalitions: np.ndarray) -> np.ndarray:
        z = np.asarray(coalitions, dtype=bool)
        if z.ndim != 2 or z.shape[1] != self.n_players:
            raise ValueError(f"LogicGame expects a (m, {self.n_players}) coalition matrix; got shape {z.shape}.")
        share = self.weights / self.weights.sum()
        return sum(s * f.value(z) for f, s in zip(self.features, share))

    def shapley(self) -> np.ndarray:
        """(n,) true Shapley values (closed form)."""
        return shapley_from_moebius(self.moebius(), self.n_players)

    def shapley_taylor2(self) -> tuple[np.ndarray, np.ndarray]:
        """True order-2 Shapley-Taylor indices ((n,) singletons, (n, n) pairs), closed form."""
        return shapley_taylor2_from_moebius(self.moebius(), self.n_players)


def make_logic_game(kind: str, rng: np.random.Generator, *, n_players: int = 12, terms: int = 3) -> LogicGame:
    """A pure game of ``terms`` features over random disjoint player groups (the rest are null players).

    ``"additive"``: singleton features; ``"co-occurrence"``: ``and`` over groups of 2-3 players;
    ``"redundancy"``: ``or`` over groups of 2-3; ``"mixed"``: a random kind per feature. Weights in [0.5, 1.5].

    Raises:
        ValueError: unknown ``kind``, or too few players for the groups.
    """
    _check_kind(kind, SIDE_TASKS, "make_logic_game")
    sizes = [1] * terms if kind == "additive" else [int(s) for s in rng.integers(2, 4, size=terms)]
    if sum(sizes) > n_players:
        raise ValueError(f"make_logic_game needs n_players >= {sum(sizes)} for {terms} groups; got {n_players}.")
    order = [int(i) for i in rng.permutation(n_players)]
    feats, start = [], 0
    for size in sizes:
        group = tuple(order[start : start + size])
        start += size
        if kind == "additive" or kind == "co-occurrence":
            fkind = "and"
        elif kind == "redundancy":
            fkind = "or"
        else:
            fkind = str(rng.choice(FEATURE_KINDS))
        feats.append(CellFeature(fkind, group))
    return LogicGame(kind=kind, n_players=int(n_players), features=tuple(feats),
                     weights=rng.uniform(0.5, 1.5, size=terms), roles={"groups": tuple(f.cells for f in feats)})


__all__ = [
    "FEATURE_KINDS",
    "JOINT_TASKS",
    "PRESENCE_THRESHOLD",
    "SIDE_TASKS",
    "CellFeature",
    "CellLogicEncoder",
    "JointTask",
    "JointTruth",
    "LogicGame",
    "SideTask",
    "game_value",
    "make_joint_task",
    "make_logic_game",
    "make_side_task",
    "shapley_from_moebius",
    "shapley_taylor2_from_moebius",
    "weighted_moebius",
]
