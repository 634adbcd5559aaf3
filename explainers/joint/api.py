"""The entry point of joint explanations: :func:`explain_joint`."""

from __future__ import annotations

import inspect
import time
from typing import Callable

import numpy as np

from .._typing import CoalitionMatrix
from ..api import get_estimator
from ..estimators.base import registered_estimators
from ..memory import MemoryCapError
from ..scores import check_score, score_name
from ..side import SideEvaluator
from ..vocabulary import resolve_method
from .result import JointExplanation

EmbedFn = Callable[[CoalitionMatrix], np.ndarray]


def is_side_like(obj: object) -> bool:
    """True for a cached side evaluator that is not a :class:`SideEvaluator` (an
    :class:`~qdrant_explain.explainers.side.ExpectedSide`, a
    :class:`~qdrant_explain.explainers.side.NormalisedSide`): it embeds masks and counts its passes."""
    return all(hasattr(obj, a) for a in ("embed", "table", "n_players", "encoder_passes", "encoder_seconds"))


def _wrap_side(embed: object, n: int, batch_size: int, progress: bool | None, name: str) -> SideEvaluator:
    if isinstance(embed, SideEvaluator) or is_side_like(embed):
        if embed.n_players != n:
            raise ValueError(
                f"explain_joint: the {name} side evaluator has {embed.n_players} players but n_{name}={n}."
            )
        return embed
    if not callable(embed):
        raise TypeError(
            f"explain_joint: {name}_embed must be a callable mapping a (m, n_{name}) bool matrix to (m, d) "
            f"embeddings, or a SideEvaluator; got {type(embed).__name__}."
        )
    return SideEvaluator(embed, n, batch_size=batch_size, progress=progress, name=name)


def explain_joint(
    query_embed: EmbedFn | SideEvaluator,
    hit_embed: EmbedFn | SideEvaluator,
    n_query: int,
    n_hit: int,
    score: str = "cosine",
    method: str = "auto",
    budget: int | None = None,
    seed: int = 0,
    *,
    batch_size: int = 256,
    progress: bool | None = None,
    control_variate: bool = True,
    memory_cap: object = None,
    exact_query: bool = False,
    unbiased: bool = True,
) -> JointExplanation:
    """Order-2 Shapley-Taylor indices between query regions and hit regions, factorised.

    Args:
        query_embed: maps a (m, n_query) bool matrix (True = region kept) to (m, d)
            embeddings; or a :class:`SideEvaluator` (its cache is shared, so one set
            of masked-query encodes serves many hits).
        hit_embed: the same for the hit, (m, n_hit) -> (m, d).
        n_query: number of query players nq >= 1.
        n_hit: number of hit players nh >= 1.
        score: Qdrant metric: ``"cosine"``, ``"dot"``, ``"euclid"``, ``"manhattan"``.
            The game value is Qdrant's raw score (distances: lower = closer).
        method: one of ``list_methods(2, "joint")``: ``"exact"`` (2^nq + 2^nh
            encoder passes), ``"stratified"`` (product-design sampler), any joint
            estimator registered by subclassing :class:`~.base.JointEstimator`, or
            ``"auto"``: the vocabulary's rule (exact when 2^nq + 2^nh <= the
            budget, or <= 4096 without a budget, else ``"stratified"``).
        budget: encoder passes (query + hit) allowed; None: 2048 for sampling
            (:func:`~qdrant_explain.explainers.vocabulary.default_budget`).
        seed: seed of the sampler.
        batch_size: masks per encoder call (callables only).
        progress: tqdm bar (None: automatic on a TTY for long runs).
        control_variate: (passed to estimators that take it: ``"stratified"``)
            stratified sampler with a bilinear score: subtract a
            fitted model of each side's embeddings (:class:`SideModel`, chosen by
            leave-one-out error; exact when every stratum is enumerated, lower
            variance otherwise). False: plain stratum means.
        memory_cap: bytes or a size (``"4GiB"``, ``"50%"``) the method's stated
            memory (its tables: exact holds both 2^n side tables, and the
            2^nq x 2^nh score table for euclid/manhattan) must fit, checked
            before any mask is encoded; None: ``$QDRANT_EXPLAIN_MEMORY_CAP``,
            else 80 % of the available memory.
        exact_query: with ``"stratified"``, enumerate every query mask (2^n_query; a text
            query's words, at most :data:`~.exact_query.EXACT_QUERY_PLAYERS`) and sample the hit
            side with the rest of the budget (:class:`~.exact_query.QueryExactStratified`);
            ignored when the query side is larger, or when a budget is given and the query
            side's share of it (in proportion to players ** 1.5) does not cover 2^n_query:
            sampling both sides is then more exact for the same encodes.
        unbiased: (``"stratified"``) True (default): fixed counts per size,
            independent sizes and a cross-fitted control variate; unbiased, with
            standard errors (``*_stderr``). False: the earlier biased variant
            (data-driven second round, in-sample control variate; lower MSE at
            the smallest budgets, bias measured in ``benchmarks/RESULTS.md``;
            no standard errors).

    Returns:
        :class:`JointExplanation`; its ``*_stderr`` fields hold the standard
        errors (zeros when exact, None for ``unbiased=False``).

    Raises:
        ValueError: bad sizes, unknown score or method, a budget below the
            sampler's minimum (the message gives it), exact too large.
        MemoryCapError: (a ValueError) the method's tables do not fit the cap.
        EmbeddingError: the embedding functions returned NaN/inf or bad shapes.

    Example:
        >>> import numpy as np
        >>> wq, wh = np.random.default_rng(0).normal(size=(2, 4, 8))
        >>> res = explain_joint(lambda m: m @ wq, lambda m: m @ wh, 4, 4, score="dot", method="exact")
        >>> res.cross.shape, res.encoder_passes
        ((4, 4), 32)
    """
    t0 = time.perf_counter()
    metric = check_score(score)
    nq, nh = int(n_query), int(n_hit)
    if nq < 1 or nh < 1:
        raise ValueError(f"explain_joint needs n_query >= 1 and n_hit >= 1; got {n_query} and {n_hit}.")
    if budget is not None and int(budget) < 1:
        raise ValueError(f"explain_joint needs budget >= 1 encoder passes; got {budget}.")
    dim = next((int(s.dim) for s in (query_embed, hit_embed) if getattr(s, "dim", None)), None)
    try:
        name, planned = resolve_method(
            method, order=2, kind="joint", n_players=(nq, nh), budget=None if budget is None else int(budget),
            score=metric, memory_cap=memory_cap, dim=dim,
        )
    except MemoryCapError as err:
        raise MemoryCapError(f"explain_joint: {err}", needed=err.needed, cap=err.cap) from None
    except ValueError as err:
        raise ValueError(f"explain_joint(method=...): {err}") from None
    est = get_estimator(name, order=2, kind="joint", **_options(name, control_variate=control_variate, unbiased=unbiased))
    if exact_query and name == "stratified":
        est, planned = _query_exact(est, nq, nh, planned, control_variate, unbiased, given=budget is not None)
    qside = _wrap_side(query_embed, nq, batch_size, progress, "query")
    hside = _wrap_side(hit_embed, nh, batch_size, progress, "hit")
    q0, h0 = qside.encoder_passes, hside.encoder_passes
    parts = est.estimate(qside, hside, score=metric, budget=planned, rng=np.random.default_rng(seed))
    meta = dict(parts.pop("meta", {}))
    if est.stochastic:
        meta = {"seed": int(seed), **meta}
    qp, hp = qside.encoder_passes - q0, hside.encoder_passes - h0
    meta["encoder_seconds"] = float(qside.encoder_seconds + hside.encoder_seconds)
    return JointExplanation(
        score=score_name(metric),
        method=est.name,
        encoder_passes=int(qp + hp),
        query_passes=int(qp),
        hit_passes=int(hp),
        seconds=time.perf_counter() - t0,
        meta=meta,
        **parts,
    )


