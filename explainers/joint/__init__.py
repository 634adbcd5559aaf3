"""Joint (query x hit) games with factorised evaluation: exact and sampled order-2 indices.

The joint game has players Q (query regions) and H (hit regions) and value
``v(A u B) = score(e_q(A), e_h(B))`` where ``e_q(A)`` embeds the query with only
the regions in A kept. Its cost is the number of *distinct* query masks plus
distinct hit masks encoded: any set of joint coalitions is evaluated by
encoding its query masks and hit masks once and scoring every combination with
one matrix product (:func:`~.scores.score_matrix`).

Modules: :mod:`.result` (:class:`JointExplanation`), :mod:`.base` (the joint
estimator contract), :mod:`.exact` (exact, factorised), :mod:`.design`
(context weights, stratified masks per side), :mod:`.control_variate`
(:class:`SideModel`), :mod:`.kernel_correction`, :mod:`.stratified` (the sampler) and :mod:`.api`
(:func:`explain_joint`). The methods are estimators of kind ``"joint"`` in the
one registry (:func:`~qdrant_explain.explainers.vocabulary.list_methods`).

Exact (``method="exact"``), 2^nq + 2^nh encoder passes
    Bilinear scores (dot; cosine = dot of normalised embeddings): the joint
    Harsanyi dividend factorises, ``d(A u B) = <D_q(A), D_h(B)>`` with ``D_q``,
    ``D_h`` the (vector-valued) Moebius transforms of the per-side embedding
    tables. The order-2 Shapley-Taylor index of a cross pair (i in Q, j in H) is
    ``phi_ij = sum_{A∋i, B∋j} <D_q(A), D_h(B)> / C(|A|+|B|, 2)``; grouping by
    sizes, with ``U_i(a) = sum_{A∋i, |A|=a} D_q(A)`` and ``V_j(b)`` likewise,
    ``phi_ij = sum_{a,b} <U_i(a), V_j(b)> / C(a+b, 2)``: O((2^nq nq + 2^nh nh) d),
    the 2^(nq+nh) joint table is never formed. Other scores (euclid,
    manhattan) score all 2^nq x 2^nh side combinations, Moebius-transform the
    table along both axes and contract with the same size weights.

Sampled (``method="stratified"``), any budget >= a small minimum
    A product design: query masks and hit masks are sampled separately,
    stratified by size (sizes 0, 1, n-1 and n enumerated; middle sizes sampled
    with balanced player inclusion, without repeats) and *every* combination is
    scored. The Shapley-Taylor pair index is an expectation of second
    differences over contexts T = A u B, ``phi_ij = sum_{a,b} P(a,b)
    E[v(A+i,B+j) - v(A+i,B) - v(A,B+j) + v(A,B)]`` with ``P(a,b) = (2/n)
    C(nq-1,a) C(nh-1,b) / C(n-1,a+b)`` (n = nq + nh). Each of the four terms is
    a stratum mean over the product sample, computed for all (i, j) at once by
    matrix products. Additive parts ``f(A) + g(B)`` cancel *exactly* in every
    sample, so only the true query-hit interaction contributes variance, and
    Kq + Kh encoder passes buy Kq x Kh joint evaluations. With every stratum
    enumerated it returns the exact values.

    For bilinear scores the cross index is ``sum_{a,b} P(a,b) <delta_q[a,i],
    delta_h[b,j]>`` with per-side mean marginal embedding changes ``delta``;
    each side subtracts a fitted control variate (:class:`SideModel`: per-size
    intercepts, size-dependent player effects and ridge-penalised pair terms,
    all pairs or only neighbours' when the side knows its neighbours: touching
    regions, consecutive words; plus a kernel-ridge correction of its residual,
    :mod:`.kernel_correction`; each picked by leave-one-out error) whose
    stratum means are known exactly, so only its residual is sampled. By
    default the model of a size is fitted on other sizes only (cross-fitting)
    and the masks per size are fixed in advance (data-free Neyman weights),
    so every estimate is unbiased; ``unbiased=False`` is the older two-round,
    in-sample variant.
"""

from __future__ import annotations

from .api import EmbedFn, explain_joint
from .base import JointEstimator
from .control_variate import (
    SideEstimate,
    SideModel,
    SizeEffectModel,
    cross_fit_deltas,
    fit_side_model,
    fit_size_effects,
    side_deltas,
)
from .design import (
    _allocate,
    _balanced_masks,
    _side_minimum,
    _split_budget,
    context_weights,
    fixed_plan_side,
    pilot_side,
    plan_side,
    stratified_minimum_budget,
    stratum_spread,
)
from .exact import MAX_EXACT_JOINT_TABLE, MAX_EXACT_SIDE, JointExact, exact_joint_from_tables
from .result import JointExplanation
from .stratified import (
    StratifiedJoint,
    bilinear_estimate,
    stratified_bilinear_from_samples,
    stratified_joint_from_samples,
)
from .variance import stratum_variance
from ..scores import normalize_rows, score_matrix  # noqa: F401  (re-exported for old imports)
from ..vocabulary import DEFAULT_JOINT_BUDGET


def __getattr__(name: str) -> object:
    """``JOINT_METHODS``: the joint method names, read live from the registry (``"auto"`` first)."""
    if name == "JOINT_METHODS":
        from ..vocabulary import list_methods

        return list_methods(2, "joint")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_JOINT_BUDGET",
    "JOINT_METHODS",
    "JointEstimator",
    "JointExact",
    "JointExplanation",
    "MAX_EXACT_JOINT_TABLE",
    "MAX_EXACT_SIDE",
    "SideEstimate",
    "SideModel",
    "SizeEffectModel",
    "StratifiedJoint",
    "bilinear_estimate",
    "context_weights",
    "cross_fit_deltas",
    "exact_joint_from_tables",
    "explain_joint",
    "fit_side_model",
    "fit_size_effects",
    "fixed_plan_side",
    "pilot_side",
    "plan_side",
    "side_deltas",
    "stratified_bilinear_from_samples",
    "stratified_joint_from_samples",
    "stratified_minimum_budget",
    "stratum_spread",
    "stratum_variance",
]
