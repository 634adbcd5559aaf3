"""Public entry point: explain any coalition game with any estimator.

Example:
    >>> import numpy as np
    >>> from qdrant_explain.explainers import explain_game
    >>> game = lambda Z: Z @ np.arange(1.0, 5.0)          # additive game on 4 players
    >>> explain_game(game, 4, method="exact").values
    array([1., 2., 3., 4.])
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

import numpy as np

from ._typing import ValueFunction
from .evaluation import evaluate
from .estimators.base import Estimator, Plan, check_budget, check_n_players
from .estimators.exact import MAX_PLAYERS, Exact
from .estimators.kernel_shap import KernelSHAP
from .estimators.kernel_shapley_taylor import KernelShapleyTaylor
from .estimators.lime import LIME
from .estimators.occlusion import SBSM, Occlusion
from .estimators.permutation import PermutationSampling
from .result import Explanation

ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls
    for cls in (Exact, KernelSHAP, PermutationSampling, LIME, Occlusion, SBSM, KernelShapleyTaylor)
}
"""Method name -> estimator class."""

AUTO_EXACT_PLAYERS = 12
"""With ``method="auto"`` and no budget, games with at most this many players are solved exactly."""


def list_estimators() -> list[str]:
    """Method names accepted by :func:`get_estimator` and :func:`explain_game` (plus ``"auto"``)."""
    return sorted(ESTIMATORS)


def get_estimator(method: str, order: int = 1, **options: Any) -> Estimator:
    """Build the estimator for ``method`` at ``order``.

    Args:
        method: one of :func:`list_estimators`.
        order: 1 (attributions) or 2 (pair interactions), as the method supports.
        **options: the estimator's keyword hyper-parameters
            (e.g. ``allocation="uniform"`` for ``"kernel-shap"``).

    Returns:
        An :class:`~.estimators.base.Estimator`.

    Raises:
        ValueError: unknown method, unsupported order or unknown option.

    Example:
        >>> get_estimator("kernel-shap").minimum_budget(10)
        4
    """
    if method not in ESTIMATORS:
        raise ValueError(
            f"Unknown method={method!r}; choose one of {list_estimators()} (or 'auto' in explain_game)."
        )
    cls = ESTIMATORS[method]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "order")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"method={method!r} got unknown option(s) {unknown}; it accepts {allowed or 'no options'}."
        )
    est = cls(order=order, **options)
    est.check_order()
    return est


def resolve_method(method: str, n_players: int, order: int, budget: int | None) -> str:
    """Turn ``"auto"`` into a concrete method: exact when 2^n fits, else the kernel estimator."""
    if method != "auto":
        return method
    fits = 2**n_players <= budget if budget is not None else n_players <= AUTO_EXACT_PLAYERS
    if fits and n_players <= MAX_PLAYERS:
        return "exact"
    return "kernel-shap" if order == 1 else "kernel-shapley-taylor"


def default_budget(method: str, n_players: int, order: int = 1) -> int:
    """The budget ``explain_game`` uses when ``budget=None`` (distinct evaluations).

    Example:
        >>> default_budget("kernel-shap", 10)
        1024
    """
    n = check_n_players(n_players, caller="default_budget")
    est = get_estimator(resolve_method(method, n, order, None), order=order)
    est.check_order(n)
    return est.default_budget(n)


def explain_game(
    value_fn: ValueFunction,
    n_players: int,
    *,
    method: str = "kernel-shap",
    order: int = 1,
    budget: int | None = None,
    seed: int | None = 0,
    batch_size: int = 1024,
    progress: bool = False,
    **method_options: Any,
) -> Explanation:
    """Explain a coalition game: plan coalitions, evaluate them once each, solve.

    Args:
        value_fn: maps a (m, n) boolean coalition matrix to m finite floats.
        n_players: number of players n >= 1.
        method: one of :func:`list_estimators`, or ``"auto"`` (exact when 2^n
            fits the budget, or n <= 12 without a budget; else
            ``"kernel-shap"`` / ``"kernel-shapley-taylor"``).
        order: 1 for attributions, 2 for pair interactions.
        budget: most distinct coalitions to evaluate (None: :func:`default_budget`).
        seed: seed of the one random generator of this call.
        batch_size: most coalitions per call of ``value_fn``.
        progress: show a progress bar over batches.
        **method_options: hyper-parameters of the estimator (see :func:`get_estimator`).

    Returns:
        :class:`Explanation`: ``values`` (n,), ``interactions`` (n, n) or None,
        ``base_value``, ``full_value``, ``n_evaluations`` (distinct coalitions
        evaluated, <= budget), ``meta`` with the seed.

    Raises:
        ValueError: bad arguments, a budget below the method's minimum, an
            unsupported order, or a value function returning wrong shapes,
            non-numbers, NaN or inf.

    Example:
        >>> res = explain_game(lambda Z: Z.sum(axis=1) ** 2.0, 6, method="kernel-shapley-taylor", order=2)
        >>> round(res.interactions[0, 1], 6), res.n_evaluations
        (2.0, 64)
    """
    if not callable(value_fn):
        raise ValueError(
            f"explain_game needs a callable value_fn (bool (m, n) -> (m,) floats); got "
            f"{type(value_fn).__name__}. Wrap your model in a function of the coalition matrix."
        )
    est, plan = plan_game(n_players, method=method, order=order, budget=budget, seed=seed, **method_options)
    ev = evaluate(value_fn, plan.coalitions, batch_size=batch_size, progress=progress, desc=est.name)
    return solve_game(est, plan, ev.values, seed=seed, requested_method=method)


def plan_game(
    n_players: int,
    *,
    method: str = "kernel-shap",
    order: int = 1,
    budget: int | None = None,
    seed: int | None = 0,
    **method_options: Any,
) -> tuple[Estimator, Plan]:
    """The ask half of :func:`explain_game`: the estimator and its plan (arguments as there).

    Several games on the same players (one masked query against k hits) can
    share one plan: evaluate each on ``plan.coalitions`` and call
    :func:`solve_game` per game.
    """
    n = check_n_players(n_players, caller="explain_game")
    if budget is not None:
        budget = check_budget(budget)
    name = resolve_method(method, n, order, budget)
    est = get_estimator(name, order=order, **method_options)
    return est, est.plan(n, budget, np.random.default_rng(seed))


def solve_game(
    estimator: Estimator, plan: Plan, values: np.ndarray, *, seed: int | None = 0, requested_method: str | None = None
) -> Explanation | list[Explanation]:
    """The tell half of :func:`explain_game`: solve ``plan`` from its values, record the seed (and "auto").

    ``values`` (m,) gives one :class:`Explanation`; (m, k), k games evaluated on
    the same plan, gives a list of k (:meth:`Estimator.solve_many`).
    """
    many = np.ndim(values) == 2
    results = estimator.solve_many(plan, values) if many else [estimator.solve(plan, values)]
    out = []
    for result in results:
        meta = {**result.meta, "seed": seed}
        if requested_method == "auto":
            meta["requested_method"] = "auto"
        out.append(replace(result, meta=meta))
    return out if many else out[0]


__all__ = ["explain_game", "plan_game", "solve_game", "get_estimator", "list_estimators", "default_budget", "ESTIMATORS"]
