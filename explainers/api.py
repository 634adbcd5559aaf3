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
from typing import Any, Mapping

import numpy as np

from ._typing import ValueFunction
from .evaluation import evaluate
from . import estimators as _builtin_estimators  # noqa: F401  (registers the built-in estimators)
from .estimators.base import Estimator, Plan, check_budget, check_n_players, registered_estimators
from .result import Explanation
from .uncertainty import SamplingDesign, bootstrap_stderr
from .vocabulary import AUTO_EXACT_COST
from .vocabulary import default_budget as _default_budget
from .vocabulary import resolve_method as _resolve

ESTIMATORS: Mapping[str, type[Estimator]] = registered_estimators("game")
"""Method name -> estimator class for games: a live, read-only view of the registry
(any :class:`Estimator` subclass with a ``name`` is in it)."""

AUTO_EXACT_PLAYERS = AUTO_EXACT_COST.bit_length() - 1
"""With ``method="auto"`` and no budget, games with at most this many players are solved exactly (12)."""


def list_estimators(kind: str = "game", order: int | None = None) -> list[str]:
    """Registered method names for ``kind`` (and ``order``), sorted; ``"auto"`` is not among them.

    Args:
        kind: ``"game"`` (the default), ``"side"`` or ``"joint"``.
        order: only methods supporting this order (None: any order).

    Example:
        >>> "kernel-shap" in list_estimators()
        True
    """
    reg = registered_estimators(kind)
    return sorted(name for name, cls in reg.items() if order is None or order in cls.orders)


