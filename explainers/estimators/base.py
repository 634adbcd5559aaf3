"""The ask/tell contract shared by every estimator: :class:`Plan` and :class:`Estimator`.

An estimator never calls a game. It *plans* a coalition matrix (``plan``), the
driver evaluates it (:func:`qdrant_explain.explainers.evaluation.evaluate`), and
the estimator *solves* from the values (``solve``, pure numpy, deterministic).

Conventions for every plan except ``"exact"`` (which uses bitmask order): row 0
is the empty coalition and row 1 the full coalition, so ``values[0]`` is v(empty)
and ``values[1]`` is v(N).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import comb
from typing import Any, ClassVar, Mapping

import numpy as np

from .._typing import CoalitionMatrix, FloatVector, GameValues
from ..evaluation import unique_rows
from ..result import Explanation


@dataclass(frozen=True)
class Plan:
    """The coalitions an estimator wants evaluated, plus what its solver needs.

    Attributes:
        coalitions: (m, n) boolean matrix; rows may repeat (the evaluator
            deduplicates, and :attr:`n_evaluations` counts distinct rows).
        n_players: number of players n.
        budget: the evaluation budget the plan was made for (None: no budget).
        weights: (m,) regression weights, or None when the solver needs none.
        info: solver data that is not a per-row weight (permutations, sizes,
            the number of sampled coalitions...). Treated as read-only.
    """

    coalitions: CoalitionMatrix
    n_players: int
    budget: int | None = None
    weights: FloatVector | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def n_evaluations(self) -> int:
        """Distinct coalitions in :attr:`coalitions` (what evaluating the plan costs)."""
        return int(unique_rows(np.asarray(self.coalitions, dtype=bool))[0].shape[0])


class Estimator:
    """Base of all estimators: sklearn-style constructor, ask/tell methods.

    Subclasses set ``name`` (the method string) and ``orders`` (supported
    orders), store their keyword hyper-parameters in ``__init__`` and implement
    :meth:`minimum_budget`, :meth:`_plan` and :meth:`_solve`.

    Args:
        order: explanation order; must be one of ``orders``.
    """

    name: ClassVar[str] = "estimator"
    orders: ClassVar[tuple[int, ...]] = (1,)

    def __init__(self, *, order: int = 1) -> None:
        self.order = order

    # ----------------------------------------------------------------- budgets
    def minimum_budget(self, n_players: int) -> int:
        """Fewest evaluations the method can work with for ``n_players``."""
        return min(2**n_players, 2)

    def default_budget(self, n_players: int) -> int:
        """Budget used when the caller passes ``budget=None``."""
        return self.minimum_budget(n_players)

    # ---------------------------------------------------------------- ask/tell
    def plan(self, n_players: int, budget: int | None, rng: np.random.Generator) -> Plan:
        """Choose the coalitions to evaluate (never calls a game).

        Args:
            n_players: number of players n >= 1.
            budget: most distinct coalitions to evaluate; None means
                :meth:`default_budget`.
            rng: the one random generator of this explanation.

        Returns:
            A :class:`Plan` whose distinct rows number at most ``budget``.

        Raises:
            ValueError: bad ``n_players``, unsupported order, budget below
                :meth:`minimum_budget`.
        """
        n = check_n_players(n_players, caller=f"method={self.name!r}")
        self.check_order(n)
        budget = self.default_budget(n) if budget is None else check_budget(budget)
        minimum = self.minimum_budget(n)
        if budget < minimum:
            raise ValueError(
                f"method={self.name!r} needs budget >= {minimum} for {n} players at order "
                f"{self.order}; got budget={budget}. Raise the budget to at least {minimum}"
                f"{self._small_budget_hint()}."
            )
        return self._plan(n, budget, rng)

    def solve(self, plan: Plan, values: GameValues) -> Explanation:
        """Turn the values of ``plan.coalitions`` into an :class:`Explanation` (pure numpy).

        Args:
            plan: what :meth:`plan` returned.
            values: (m,) finite values, one per row of ``plan.coalitions``.

        Raises:
            ValueError: ``values`` of the wrong shape or not finite.
        """
        v = np.asarray(values, dtype=np.float64)
        m = plan.coalitions.shape[0]
        if v.shape != (m,):
            raise ValueError(
                f"{type(self).__name__}.solve expects values of shape ({m},), one per planned "
                f"coalition; got shape {v.shape}. Pass evaluate(game, plan.coalitions).values."
            )
        if not np.all(np.isfinite(v)):
            raise ValueError(
                f"{type(self).__name__}.solve got NaN or inf values; games must return finite floats."
            )
        return self._solve(plan, v)

    def solve_many(self, plan: Plan, values: np.ndarray) -> list[Explanation]:
        """Solve k games evaluated on the same plan (one masked query against k hits).

        Args:
            plan: what :meth:`plan` returned.
            values: (m, k) finite values, column j for game j.

        Returns:
            k :class:`Explanation` objects, equal to ``solve(plan, values[:, j])``.
            Estimators whose solve is one linear map of the values (Kernel SHAP)
            solve all columns together.
        """
        v = np.asarray(values, dtype=np.float64)
        m = plan.coalitions.shape[0]
        if v.ndim != 2 or v.shape[0] != m:
            raise ValueError(
                f"{type(self).__name__}.solve_many expects values of shape ({m}, k), one row per planned "
                f"coalition and one column per game; got shape {v.shape}."
            )
        return self._solve_many(plan, v)

    def _solve_many(self, plan: Plan, values: np.ndarray) -> list[Explanation]:
        return [self.solve(plan, values[:, j]) for j in range(values.shape[1])]

    # ------------------------------------------------------------- subclasses
    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        raise NotImplementedError

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        raise NotImplementedError

    def _small_budget_hint(self) -> str:
        return ""

    # ----------------------------------------------------------------- helpers
    def check_order(self, n_players: int | None = None) -> None:
        """Raise ValueError if ``self.order`` is unsupported (or needs more players)."""
        if self.order not in self.orders:
            supported = ", ".join(str(o) for o in self.orders)
            raise ValueError(
                f"method={self.name!r} supports order in ({supported}); got order={self.order!r}. "
                f"{_order_hint(self.order)}"
            )
        if n_players is not None and self.order == 2 and n_players < 2:
            raise ValueError(
                f"method={self.name!r} at order 2 needs n_players >= 2 (pairs of players); "
                f"got n_players={n_players}. Use order=1."
            )

    def get_params(self) -> dict[str, Any]:
        """Constructor keyword arguments as stored (sklearn style)."""
        return dict(vars(self))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def _explanation(
        self,
        plan: Plan,
        values: FloatVector,
        interactions: np.ndarray | None,
        *,
        base_value: float,
        full_value: float,
        estimated: bool,
        **meta: Any,
    ) -> Explanation:
        return Explanation(
            values=np.asarray(values, dtype=np.float64),
            interactions=None if interactions is None else np.asarray(interactions, dtype=np.float64),
            base_value=float(base_value),
            full_value=float(full_value),
            method=self.name,
            order=int(self.order),
            n_evaluations=plan.n_evaluations,
            estimated=bool(estimated),
            budget=plan.budget,
            meta=dict(meta),
        )


def _order_hint(order: object) -> str:
    if order == 2:
        return "For pair interactions use method='kernel-shapley-taylor', 'exact' or 'sbsm'."
    if order == 1:
        return "For order 1 use method='kernel-shap', 'permutation', 'exact', 'lime' or 'occlusion'."
    return "Use order=1 (attributions) or order=2 (pair interactions)."


def check_n_players(n_players: object, *, caller: str = "explain_game") -> int:
    """Return ``n_players`` as an int >= 1 or raise ValueError."""
    if isinstance(n_players, (bool, np.bool_)) or not isinstance(n_players, (int, np.integer)):
        raise ValueError(
            f"{caller} needs n_players to be an integer >= 1; got {n_players!r} "
            f"({type(n_players).__name__}). Pass the number of players as an int."
        )
    if n_players < 1:
        raise ValueError(
            f"{caller} needs n_players >= 1; got n_players={n_players}. A game needs at least one player."
        )
    return int(n_players)


def check_budget(budget: object) -> int:
    """Return ``budget`` as an int or raise ValueError."""
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer)):
        raise ValueError(
            f"budget must be an integer number of evaluations (or None for the default); got "
            f"{budget!r} ({type(budget).__name__})."
        )
    return int(budget)


def n_pairs(n_players: int) -> int:
    """Number of unordered pairs C(n, 2)."""
    return comb(n_players, 2)


__all__ = ["Plan", "Estimator", "check_n_players", "check_budget"]