def _query_exact(est: object, nq: int, nh: int, budget: int | None, control_variate: bool, unbiased: bool, *,
                 given: bool) -> tuple[object, int | None]:
    """(:class:`~.exact_query.QueryExactStratified`, its budget) when the query side has at most
    ``EXACT_QUERY_PLAYERS`` players and enumerating it is affordable, else ``(est, budget)`` unchanged.

    Affordable: without a budget from the caller always (the default grows to 2^nq plus the hit
    side's minimum); with one, when the share the plain sampler would give the query side
    (:func:`~.design._split_budget`, in proportion to players ** 1.5) covers 2^nq. Below that, sampling
    the query side as well gives the lower error for the same encodes (10 words x 49 regions: rel.
    MSE of the cross block 0.0064 sampled vs 0.0084 enumerated at 3,504 encodes, 0.014 vs 0.030 at
    2,048; ``benchmarks/RESULTS.md``, "FIxLIP's cross-modal sampler as a peer").
    """
    from .design import _split_budget
    from .exact_query import EXACT_QUERY_PLAYERS, QueryExactStratified

    exact = QueryExactStratified(control_variate=control_variate, unbiased=unbiased)
    need = exact.minimum_budget((nq, nh))
    if nq > EXACT_QUERY_PLAYERS:
        return est, budget
    planned = budget if budget is not None else exact.default_budget((nq, nh))
    if not given:
        planned = max(int(planned), need)
    if planned < need or (given and _split_budget(nq, nh, int(planned))[0] < 2**nq):
        return est, budget
    return exact, int(planned)


def _options(name: str, **candidates: object) -> dict:
    """The ``candidates`` the joint estimator ``name`` accepts (``control_variate``, ``unbiased`` for ``"stratified"``)."""
    cls = registered_estimators("joint")[name]
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in candidates.items() if k in params}



__all__ = ["explain_joint"]
