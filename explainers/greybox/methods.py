"""The grey-box methods as registered estimators: ``search-cam``, ``search-gradcam`` (kind ``"side"``) and
``sam`` (kind ``"joint"``).

They are in the estimator registry so that the vocabulary (``list_methods``), the
CLI's ``--method`` choices and :func:`qdrant_explain.sides.explain_sides` find them,
but they are not ask/tell samplers: they read an encoder's feature maps
(:class:`~.maps.FeatureMaps`) instead of evaluating coalitions, so ``plan`` /
``estimate`` refuse with a message that says what to do. Each result says
whether it is exactly the Shapley (Shapley-Taylor) value of the feature-cell game
(global average / sum pooling, dot score, zero masking of feature cells) or an
approximation, and how far it measured from that game's Shapley values.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..estimators.base import Estimator, Plan, registered_estimators
from ..joint.base import JointEstimator
from ..result import Explanation
from .maps import (
    FeatureMaps,
    check_grey_box_score,
    deviation,
    feature_cell_embed,
    feature_cell_game,
    search_activation_map,
    search_cam,
    search_gradcam,
)

REFERENCE_BUDGET = 2048
"""Coalitions of the feature-cell game used to measure a map's deviation when exact enumeration is too large.
The game costs no encoder pass (sums of cell vectors), so this is milliseconds."""

BLACK_BOX_HINT = ("use a black-box method instead (order 1: kernel-shap, exact, permutation, occlusion, lime; "
                  "order 2: stratified, exact), which needs only encode()")
"""What to do when an encoder has no readable feature maps."""


def is_grey_box(method: object, kind: str | None = None) -> bool:
    """Whether ``method`` names a registered grey-box method (of ``kind``, or of any kind)."""
    kinds = ("side", "joint") if kind is None else (kind,)
    for k in kinds:
        cls = registered_estimators(k).get(method) if isinstance(method, str) else None
        if cls is not None and getattr(cls, "grey_box", False):
            return True
    return False


def why_not_exact(maps: tuple[FeatureMaps, ...], score: str, *, relu: bool = False) -> list[str]:
    """The reasons a closed form is only an approximation of the feature-cell game's Shapley values ([]: exact)."""
    reasons = []
    if score == "cosine":
        reasons.append("cosine: the normalisation adds higher-order terms (frozen at the full image here)")
    for m in maps:
        if not m.exact_pooling:
            reasons.append(f"{m.pooling}: the embedding is not a linear pooling of the cells "
                           f"(cells sum to it within {m.pooling_error():.1%})")
            break
    if relu:
        reasons.append("ReLU: GradCAM drops negative evidence")
    return reasons


def _provenance(reasons: list[str], maps: tuple[FeatureMaps, ...], reference: dict) -> dict:
    return {"grey_box": True, "exact_shapley": not reasons,
            "approximation": "; ".join(reasons) if reasons else None,
            "feature_grid": [list(m.grid) for m in maps], "pooling": maps[0].pooling,
            "pooling_error": max(m.pooling_error() for m in maps),
            "feature_game": reference}


