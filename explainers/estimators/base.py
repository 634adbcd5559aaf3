"""The ask/tell contract shared by every estimator: :class:`Plan` and :class:`Estimator`.

An estimator never calls a game. It *plans* a coalition matrix (``plan``), the
driver evaluates it (:func:`qdrant_explain.explainers.evaluation.evaluate`), and
the estimator *solves* from the values (``solve``, pure numpy, deterministic).

Conventions for every plan except ``"exact"`` (which uses bitmask order): row 0
is the empty coalition and row 1 the full coalition, so ``values[0]`` is v(empty)
and ``values[1]`` is v(N).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from math import comb
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

import numpy as np

from .._typing import CoalitionMatrix, FloatVector, GameValues
from ..evaluation import unique_rows
from ..memory import FIXED_OVERHEAD, cache_bytes
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


KINDS: tuple[str, ...] = ("game", "side", "joint")
"""What an estimator explains: ``"game"`` (:func:`explain_game`), ``"side"`` (an image side at
order 1: one image masked, the other end fixed) and ``"joint"`` (query regions x hit regions, order 2)."""

KIND_ORDERS: Mapping[str, tuple[int, ...]] = MappingProxyType({"game": (1, 2), "side": (1,), "joint": (2,)})
"""The orders each kind has."""

_REGISTRY: dict[str, dict[str, type["Estimator"]]] = {kind: {} for kind in KINDS}
_METHOD_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class Estimator:
    """Base of all estimators: sklearn-style constructor, ask/tell methods.

    Subclasses set ``name`` (the method string), ``orders`` (supported
    orders) and ``kinds`` (what they explain, :data:`KINDS`), store their
    keyword hyper-parameters in ``__init__`` and implement
    :meth:`minimum_budget`, :meth:`_plan` and :meth:`_solve`.

    Defining a subclass with its own ``name`` registers it (shapiq style):
    :func:`~qdrant_explain.explainers.get_estimator`, ``explain_game`` and the
    vocabulary's ``list_methods`` find it, wherever the class is defined. Pass
    ``register=False`` in the class statement to opt out (abstract bases)::

        class MyShapley(Estimator):
            name, orders = "my-shapley", (1,)
            ...

    What a subclass claims is declared too, and the registry contract test
    (``tests/explainers/test_registry_contract.py``) checks it on every
    registered estimator: ``exact_orders`` (orders at which a full budget gives
    the exact values), ``efficient_orders`` (orders at which the values, plus
    the pairs at order 2, always sum to v(N) - v(empty)) and ``stochastic``
    (the plan depends on the seed).

    Standard errors: ``solve`` fills ``Explanation.stderr`` (and
    ``interactions_stderr`` at order 2) from the plan and the values only, and
    records ``meta["stderr_dof"]`` (degrees of freedom of a Student-t interval,
    None: normal) and ``meta["stderr_method"]``; see
    :mod:`qdrant_explain.explainers.uncertainty`. A sampled estimator that leaves
    them None but declares its plan's :class:`~..uncertainty.SamplingDesign` in
    ``plan.info["design"]`` gets a bootstrap from ``solve_game``.

    Args:
        order: explanation order; must be one of ``orders``.
    """

    name: ClassVar[str] = "estimator"
    orders: ClassVar[tuple[int, ...]] = (1,)
    kinds: ClassVar[tuple[str, ...]] = ("game", "side")
    exact_orders: ClassVar[tuple[int, ...]] = ()
    efficient_orders: ClassVar[tuple[int, ...]] = ()
    stochastic: ClassVar[bool] = False

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if register and "name" in cls.__dict__:
            register_estimator(cls)

    def __init__(self, *, order: int = 1) -> None:
        self.order = order

    @classmethod
    def fits(cls, n_players: int | tuple[int, int], *, score: str | None = None) -> bool:
        """Whether the method can run on ``n_players`` at all (size limits, e.g. exact enumeration)."""
        return True

    # ----------------------------------------------------------------- budgets
    def minimum_budget(self, n_players: int) -> int:
        """Fewest evaluations the method can work with for ``n_players``."""
        return min(2**n_players, 2)

    def default_budget(self, n_players: int) -> int:
        """Budget used when the caller passes ``budget=None``."""
        return self.minimum_budget(n_players)

    # ------------------------------------------------------------------ memory
    def memory_bytes(self, n_players: int, budget: int | None = None, *, dim: int = 0, games: int = 1) -> int:
        """Peak bytes of planning, evaluating and solving, stated before anything runs (an upper bound).

        Counts the plan, the driver's deduplication and values, the solver's
        arrays and, with ``dim`` > 0, an evaluator caching one ``dim``-d float64
        embedding per distinct coalition (image sides,
        :func:`~qdrant_explain.explainers.memory.cache_bytes`). Not counted: the
        game's own model. ``tests/explainers/test_registry_contract.py`` checks
        every registered estimator's statement against a tracemalloc measurement.

        Args:
            n_players: n (any size: the statement is arithmetic, nothing is allocated).
            budget: distinct evaluations (None: :meth:`default_budget`).
            dim: embedding dimension held per evaluated coalition (0: a plain game).
            games: games solved on the same plan (k hits sharing one masked query).

        Returns:
            Bytes (a Python int, exact for any n).

        Example:
            >>> from qdrant_explain.explainers import get_estimator
            >>> get_estimator("kernel-shapley-taylor", order=2).memory_bytes(64, 2**64) > 2**60
            True
        """
        n = check_n_players(n_players, caller=f"{type(self).__name__}.memory_bytes")
        budget = self.default_budget(n) if budget is None else check_budget(budget)
        games = max(int(games), 1)
        rows = self.planned_rows(n, budget)
        distinct = min(int(budget), 2**n, rows)
        evaluate = rows * (n + 8) + distinct * (2 * n + 96 + 16 * games)  # inverse, distinct rows, values
        return int(FIXED_OVERHEAD + self._work_bytes(n, budget, games) + evaluate
                   + cache_bytes(distinct, n, dim, games))

    def planned_rows(self, n_players: int, budget: int) -> int:
        """Rows of the plan (repeats included) for ``budget``; by default one per distinct coalition."""
        return min(int(budget), 2**n_players)

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """Bytes of the plan and the solver beyond what :meth:`memory_bytes` counts for every method.

        The default, for estimators that do not say: a boolean and a float64
        copy of every planned row and four float64 values per row and game.
        """
        rows = self.planned_rows(n_players, budget)
        return rows * (9 * n_players + 32 * games)

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
                f"{_order_hint(self.order, self.kinds[0])}"
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


def register_estimator(cls: type[Estimator]) -> type[Estimator]:
    """Add an estimator class to the registry (defining a subclass with a ``name`` calls this).

    Args:
        cls: an :class:`Estimator` subclass with ``name`` (kebab-case, not
            ``"auto"``), ``orders`` (a non-empty tuple of 1 and/or 2) and
            ``kinds`` (a non-empty tuple from :data:`KINDS`).

    Returns:
        ``cls`` (so it can be used as a decorator).

    Raises:
        TypeError: ``cls`` is not an Estimator subclass.
        ValueError: a bad ``name``, ``orders`` or ``kinds``, or the name is
            taken for one of its kinds by another class (a class redefined
            with the same module and qualified name replaces its old self).
    """
    if not (isinstance(cls, type) and issubclass(cls, Estimator)):
        raise TypeError(f"register_estimator needs an Estimator subclass; got {cls!r}.")
    where = f"{cls.__module__}.{cls.__qualname__}"
    name = cls.__dict__.get("name", cls.name)
    if not isinstance(name, str) or not _METHOD_NAME.fullmatch(name) or name == "auto":
        raise ValueError(
            f"{where}.name must be a kebab-case method string such as 'my-shapley' (not 'auto'); got {name!r}."
        )
    orders, kinds = tuple(cls.orders), tuple(cls.kinds)
    if not orders or any(o not in (1, 2) for o in orders):
        raise ValueError(f"{where}.orders must be a non-empty tuple of 1 and/or 2; got {cls.orders!r}.")
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"{where}.kinds must be a non-empty tuple from {KINDS}; got {cls.kinds!r}.")
    if not any(o in KIND_ORDERS[k] for k in kinds for o in orders):
        raise ValueError(
            f"{where}: no declared kind {kinds} has a declared order {orders} (orders per kind: "
            f"{dict(KIND_ORDERS)})."
        )
    for kind in kinds:
        old = _REGISTRY[kind].get(name)
        if old is not None and old is not cls and f"{old.__module__}.{old.__qualname__}" != where:
            raise ValueError(
                f"method name {name!r} ({kind}) is taken by {old.__module__}.{old.__qualname__}; "
                f"{where} must use another name (or unregister_estimator({name!r}) first)."
            )
    for kind in kinds:
        _REGISTRY[kind][name] = cls
    return cls


def unregister_estimator(name: str, *, kind: str | None = None) -> None:
    """Remove ``name`` from the registry (for ``kind`` only, or from every kind).

    Raises:
        ValueError: ``name`` is not registered (for ``kind``).
    """
    kinds = KINDS if kind is None else (check_kind(kind, caller="unregister_estimator"),)
    found = [k for k in kinds if name in _REGISTRY[k]]
    if not found:
        raise ValueError(f"unregister_estimator: no estimator named {name!r} is registered for {kinds}.")
    for k in found:
        del _REGISTRY[k][name]


def registered_estimators(kind: str) -> Mapping[str, type[Estimator]]:
    """Read-only, live view of the registry for ``kind``: method name -> class, in registration order."""
    return MappingProxyType(_REGISTRY[check_kind(kind, caller="registered_estimators")])


def check_kind(kind: object, *, caller: str) -> str:
    """Return ``kind`` if it is one of :data:`KINDS`, else raise ValueError."""
    if kind not in KINDS:
        raise ValueError(f"{caller} needs kind in {KINDS}; got kind={kind!r}.")
    return str(kind)


def _order_hint(order: object, kind: str = "game") -> str:
    if order in KIND_ORDERS.get(kind, ()):
        names = [n for n, c in _REGISTRY[kind].items() if order in c.orders]
        what = "pair interactions" if order == 2 else "order 1"
        return f"For {what} use method in {names}."
    if order in (1, 2):
        return f"kind {kind!r} has order {' and '.join(str(o) for o in KIND_ORDERS.get(kind, ()))} only."
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


__all__ = [
    "Plan",
    "Estimator",
    "KINDS",
    "KIND_ORDERS",
    "register_estimator",
    "unregister_estimator",
    "registered_estimators",
    "check_kind",
    "check_n_players",
    "check_budget",
]
