"""Anytime budgets: sample in rounds and stop when the top-k regions are identified.

``budget="auto"`` (the default of the order-1 image explanations) plans a sampled
side game at a first budget, solves it, and doubles the budget until every game of
the side has *settled*: the k regions with the largest values are identified with
95 % confidence by the values' standard errors
(:attr:`~qdrant_explain.explainers.result.Explanation.stderr`,
:func:`~qdrant_explain.explainers.uncertainty.confidence_interval`): the k-th
largest value's lower bound lies above every other region's upper bound. It also
stops at the pass cap (the budget reaches ``cap`` or the exact cost 2^n, where a
sampler has evaluated every coalition), or when the caller's clock says the next
round does not fit the time cap.

Two intervals that do not overlap are a conservative test of a difference (two
95 % intervals of independent values that do not overlap reject equality at about
the 0.5 % level), which leaves room for the repeated looks of the rounds.

The rule is pure: the caller supplies ``solve(budget) -> explanations`` (the
evaluator cache makes coalitions already encoded in an earlier round free) and
``fits(budget) -> bool`` (its clock).

Example:
    >>> import numpy as np
    >>> top_k_settled(np.array([0.5, 0.4, 0.3, 0.0, 0.01]), np.full(5, 0.01), k=3)
    True
    >>> top_k_settled(np.array([0.5, 0.4, 0.3, 0.29, 0.0]), np.full(5, 0.01), k=3)
    False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .uncertainty import LEVEL, confidence_interval

DEFAULT_TOP_K = 3
"""Regions per side whose identity must be established before an anytime explanation stops."""

ANYTIME_EXACT_COST = 256
"""Under ``budget="auto"`` a side whose exact cost 2^n is at most this (8 players or fewer) is enumerated at once;
a larger one is sampled in rounds, whose last round (2^n passes) is exact anyway. Without it a 12-player side
would always cost 4,096 passes, where its top regions usually settle within a few hundred."""

AUTO_BUDGET = "auto"
"""The budget word of anytime sampling: ``"auto"`` (cap: the default budget) or ``"auto:N"`` (cap N passes)."""

STOP_REASONS: dict[str, str] = {
    "settled": "the top regions are identified with 95 % confidence",
    "exact": "every coalition was evaluated (the values are exact; tied top regions stay tied)",
    "pass cap": "the pass cap was reached before the top regions were identified",
    "time cap": "the time cap was reached before the top regions were identified",
    "fixed": "a fixed budget or an exact method: no rounds",
}
"""Why an explanation stopped (``extra["stopped"]``) -> what it means."""

_SEVERITY = ("fixed", "settled", "exact", "pass cap", "time cap")


def parse_budget(budget: object) -> tuple[bool, int | None]:
    """``(anytime, cap)`` of a budget: ``"auto"`` -> (True, None), ``"auto:N"`` -> (True, N), N -> (False, N),
    None -> (False, None).

    Raises:
        ValueError: any other word, a cap below 2 or a non-integer budget.

    Example:
        >>> parse_budget("auto"), parse_budget("auto:500"), parse_budget(300), parse_budget(None)
        ((True, None), (True, 500), (False, 300), (False, None))
    """
    if budget is None:
        return False, None
    if isinstance(budget, str):
        word = budget.strip().lower()
        if word == AUTO_BUDGET:
            return True, None
        if word.startswith(AUTO_BUDGET + ":"):
            tail = word[len(AUTO_BUDGET) + 1:]
            if tail.isdigit() and int(tail) >= 2:
                return True, int(tail)
        elif word.isdigit() and int(word) >= 2:
            return False, int(word)
        raise ValueError(f"budget must be 'auto', 'auto:N' (sample in rounds, at most N encoder passes per side) "
                         f"or an integer N >= 2 (a fixed number of passes); got {budget!r}.")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or int(budget) < 2:
        raise ValueError(f"budget must be 'auto', 'auto:N' or an integer N >= 2; got {budget!r}.")
    return False, int(budget)


def top_k_settled(values: np.ndarray, stderr: np.ndarray | None, k: int = DEFAULT_TOP_K, *, dof: Any = None,
                  level: float = LEVEL) -> bool:
    """Whether the k largest values are identified: the k-th largest's lower bound is above every other upper bound.

    Args:
        values: (n,) values of one side.
        stderr: (n,) their standard errors (zeros: exact); None (no error estimate) never settles.
        k: regions to identify (all n when k >= n: settled at once).
        dof: degrees of freedom of the intervals (``meta["stderr_dof"]``; None: normal).
        level: two-sided level of each interval.

    Raises:
        ValueError: k < 1, or values and stderr of different shapes.
    """
    if isinstance(k, bool) or int(k) < 1:
        raise ValueError(f"top_k must be an integer >= 1 (regions to identify per side); got {k!r}.")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if int(k) >= v.size:
        return True
    if stderr is None:
        return False
    se = np.asarray(stderr, dtype=np.float64).reshape(-1)
    if se.shape != v.shape:
        raise ValueError(f"values {v.shape} and stderr {se.shape} must have the same shape.")
    if not np.isfinite(se).all() or not np.isfinite(v).all():
        return False
    lo, hi = confidence_interval(v, se, dof=dof, level=level)
    order = np.argsort(-v, kind="stable")
    top, rest = order[: int(k)], order[int(k):]
    tie = 1e-9 * float(np.abs(v).max())  # exact values equal up to rounding are tied, not ranked
    return bool(lo[top].min() > hi[rest].max() + tie)


def budget_rounds(first: int, cap: int) -> list[int]:
    """Doubling budgets from ``first`` to ``cap`` (the last one is ``cap``).

    Example:
        >>> budget_rounds(64, 1024), budget_rounds(64, 300), budget_rounds(500, 128)
        ([64, 128, 256, 512, 1024], [64, 128, 256, 300], [128])
    """
    first, cap = int(first), int(cap)
    if first >= cap:
        return [cap]
    out = [first]
    while out[-1] * 2 < cap:
        out.append(out[-1] * 2)
    return out + [cap]


def first_budget(n_players: int) -> int:
    """The first round's budget for n players: 4n + 8 passes (at least 64), enough for a first standard error.

    Example:
        >>> first_budget(10), first_budget(50)
        (64, 208)
    """
    return max(64, 4 * int(n_players) + 8)


@dataclass(frozen=True)
class Stopped:
    """How an anytime run ended.

    Attributes:
        reason: a key of :data:`STOP_REASONS`.
        budgets: the budget of each round solved.
        top_k: regions it had to identify.
    """

    reason: str
    budgets: tuple[int, ...] = ()
    top_k: int = DEFAULT_TOP_K
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: reason, rounds (their budgets), top_k."""
        return {"reason": self.reason, "rounds": [int(b) for b in self.budgets], "top_k": int(self.top_k),
                **self.details}