def get_estimator(method: str, order: int = 1, *, kind: str = "game", **options: Any) -> Estimator:
    """Build the estimator for ``method`` at ``order``.

    Args:
        method: one of :func:`list_estimators` (``kind``).
        order: 1 (attributions) or 2 (pair interactions), as the method supports.
        kind: ``"game"``, ``"side"`` or ``"joint"`` (joint estimators are a
            separate family: :func:`~qdrant_explain.explainers.explain_joint`).
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
    cls = registered_estimators(kind).get(method) if isinstance(method, str) else None
    if cls is None:
        raise ValueError(
            f"Unknown method={method!r}; choose one of {list_estimators(kind)} (or 'auto' in explain_game)."
        )
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "order")]
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
    unknown = sorted(set(options) - set(allowed))
    if unknown and not accepts_any:
        raise ValueError(
            f"method={method!r} got unknown option(s) {unknown}; it accepts {allowed or 'no options'}."
        )
    est = cls(order=order, **options)
    est.check_order()
    return est


def resolve_method(method: str, n_players: int, order: int, budget: int | None) -> str:
    """``"auto"`` -> a concrete method for a game (kept for callers; the rule is
    :func:`qdrant_explain.explainers.vocabulary.resolve_method`)."""
    return _resolve(method, order=order, kind="game", n_players=n_players, budget=budget)[0]


def default_budget(method: str, n_players: int, order: int = 1) -> int:
    """The budget ``explain_game`` uses for ``method`` when ``budget=None`` (distinct evaluations).

    For the same number by kind (games, image sides, joint pairs) see
    :func:`qdrant_explain.explainers.vocabulary.default_budget`.

    Example:
        >>> default_budget("kernel-shap", 10)
        1024
    """
    n = check_n_players(n_players, caller="default_budget")
    name, _ = _resolve(method, order=order, kind="game", n_players=n, budget=None)
    return _default_budget(order, "game", n, method=name)


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
    memory_cap: object = None,
    **method_options: Any,
) -> Explanation:
    """Explain a coalition game: plan coalitions, evaluate them once each, solve.

    Args:
        value_fn: maps a (m, n) boolean coalition matrix to m finite floats.
        n_players: number of players n >= 1.
        method: one of :func:`list_estimators`, or ``"auto"``: the vocabulary's
            rule (:func:`~qdrant_explain.explainers.vocabulary.resolve_method`):
            exact when 2^n <= the budget, or 2^n <= 4096 (n <= 12) without a
            budget; else ``"kernel-shap"`` / ``"kernel-shapley-taylor"``.
        order: 1 for attributions, 2 for pair interactions.
        budget: most distinct coalitions to evaluate (None: :func:`default_budget`).
        seed: seed of the one random generator of this call.
        batch_size: most coalitions per call of ``value_fn``.
        progress: show a progress bar over batches.
        memory_cap: bytes or a size (``"4GiB"``, ``"50%"``) the plan must fit
            (None: ``$QDRANT_EXPLAIN_MEMORY_CAP``, else 80 % of the available
            memory); ``"auto"`` picks only what fits, and any method that does
            not fit is refused before the game is called.
        **method_options: hyper-parameters of the estimator (see :func:`get_estimator`).

    Returns:
        :class:`Explanation`: ``values`` (n,), ``interactions`` (n, n) or None,
        ``base_value``, ``full_value``, ``n_evaluations`` (distinct coalitions
        evaluated, <= budget), ``meta`` with the seed.

    Raises:
        ValueError: bad arguments, a budget below the method's minimum, an
            unsupported order, or a value function returning wrong shapes,
            non-numbers, NaN or inf.
        MemoryCapError: (a ValueError) the plan's stated memory exceeds the cap;
            the message gives both and the largest budget that fits.

    Example:
        >>> res = explain_game(lambda Z: Z.sum(axis=1) ** 2.0, 6, method="kernel-shapley-taylor", order=2)
        >>> round(float(res.interactions[0, 1]), 6), res.n_evaluations
        (2.0, 64)
    """
    if not callable(value_fn):
        raise ValueError(
            f"explain_game needs a callable value_fn (bool (m, n) -> (m,) floats); got "
            f"{type(value_fn).__name__}. Wrap your model in a function of the coalition matrix."
        )
    est, plan = plan_game(n_players, method=method, order=order, budget=budget, seed=seed, memory_cap=memory_cap,
                          **method_options)
    ev = evaluate(value_fn, plan.coalitions, batch_size=batch_size, progress=progress, desc=est.name)
    return solve_game(est, plan, ev.values, seed=seed, requested_method=method)


def plan_game(
    n_players: int,
    *,
    method: str = "kernel-shap",
    order: int = 1,
    budget: int | None = None,
    seed: int | None = 0,
    memory_cap: object = None,
    dim: int = 0,
    games: int = 1,
    **method_options: Any,
) -> tuple[Estimator, Plan]:
    """The ask half of :func:`explain_game`: the estimator and its plan (arguments as there).

    Several games on the same players (one masked query against k hits) can
    share one plan: evaluate each on ``plan.coalitions`` and call
    :func:`solve_game` per game. ``dim`` and ``games`` enter the memory check
    (an evaluator caching ``dim``-d embeddings for ``games`` games).
    """
    n = check_n_players(n_players, caller="explain_game")
    if budget is not None:
        budget = check_budget(budget)
    name, _ = _resolve(method, order=order, kind="game", n_players=n, budget=budget, memory_cap=memory_cap,
                       dim=dim, games=games)
    est = get_estimator(name, order=order, **method_options)
    return est, est.plan(n, budget, np.random.default_rng(seed))


def solve_game(
    estimator: Estimator, plan: Plan, values: np.ndarray, *, seed: int | None = 0, requested_method: str | None = None
) -> Explanation | list[Explanation]:
    """The tell half of :func:`explain_game`: solve ``plan`` from its values, record the seed (and "auto").

    ``values`` (m,) gives one :class:`Explanation`; (m, k), k games evaluated on
    the same plan, gives a list of k (:meth:`Estimator.solve_many`).

    An estimated result without standard errors whose plan declares a sampling design
    (``plan.info["design"]``, a :class:`~qdrant_explain.explainers.uncertainty.SamplingDesign`)
    gets them from :func:`~qdrant_explain.explainers.uncertainty.bootstrap_stderr`
    (seeded with ``seed``, no new evaluations; ``meta["stderr_method"] = "bootstrap"``).
    """
    many = np.ndim(values) == 2
    results = estimator.solve_many(plan, values) if many else [estimator.solve(plan, values)]
    out = []
    for j, result in enumerate(results):
        meta = {**result.meta, "seed": seed}
        if requested_method == "auto":
            meta["requested_method"] = "auto"
        changes: dict[str, Any] = {}
        if result.stderr is None and result.estimated and isinstance(plan.info.get("design"), SamplingDesign):
            column = np.asarray(values)[:, j] if many else np.asarray(values)
            se, inter_se, dof = bootstrap_stderr(estimator.solve, plan, column, rng=np.random.default_rng(seed))
            changes = {"stderr": se, "interactions_stderr": inter_se}
            meta.update(stderr_method="bootstrap", stderr_dof=dof)
        out.append(replace(result, meta=meta, **changes))
    return out if many else out[0]


__all__ = ["explain_game", "plan_game", "solve_game", "get_estimator", "list_estimators", "default_budget", "ESTIMATORS"]