class GreyBoxMethod(Estimator, register=False):
    """Base of the order-1 grey-box methods: :meth:`explain` maps one side's :class:`FeatureMaps` to values.

    Class attributes: ``grey_box`` (True: the pipeline reads feature maps instead of
    masking), ``needs_gradients`` (the encoder must also return d score / d features),
    ``feature_game_exact`` (the scores at which the map is exactly the Shapley value of the
    feature-cell game of a linearly pooled encoder; the registry contract test checks the claim).

    Args:
        order: must be 1.
        reference_budget: coalitions of the feature-cell game used to measure the deviation
            (exact enumeration when 2^n is not larger; 0: do not measure, ``meta["feature_game"]`` None).
    """

    grey_box: ClassVar[bool] = True
    needs_gradients: ClassVar[bool] = False
    feature_game_exact: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[tuple[str, ...]] = ("side",)
    orders: ClassVar[tuple[int, ...]] = (1,)

    def __init__(self, *, order: int = 1, reference_budget: int = REFERENCE_BUDGET) -> None:
        self.order = order
        self.reference_budget = reference_budget

    def minimum_budget(self, n_players: int) -> int:
        """No coalition is evaluated: the closed form costs one forward (and backward) pass per image."""
        return 1

    def plan(self, n_players: int, budget: int | None, rng: np.random.Generator) -> Plan:
        """Grey-box methods evaluate no coalitions: refuse, saying what to call instead."""
        raise TypeError(
            f"method={self.name!r} is a grey-box method: it reads an encoder's feature maps, not a coalition game. "
            f"Call explain_pair(query, hit, encoder, method={self.name!r}) with a torch encoder that has "
            f"feature_maps (efficientnet-lite0, clip:...), or {BLACK_BOX_HINT}.")

    def solve(self, plan: Plan, values: Any) -> Explanation:
        """See :meth:`plan`."""
        return self.plan(plan.n_players, plan.budget, np.random.default_rng())

    def _map(self, maps: FeatureMaps, others: np.ndarray, weights: np.ndarray, score: str) -> np.ndarray:
        raise NotImplementedError

    def _reasons(self, maps: FeatureMaps, score: str) -> list[str]:
        return why_not_exact((maps,), score)

    def explain(self, maps: FeatureMaps, other: np.ndarray, *, score: str, weights: np.ndarray | None = None) -> Explanation:
        """The map of one side against the other end's fixed vector(s), with its provenance.

        Args:
            maps: the explained image's feature maps (with gradients for search-GradCAM, computed
                for the same ``other`` and ``weights``).
            other: (d,) the fixed vector of the other end, or (k, d) vectors whose scores the game
                combines with ``weights`` (a difference: (+1, -1)).
            score: ``"cosine"`` or ``"dot"``.
            weights: (k,) weights of the k scores (None: ones).

        Returns:
            An :class:`Explanation` over the h * w feature cells (row-major): ``base_value`` 0 (every
            cell zeroed), ``full_value`` the score of the two embeddings, ``estimated`` True unless exact,
            ``stderr`` zeros when exact, else None; ``meta`` says whether the map is the exact Shapley
            value of the feature-cell game, why not, and the measured deviation from it.
        """
        from ..api import explain_game
        from ..scores import score_matrix

        metric = check_grey_box_score(score, self.name)
        others = np.atleast_2d(np.asarray(other, dtype=np.float64))
        w = np.ones(others.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != others.shape[0] or others.shape[1] != maps.embedding.shape[0]:
            raise ValueError(f"{self.name}: {others.shape[0]} vectors of dimension {others.shape[1]} with {w.shape[0]} "
                             f"weights for a {maps.embedding.shape[0]}-d image; give (k, d) vectors and k weights.")
        values = np.asarray(self._map(maps, others, w, metric), dtype=np.float64)
        n = maps.n_cells
        reference = None
        if self.reference_budget:
            games = [feature_cell_game(maps.flat_cells(), v, metric) for v in others]
            exact = 2**n <= self.reference_budget
            ref = explain_game(lambda z: sum(wk * g(z) for wk, g in zip(w, games)), n,
                               method="exact" if exact else "kernel-shap",
                               budget=None if exact else max(self.reference_budget, 2 * n + 2), seed=0)
            reference = {"method": ref.method, "n_evaluations": int(ref.n_evaluations), **deviation(values, ref.values)}
        reasons = self._reasons(maps, metric)
        full = float(score_matrix(maps.embedding[None], others, metric)[0] @ w)
        return Explanation(values=values, interactions=None, base_value=0.0, full_value=full, method=self.name,
                           order=1, n_evaluations=0, estimated=bool(reasons), budget=None,
                           meta=_provenance(reasons, (maps,), reference),
                           stderr=None if reasons else np.zeros(n))


class SearchCAM(GreyBoxMethod):
    """Search-CAM (Hamilton et al.): ``phi_j = <q, C_j>`` (dot), normalised at the full image (cosine).

    Exact Shapley values of the feature-cell game for GAP (or sum) pooling and the dot score.
    """

    name = "search-cam"
    feature_game_exact = ("dot",)

    def _map(self, maps: FeatureMaps, others: np.ndarray, weights: np.ndarray, score: str) -> np.ndarray:
        return sum(w * search_cam(maps.flat_cells(), v, score) for w, v in zip(weights, others))


class SearchGradCAM(GreyBoxMethod):
    """search-GradCAM: channels weighed by the spatial mean of d score / d feature map, then a ReLU.

    Needs gradients (one backward pass through the encoder's pooling head per image). On GAP + dot
    it equals ``max(search-cam, 0)``: never exact Shapley values, because of the ReLU.
    """

    name = "search-gradcam"
    needs_gradients = True

    def _map(self, maps: FeatureMaps, others: np.ndarray, weights: np.ndarray, score: str) -> np.ndarray:
        if maps.activations is None or maps.gradients is None:
            raise ValueError("search-gradcam needs the feature map's activations and gradients; the encoder "
                             "returned none (read them with gradients for the other end's vector).")
        n = maps.n_cells
        return search_gradcam(maps.activations.reshape(n, -1), maps.gradients.reshape(n, -1))

    def _reasons(self, maps: FeatureMaps, score: str) -> list[str]:
        return why_not_exact((maps,), score, relu=True)


class SAM(JointEstimator):
    """Second-order search activation map (SAM): ``<Cq_i, Ch_j>``, query cells x hit cells, in one pass per image.

    Exactly the order-2 Shapley-Taylor cross block of the joint feature-cell game for GAP (or sum) pooling
    and the dot score (whose singleton terms and within-side pairs are then zero); with cosine, or
    a non-linear pooling, an approximation (the normalisation frozen at the full images).

    Args:
        order: must be 2.
        reference_budget: encoder-free passes of the joint feature-cell game used to measure the deviation
            of the cross block (exact when 2^nq + 2^nh is not larger, else the stratified sampler); 0 (the
            default): do not measure (7 x 7 cells a side take seconds: ``benchmarks/greybox.py`` measures it).
    """

    name = "sam"
    grey_box: ClassVar[bool] = True
    needs_gradients: ClassVar[bool] = False
    feature_game_exact: ClassVar[tuple[str, ...]] = ("dot",)

    def __init__(self, *, order: int = 2, reference_budget: int = 0) -> None:
        self.order = order
        self.reference_budget = reference_budget

    def minimum_budget(self, n_players: tuple[int, int]) -> int:  # type: ignore[override]
        """No coalition is evaluated: one forward pass per image."""
        return 1

    def default_budget(self, n_players: tuple[int, int]) -> int:  # type: ignore[override]
        """Grey-box: no budget is spent (1)."""
        return 1

    def estimate(self, query, hit, *, score, budget, rng):  # type: ignore[override]
        """SAM reads feature maps, not masked encodes: refuse, saying what to call instead."""
        raise TypeError(
            "method='sam' is a grey-box method: it reads the encoder's feature maps, not masked images. Call "
            "explain_pair(query, hit, encoder, order=2, method='sam') with a torch encoder that has feature_maps "
            f"(efficientnet-lite0, clip:...), or {BLACK_BOX_HINT}.")

    def explain(self, query: FeatureMaps, hit: FeatureMaps, *, score: str) -> dict:
        """The fields of a :class:`~..joint.result.JointExplanation` (as ``JointEstimator.estimate`` returns them).

        ``cross`` is SAM; the singleton terms are 0; ``query_side_values`` / ``hit_side_values`` are
        search-CAM of each side against the other full embedding (heatmap-ready); the within-side
        pairs are zeros when exact (they vanish for a bilinear game) and None otherwise.
        """
        from ..joint import explain_joint
        from ..scores import score_matrix

        metric = check_grey_box_score(score, self.name)
        cq, ch = query.flat_cells(), hit.flat_cells()
        nq, nh = cq.shape[0], ch.shape[0]
        cross = search_activation_map(cq, ch, metric)
        reasons = why_not_exact((query, hit), metric)
        reference = None
        if self.reference_budget:
            planned = min(self.reference_budget, 2**nq + 2**nh)
            ref = explain_joint(feature_cell_embed(cq), feature_cell_embed(ch), nq, nh, score=metric, method="auto",
                                budget=max(planned, _joint_minimum(nq, nh)), seed=0)
            reference = {"method": ref.method, "n_evaluations": int(ref.n_evaluations), **deviation(cross, ref.cross)}
        exact = not reasons
        zeros = (np.zeros((nq, nq)), np.zeros((nh, nh))) if exact else (None, None)
        full = float(score_matrix(query.embedding[None], hit.embedding[None], metric)[0, 0])
        return dict(
            cross=cross, query_values=np.zeros(nq), hit_values=np.zeros(nh),
            query_interactions=zeros[0], hit_interactions=zeros[1],
            query_side_values=search_cam(cq, hit.embedding, metric), hit_side_values=search_cam(ch, query.embedding, metric),
            base_value=0.0, full_value=full, n_evaluations=0, estimated=not exact, budget=None,
            meta=_provenance(reasons, (query, hit), reference),
            **({"cross_stderr": np.zeros((nq, nh)), "query_values_stderr": np.zeros(nq), "hit_values_stderr": np.zeros(nh),
                "query_side_values_stderr": np.zeros(nq), "hit_side_values_stderr": np.zeros(nh)} if exact else {}),
        )


def _joint_minimum(nq: int, nh: int) -> int:
    from ..vocabulary import exact_cost
    from ..joint.stratified import stratified_minimum_budget

    return min(exact_cost((nq, nh)), stratified_minimum_budget(nq, nh))


__all__ = ["BLACK_BOX_HINT", "GreyBoxMethod", "REFERENCE_BUDGET", "SAM", "SearchCAM", "SearchGradCAM",
           "is_grey_box", "why_not_exact"]
