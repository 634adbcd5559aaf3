"""Anytime budgets in the pipeline of sides: one side's games solved in rounds until the top-k settle.

:func:`anytime_spec` turns ``budget="auto"`` (or ``"auto:N"``), ``top_k`` and
``max_seconds`` into an :class:`Anytime` (None for a fixed budget, an exact or
non-sampling method, or order 2: those keep their fixed cost);
:func:`solve_in_rounds` runs the rounds of one side with
:func:`qdrant_explain.explainers.anytime.run_rounds`, the clock and the measured
encoder throughput. The side's cached evaluator makes every coalition already
encoded in an earlier round free, so a round costs only its new coalitions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from qdrant_explain.explainers.anytime import (
    ANYTIME_EXACT_COST,
    DEFAULT_TOP_K,
    Stopped,
    budget_rounds,
    first_budget,
    parse_budget,
    run_rounds,
)

ANYTIME_METHODS = ("auto", "kernel-shap", "permutation")
"""Order-1 methods that sample in rounds under ``budget="auto"`` (their standard errors drive the stop rule)."""


@dataclass(frozen=True)
class Anytime:
    """The settings of one anytime explanation.

    Attributes:
        cap: most encoder passes per side (None: the default side budget, 2^n when smaller).
        top_k: regions per side to identify.
        deadline: ``time.perf_counter()`` value after which no new round starts (None: no time cap).
        max_seconds: the time cap as given.
    """

    cap: int | None = None
    top_k: int = DEFAULT_TOP_K
    deadline: float | None = None
    max_seconds: float | None = None


def anytime_spec(budget: object, *, method: str, order: int, top_k: int = DEFAULT_TOP_K,
                 max_seconds: float | None = None, started: float | None = None) -> tuple[Anytime | None, int | None]:
    """``(anytime, budget)``: the anytime settings (None when the explanation has a fixed cost) and the fixed budget.

    Raises:
        ValueError: a bad budget word, ``top_k`` < 1 or ``max_seconds`` <= 0.
    """
    auto, cap = parse_budget(budget)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1 (regions per side to identify before stopping); "
                         f"got {top_k!r}.")
    if max_seconds is not None and (isinstance(max_seconds, bool) or not float(max_seconds) > 0):
        raise ValueError(f"max_seconds must be a number of seconds > 0 (or None: no time cap); got {max_seconds!r}.")
    if not auto or order != 1 or method not in ANYTIME_METHODS:
        return None, cap
    start = time.perf_counter() if started is None else started
    deadline = None if max_seconds is None else start + float(max_seconds)
    return Anytime(cap=cap, top_k=int(top_k), deadline=deadline,
                   max_seconds=None if max_seconds is None else float(max_seconds)), None


def at_once(anytime: Anytime | None, n_players: int, plan_at: Callable[[int | None], Any]) -> bool:
    """Whether a side is solved in one go: always without anytime; under it, when ``auto`` enumerates the side
    exactly (2^n at most :data:`~qdrant_explain.explainers.anytime.ANYTIME_EXACT_COST` and within the pass cap).

    Example:
        >>> from types import SimpleNamespace
        >>> plan_at = lambda b: SimpleNamespace(method="exact" if b is None or b >= 2 ** 8 else "kernel-shap")
        >>> at_once(None, 20, plan_at), at_once(Anytime(), 8, plan_at), at_once(Anytime(), 9, plan_at)
        (True, True, False)
        >>> at_once(Anytime(cap=100), 8, plan_at)
        False
    """
    if anytime is None:
        return True
    cost = 2 ** int(n_players)
    if cost > ANYTIME_EXACT_COST or (anytime.cap is not None and anytime.cap < cost):
        return False
    return plan_at(cost).method == "exact"


def side_rounds(anytime: Anytime, n_players: int) -> list[int]:
    """The round budgets of a side with n players: doubling from :func:`first_budget` to the pass cap (capped at 2^n)."""
    from qdrant_explain.explainers.vocabulary import default_budget

    cap = anytime.cap if anytime.cap is not None else default_budget(1, "side", n_players)
    cap = min(int(cap), 2 ** int(n_players))
    return budget_rounds(min(first_budget(n_players), cap), cap)


def rounds_line(what: str, method: str, rounds: list[int], anytime: Anytime, rate: float | None, fills: int = 1) -> str:
    """The line said before a side's rounds start: the rounds, the cap and the time they may take."""
    eta = ""
    if rate is not None:
        low, high = rounds[0] * fills / rate, rounds[-1] * fills / rate
        eta = f", about {low:.0f}-{high:.0f} s at {rate:.0f} images/s" if high >= 1 else ", under 1 s"
    cap = f"; stops at {anytime.max_seconds:g} s" if anytime.max_seconds is not None else ""
    return (f"{what}: {method} in rounds of {', '.join(str(b) for b in rounds)} encoder passes"
            f"{'' if fills == 1 else f' x {fills} images per coalition'} until the top {anytime.top_k} regions "
            f"are identified{eta}{cap}; --budget N for a fixed cost, --max-seconds S to cap the time")


def solve_in_rounds(anytime: Anytime, n_players: int, plan_at: Callable[[int], Any], solve: Callable[[Any], list],
                    passes: Callable[[], tuple[int, float]], *, fills: int = 1,
                    share: float = 1.0) -> tuple[list, Any, Stopped]:
    """Solve one side's games in rounds.

    Args:
        anytime: the settings.
        n_players: the side's players.
        plan_at: ``plan_at(budget) -> GamePlan`` (:func:`qdrant_explain.sides.resolve_plan`).
        solve: ``solve(plan) -> explanations``, one per game of the side.
        passes: ``() -> (encoder passes, encoder seconds)`` so far on the side (the throughput of the next round).
        fills: encoder passes per coalition (background images).
        share: the part of the time left this side may use (1 / sides still to explain).

    Returns:
        The last round's explanations, its plan and a :class:`Stopped`.
    """
    rounds = side_rounds(anytime, n_players)
    t0 = time.perf_counter()
    deadline = None
    if anytime.deadline is not None:
        deadline = t0 + max(anytime.deadline - t0, 0.0) * float(share)
    plans: list = []

    def run(budget: int) -> list:
        plans.append(plan_at(budget))
        return solve(plans[-1])

    def fits(budget: int) -> bool:
        if deadline is None:
            return True
        n, seconds = passes()
        if n <= 0 or seconds <= 0:
            return time.perf_counter() < deadline
        # an upper bound: every coalition of the round new (the earlier rounds' ones are cached)
        return time.perf_counter() + budget * fills * seconds / n <= deadline

    explanations, stopped = run_rounds(run, rounds, k=anytime.top_k, fits=fits, exact_cost=2 ** int(n_players))
    n, _ = passes()
    stopped = Stopped(stopped.reason, stopped.budgets, stopped.top_k,
                      {"passes": int(n), "seconds": round(time.perf_counter() - t0, 3)})
    return explanations, plans[-1], stopped


__all__ = ["ANYTIME_METHODS", "Anytime", "at_once", "anytime_spec", "rounds_line", "side_rounds", "solve_in_rounds"]
