"""The contract of joint estimators: :class:`JointEstimator` (kind ``"joint"``, order 2).

A joint estimator explains the joint game of a query and a hit (players: query
regions u hit regions, value: Qdrant's score of the two masked images). It
never encodes an image itself: it asks the two :class:`~..side.SideEvaluator`
objects for the embeddings of the masks it chooses (they cache, batch and count
encoder passes) and returns the parts of a
:class:`~.result.JointExplanation`. Defining a subclass with a ``name``
registers it, beside the game estimators, under kind ``"joint"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._typing import GameValues
from ..estimators.base import Estimator, Plan
from ..memory import FIXED_OVERHEAD, cache_bytes
from ..side import SideEvaluator


class JointEstimator(Estimator, register=False):
    """Base of the joint estimators: ``estimate(query, hit, ...)`` instead of plan/solve.

    Subclasses set ``name``, store keyword options in ``__init__`` and implement
    :meth:`estimate` and :meth:`minimum_budget`. ``exact_orders`` /
    ``efficient_orders`` / ``stochastic`` declare, as for game estimators, what
    the registry contract test checks: exact values when the budget covers
    2^nq + 2^nh passes, efficiency (singletons + every pair = v(N) - v(empty),
    :meth:`~.result.JointExplanation.efficiency_gap`), and whether the masks
    depend on the seed.

    Args:
        order: must be 2.
    """

    kinds: ClassVar[tuple[str, ...]] = ("joint",)
    orders: ClassVar[tuple[int, ...]] = (2,)

    def __init__(self, *, order: int = 2) -> None:
        self.order = order

    def minimum_budget(self, n_players: tuple[int, int]) -> int:  # type: ignore[override]
        """Fewest encoder passes (query + hit) the method works with for ``(n_query, n_hit)``."""
        nq, nh = n_players
        return 2**nq + 2**nh

    def memory_bytes(self, n_players: tuple[int, int], budget: int | None = None, *, dim: int = 512,  # type: ignore[override]
                     games: int = 1, score: str | None = None) -> int:
        """Peak bytes of a joint explanation, stated before anything is encoded (an upper bound).

        The default is the product design of the sampler (``"stratified"``):
        ``budget`` masks split over the sides, each side's cached ``dim``-d
        embeddings, the (Kq, Kh) score table of every combination, the control
        variate's design and Gram matrices and the (n, n, d) stratum deltas.
        Estimators with other tables (``"exact"``) say so themselves.

        Args:
            n_players: ``(n_query, n_hit)``.
            budget: encoder passes, query and hit together (None: :meth:`default_budget`).
            dim: embedding dimension.
            games: unused (one pair per explanation); kept for the common signature.
            score: the metric (None: the larger of the bilinear and the table paths).

        Returns:
            Bytes (a Python int, for any sizes).
        """
        from .design import _split_budget

        nq, nh = (int(n) for n in n_players)
        budget = self.default_budget((nq, nh)) if budget is None else int(budget)
        d = max(int(dim), 1)
        kq, kh = _split_budget(nq, nh, max(budget, self.minimum_budget((nq, nh))))
        total = FIXED_OVERHEAD + 24 * kq * kh  # the score table and its temporaries
        for n, k, other in ((nq, kq, kh), (nh, kh, kq)):
            pairs = n * (n - 1) // 2
            p = 1 + 3 * n + (pairs if pairs <= min(k, 1200) else 0)  # the control variate's features
            total += cache_bytes(k, n, d) + k * (4 * n + 64)  # cache, masks (two rounds)
            total += 24 * k * p + 24 * p * p + 16 * k * d + 32 * n * n * d  # design, Gram, residual, deltas
            total += 16 * (n + 1) * n * other  # stratum sums of the table path
            if n <= 128:  # the kernel correction (kernel_correction.py): kernel, eigenvectors, tables
                km = min(k, 1024)
                total += 32 * km * km + 24 * (n + 1) ** 3 + 8 * km * d
        return int(total)

    def default_budget(self, n_players: tuple[int, int]) -> int:  # type: ignore[override]
        """Encoder passes used without a budget: 2048, or the minimum when larger."""
        from ..vocabulary import DEFAULT_JOINT_BUDGET

        return max(DEFAULT_JOINT_BUDGET, self.minimum_budget(n_players))

    def estimate(
        self,
        query: SideEvaluator,
        hit: SideEvaluator,
        *,
        score: str,
        budget: int | None,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        """Explain the joint game of two sides.

        Args:
            query: the query side (``query.n_players`` players; ``embed(masks)``).
            hit: the hit side.
            score: the Qdrant metric (checked already).
            budget: encoder passes, query and hit together (None: exact methods).
            rng: the one random generator of this explanation.

        Returns:
            The fields of :class:`~.result.JointExplanation` other than
            ``score``, ``method``, the pass counts and ``seconds``: ``cross``,
            ``query_values``, ``hit_values``, ``query_interactions``,
            ``hit_interactions``, ``query_side_values``, ``hit_side_values``,
            ``base_value``, ``full_value``, ``n_evaluations``, ``estimated``,
            ``budget`` and ``meta``.

        Raises:
            ValueError: the players do not fit the method, or a budget below
                :meth:`minimum_budget`.
        """
        raise NotImplementedError

    def check_budget(self, n_players: tuple[int, int], budget: int) -> int:
        """``budget`` if it reaches :meth:`minimum_budget`, else a ValueError that gives the minimum."""
        minimum = self.minimum_budget(n_players)
        if budget < minimum:
            nq, nh = n_players
            raise ValueError(
                f"explain_joint(method={self.name!r}) needs budget >= {minimum} encoder passes for "
                f"{nq} + {nh} players; got budget={budget}. Raise the budget or use fewer players."
            )
        return int(budget)

    def plan(self, n_players: int, budget: int | None, rng: np.random.Generator) -> Plan:
        """Joint estimators explain two sides: use :func:`~qdrant_explain.explainers.explain_joint`."""
        raise TypeError(
            f"method={self.name!r} is a joint estimator (kind 'joint'): it explains a query and a hit "
            f"through explain_joint(query_embed, hit_embed, n_query, n_hit, method={self.name!r}), not a game."
        )

    def solve(self, plan: Plan, values: GameValues):  # type: ignore[override]
        """See :meth:`plan`: joint estimators have no game plan to solve."""
        return self.plan(plan.n_players, plan.budget, np.random.default_rng())


def check_dims(eq: np.ndarray, eh: np.ndarray) -> None:
    """Raise ValueError unless query and hit embeddings have the same dimension."""
    if eq.shape[1] != eh.shape[1]:
        raise ValueError(
            f"explain_joint: query embeddings have dimension {eq.shape[1]} but hit embeddings {eh.shape[1]}; "
            f"both sides must use the same encoder."
        )


__all__ = ["JointEstimator", "check_dims"]