def all_settled(explanations: Sequence[Any], k: int, level: float = LEVEL) -> bool:
    """Every explanation's top-k settled (:func:`top_k_settled` with its own stderr and ``meta["stderr_dof"]``)."""
    return all(top_k_settled(e.values, e.stderr, k, dof=(e.meta or {}).get("stderr_dof"), level=level)
               for e in explanations)


def run_rounds(solve: Callable[[int], list], budgets: Sequence[int], *, k: int = DEFAULT_TOP_K,
               fits: Callable[[int], bool] = lambda _b: True, exact_cost: int | None = None,
               level: float = LEVEL) -> tuple[list, Stopped]:
    """Solve at each budget until every game settles, the budgets run out or the next round does not fit.

    Args:
        solve: ``solve(budget) -> explanations`` (one per game of the side).
        budgets: increasing budgets (:func:`budget_rounds`); the first is always solved.
        k: top regions to identify per game.
        fits: ``fits(next_budget) -> bool``, False when the next round would pass the time cap.
        exact_cost: 2^n; a last round at it that does not settle stops as ``"exact"``.

    Returns:
        The last round's explanations and a :class:`Stopped`.

    Raises:
        ValueError: no budgets.
    """
    if not budgets:
        raise ValueError("run_rounds needs at least one budget.")
    done: list[int] = []
    explanations: list = []
    for i, b in enumerate(budgets):
        if i and not fits(int(b)):
            return explanations, Stopped("time cap", tuple(done), k)
        explanations = solve(int(b))
        done.append(int(b))
        if all_settled(explanations, k, level):
            return explanations, Stopped("settled", tuple(done), k)
        if all(not e.estimated for e in explanations):
            return explanations, Stopped("exact", tuple(done), k)
    last = "exact" if exact_cost is not None and done[-1] >= exact_cost else "pass cap"
    return explanations, Stopped(last, tuple(done), k)


def overall_reason(reasons: Sequence[str]) -> str:
    """The reason of a whole explanation from its sides' reasons: the least settled one (time cap > pass cap >
    exact > settled > fixed)."""
    if not reasons:
        return "fixed"
    return max(reasons, key=_SEVERITY.index)


__all__ = [
    "ANYTIME_EXACT_COST",
    "AUTO_BUDGET",
    "DEFAULT_TOP_K",
    "STOP_REASONS",
    "Stopped",
    "all_settled",
    "budget_rounds",
    "first_budget",
    "overall_reason",
    "parse_budget",
    "run_rounds",
    "top_k_settled",
]
