"""Closed forms of the grey-box methods of Hamilton et al. (search-CAM, search-GradCAM, SAM): pure numpy.

A grey-box encoder exposes, for one image, its last spatial feature map and the
*cell contributions* ``C`` (n, d): per-cell vectors in embedding space whose sum
is the embedding, ``e = sum_j C_j``, exactly for an encoder that pools the map
linearly (global average pooling, ``C_j = f_j / n``; or sum pooling then a linear
layer, ``C_j = W f_j``), approximately for others (an attention pool, a ViT's
class token: ``FeatureMaps.exact_pooling`` says which).

With zero masking of feature cells (a removed cell contributes nothing) the
score of a query vector ``q`` against the hit's kept cells S is the
*feature-cell game* ``v(S) = score(q, sum_{j in S} C_j)`` (:func:`feature_cell_game`).

* dot: ``v`` is additive, so the Shapley values are exactly ``phi_j = <q, C_j>``
  (:func:`search_cam`); the joint game ``v(S, T) = <sum_S Cq, sum_T Ch>`` is
  bilinear, so its order-2 Shapley-Taylor cross block is exactly
  ``<Cq_i, Ch_j>`` (:func:`search_activation_map`, SAM) and its singleton terms are 0.
* cosine: the normalisation ``1 / (|q| |sum_S C|)`` adds higher-order terms; the
  closed forms then freeze it at the full image (``phi_j = <q/|q|, C_j> / |e|``),
  which keeps efficiency (the values sum to the score) but is an approximation.
* search-GradCAM (:func:`search_gradcam`) weighs channels by the spatial mean of
  the score's gradient and applies a ReLU: on GAP + dot it is ``max(phi_j, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._typing import CoalitionMatrix, FloatMatrix, FloatVector

GREY_BOX_SCORES = ("cosine", "dot")
"""Metrics the closed forms handle (bilinear scores); distances need a black-box method."""


@dataclass(frozen=True)
class FeatureMaps:
    """What a grey-box encoder read from one model-space image (one forward pass).

    Attributes:
        cells: (h, w, d) cell contributions in embedding space: ``embedding ~= cells.sum((0, 1))``.
        embedding: (d,) the encoder's own embedding of the image (what ``encode`` returns).
        exact_pooling: True when ``embedding == cells.sum((0, 1))`` holds by construction
            (global average or sum pooling followed by linear maps only).
        pooling: how the encoder pools its map, in words (``"global average pooling"``, ...).
        activations: (h, w, c) the last spatial feature map itself (GradCAM's A), or None.
        gradients: (h, w, c) d score / d activations for the target the encoder was given, or None.
    """

    cells: np.ndarray
    embedding: np.ndarray
    exact_pooling: bool
    pooling: str
    activations: np.ndarray | None = None
    gradients: np.ndarray | None = None

    def __post_init__(self) -> None:
        cells = np.asarray(self.cells, dtype=np.float64)
        emb = np.asarray(self.embedding, dtype=np.float64).reshape(-1)
        if cells.ndim != 3 or cells.shape[2] != emb.shape[0]:
            raise ValueError(
                f"FeatureMaps.cells must be (h, w, d) with d = the embedding's {emb.shape[0]}; got shape {cells.shape}.")
        if not (np.isfinite(cells).all() and np.isfinite(emb).all()):
            raise ValueError("FeatureMaps: the encoder returned NaN or inf features; check the model's precision.")
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "embedding", emb)
        for name in ("activations", "gradients"):
            value = getattr(self, name)
            if value is not None:
                arr = np.asarray(value, dtype=np.float64)
                if arr.ndim != 3 or arr.shape[:2] != cells.shape[:2]:
                    raise ValueError(f"FeatureMaps.{name} must be (h, w, c) on the {cells.shape[:2]} grid; got {arr.shape}.")
                object.__setattr__(self, name, arr)

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w): rows and columns of feature cells."""
        return int(self.cells.shape[0]), int(self.cells.shape[1])

    @property
    def n_cells(self) -> int:
        """h * w: the players of the feature-cell game."""
        return int(self.cells.shape[0] * self.cells.shape[1])

    def flat_cells(self) -> FloatMatrix:
        """(n, d) cell contributions, row-major (cell k = row k // w, column k % w)."""
        return self.cells.reshape(self.n_cells, -1)

    def pooling_error(self) -> float:
        """|embedding - sum of cells| / |embedding| (0 for exact pooling, up to rounding)."""
        norm = float(np.linalg.norm(self.embedding))
        return float(np.linalg.norm(self.embedding - self.flat_cells().sum(axis=0)) / max(norm, 1e-300))


def check_grey_box_score(score: str, method: str) -> str:
    """``score`` if the closed forms handle it (cosine, dot), else a ValueError naming the black-box methods."""
    from ..scores import check_score

    metric = check_score(score)
    if metric not in GREY_BOX_SCORES:
        raise ValueError(
            f"method={method!r} has a closed form for the bilinear scores {GREY_BOX_SCORES} only; got score={metric!r}. "
            f"Use a black-box method (kernel-shap, exact, permutation at order 1; stratified, exact at order 2).")
    return metric


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else np.zeros_like(v)


def _cells(cells: np.ndarray, name: str) -> FloatMatrix:
    c = np.asarray(cells, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < 1:
        raise ValueError(f"{name} must be an (n, d) matrix of cell contributions; got shape {c.shape}.")
    return c


def search_cam(cells: np.ndarray, other: np.ndarray, score: str = "dot") -> FloatVector:
    """Search-CAM: each cell's share of the score against a fixed ``other`` vector.

    Args:
        cells: (n, d) cell contributions of the explained image (their sum is its embedding).
        other: (d,) the vector of the other end (the query when explaining the hit, and back).
        score: ``"dot"`` (exact Shapley values of the feature-cell game) or ``"cosine"``
            (normalisation frozen at the full image: an approximation that still sums to the score).

    Returns:
        (n,) values; they sum to ``score(other, cells.sum(0))``.

    Example:
        >>> c = np.array([[1.0, 0.0], [0.0, 2.0]])
        >>> search_cam(c, np.array([3.0, 1.0]), "dot")
        array([3., 2.])
    """
    c = _cells(cells, "cells")
    q = np.asarray(other, dtype=np.float64).reshape(-1)
    if q.shape[0] != c.shape[1]:
        raise ValueError(f"search_cam: cells have dimension {c.shape[1]} but the other vector {q.shape[0]}.")
    metric = check_grey_box_score(score, "search-cam")
    if metric == "dot":
        return c @ q
    total = float(np.linalg.norm(c.sum(axis=0)))
    return (c @ _unit(q)) / total if total > 0 else np.zeros(c.shape[0])


def search_activation_map(query_cells: np.ndarray, hit_cells: np.ndarray, score: str = "dot") -> FloatMatrix:
    """SAM: the (nq, nh) second-order map of query cells x hit cells.

    dot: ``<Cq_i, Ch_j>``, exactly the order-2 Shapley-Taylor cross block of the joint
    feature-cell game; cosine: divided by both full norms (frozen normalisation, an approximation).
    The entries sum to the score of the two full images.
    """
    cq, ch = _cells(query_cells, "query_cells"), _cells(hit_cells, "hit_cells")
    if cq.shape[1] != ch.shape[1]:
        raise ValueError(f"sam: query cells have dimension {cq.shape[1]} but hit cells {ch.shape[1]}.")
    metric = check_grey_box_score(score, "sam")
    cross = cq @ ch.T
    if metric == "cosine":
        norm = float(np.linalg.norm(cq.sum(axis=0)) * np.linalg.norm(ch.sum(axis=0)))
        cross = cross / norm if norm > 0 else np.zeros_like(cross)
    return cross


def search_gradcam(activations: np.ndarray, gradients: np.ndarray, *, relu: bool = True) -> FloatVector:
    """search-GradCAM: channels weighed by the spatial mean of the score's gradient, then a ReLU.

    Args:
        activations: (n, c) the last feature map, one row per cell.
        gradients: (n, c) d score / d activations.
        relu: keep only positive evidence (GradCAM's ReLU); False gives the signed map.

    Returns:
        (n,) ``relu(sum_c alpha_c A_jc)`` with ``alpha_c = sum_j dS/dA_jc / n`` (GradCAM's weights). On a
        GAP + dot encoder (or sum pooling + a linear layer) the signed map equals :func:`search_cam`.
    """
    a = _cells(activations, "activations")
    g = np.asarray(gradients, dtype=np.float64)
    if g.shape != a.shape:
        raise ValueError(f"search_gradcam: gradients {g.shape} must have the activations' shape {a.shape}.")
    alpha = g.mean(axis=0)
    signed = a @ alpha
    return np.maximum(signed, 0.0) if relu else signed


# ----------------------------------------------------------------------------- the feature-cell games


def feature_cell_embed(cells: np.ndarray) -> Callable[[CoalitionMatrix], FloatMatrix]:
    """Masks of cells -> pooled embeddings with zero masking (a removed cell contributes nothing): ``Z @ C``."""
    c = _cells(cells, "cells")

    def embed(masks: CoalitionMatrix) -> FloatMatrix:
        return np.asarray(masks, dtype=np.float64) @ c

    return embed


def feature_cell_game(cells: np.ndarray, other: np.ndarray, score: str = "dot") -> Callable[[CoalitionMatrix], FloatVector]:
    """The order-1 feature-cell game of one image against a fixed vector: ``v(S) = score(other, sum_S C)``."""
    from ..scores import score_matrix

    embed = feature_cell_embed(cells)
    q = np.asarray(other, dtype=np.float64).reshape(1, -1)
    metric = check_grey_box_score(score, "the feature-cell game")

    def value(masks: CoalitionMatrix) -> FloatVector:
        return score_matrix(embed(masks), q, metric)[:, 0]

    return value


def deviation(approx: np.ndarray, reference: np.ndarray) -> dict:
    """How far a closed-form map is from a reference map (same shape).

    Returns:
        ``{"spearman": rank correlation, "max_abs": largest |difference|, "relative_l2":
        |approx - reference| / |reference|}`` (floats; spearman NaN when a map is constant).
    """
    from ..metrics import spearman

    a = np.asarray(approx, dtype=np.float64).reshape(-1)
    b = np.asarray(reference, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"deviation: maps of {a.shape[0]} and {b.shape[0]} values cannot be compared.")
    ref = float(np.linalg.norm(b))
    both_vary = np.ptp(a) > 0 and np.ptp(b) > 0
    return {"spearman": float(spearman(a, b)) if both_vary else float("nan"),
            "max_abs": float(np.max(np.abs(a - b))) if a.size else 0.0,
            "relative_l2": float(np.linalg.norm(a - b) / ref) if ref > 0 else float(np.linalg.norm(a - b))}


__all__ = [
    "GREY_BOX_SCORES",
    "FeatureMaps",
    "check_grey_box_score",
    "deviation",
    "feature_cell_embed",
    "feature_cell_game",
    "search_activation_map",
    "search_cam",
    "search_gradcam",
]
