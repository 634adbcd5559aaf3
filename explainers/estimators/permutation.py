"""Antithetic permutation sampling: Shapley values (order 1) and Shapley-Taylor pairs (order 2).

Order 1: phi_i is the mean over permutations of v(P + i) - v(P), P the
players before i (Castro et al. 2009); each permutation comes with its reverse.
Order 2: the Shapley-Taylor pair index is the mean over permutations of the
discrete second derivative v(S+ij) - v(S+i) - v(S+j) + v(S), S the players
before the first of i, j (Sundararajan et al. 2020); singletons are exact,
d({i}) = v({i}) - v(empty).

Permutations are added (in antithetic pairs) while the distinct coalitions
they need still fit the budget; repeated coalitions cost no evaluation, but
the planned rows (repeats included) stay within :data:`ROW_FACTOR` times the
budget, so a budget at or above 2^n (every coalition fits) no longer plans
``budget`` permutations and the memory stays bounded.

Standard errors: the sample standard deviation of the per-permutation
estimates over sqrt(number of units), a unit being one antithetic pair (the
mean of a permutation and its reverse, which are not independent) or one
permutation when ``antithetic=False``, each player's variance moderated halfway
towards the mean over players (pairs at order 2), with 2 (units - 1) degrees of
freedom in ``meta["stderr_dof"]`` (see
:func:`~qdrant_explain.explainers.uncertainty.unit_mean_stderr`). The singletons at
order 2 are evaluated, so their error is 0.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._typing import GameValues
from ..result import Explanation
from ..uncertainty import unit_mean_stderr
from ._design import row_keys
from .base import Estimator, Plan

ROW_FACTOR = 4
"""Planned rows (repeated coalitions included) are at most this many times the budget."""


def prefix_rows(perm: np.ndarray) -> np.ndarray:
    """The n + 1 prefix coalitions of one permutation, shape (n + 1, n)."""
    n = perm.shape[0]
    rows = np.zeros((n + 1, n), dtype=bool)
    for p in range(n):
        rows[p + 1] = rows[p]
        rows[p + 1, perm[p]] = True
    return rows


def _order1_rows(perm: np.ndarray) -> np.ndarray:
    return prefix_rows(perm)


def _order2_rows(perm: np.ndarray) -> np.ndarray:
    """Prefixes, then S+j and S+i+j for every position p < q (S = prefix p, i = perm[p], j = perm[q])."""
    n = perm.shape[0]
    pre = prefix_rows(perm)
    pp, qq = np.triu_indices(n, 1)
    with_j = pre[pp].copy()
    with_j[np.arange(pp.size), perm[qq]] = True
    with_ij = pre[pp + 1].copy()
    with_ij[np.arange(pp.size), perm[qq]] = True
    return np.concatenate([pre, with_j, with_ij])


class PermutationSampling(Estimator):
    """Permutation sampling for Shapley values (order 1) or Shapley-Taylor pairs (order 2).

    Args:
        order: 1 or 2.
        antithetic: add each permutation's reverse as well.
        max_permutations: stop after this many permutations even if budget is
            left (None: budget permutations at most).
    """

    name = "permutation"
    orders = (1, 2)
    efficient_orders = (1, 2)
    stochastic = True

    def __init__(self, *, order: int = 1, antithetic: bool = True, max_permutations: int | None = None) -> None:
        self.order = order
        self.antithetic = antithetic
        self.max_permutations = max_permutations

    def _fixed(self, n: int) -> np.ndarray:
        rows = [np.zeros((1, n), bool), np.ones((1, n), bool)]
        if self.order == 2:
            rows.append(np.eye(n, dtype=bool))
        return np.concatenate(rows)

    def _rows(self, perm: np.ndarray) -> np.ndarray:
        return _order1_rows(perm) if self.order == 1 else _order2_rows(perm)

    def _step(self, perm: np.ndarray) -> list[np.ndarray]:
        return [perm, perm[::-1].copy()] if self.antithetic else [perm]

    def _per_perm(self, n: int) -> int:
        return n + 1 if self.order == 1 else n + 1 + n * (n - 1)

    def _row_limit(self, n: int, budget: int) -> int:
        """Most planned rows: :data:`ROW_FACTOR` x budget, and always room for one step."""
        fixed = 2 + (n if self.order == 2 else 0)
        return max(ROW_FACTOR * int(budget), fixed + len(self._step(np.arange(1))) * self._per_perm(n))

    def planned_rows(self, n_players: int, budget: int) -> int:
        """Fixed rows plus whole steps of permutation rows, within the row limit and ``max_permutations``."""
        n = n_players
        fixed = 2 + (n if self.order == 2 else 0)
        step = (2 if self.antithetic else 1) * self._per_perm(n)
        cap = int(budget) if self.max_permutations is None else int(self.max_permutations)
        steps = min((self._row_limit(n, budget) - fixed) // step, -(-cap // (2 if self.antithetic else 1)))
        return fixed + max(steps, 0) * step

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """The rows (per step and concatenated), their keys (int64, Python ints in a list and a set) and the
        solve's marginal differences."""
        return self.planned_rows(n_players, budget) * (3 * n_players + 136 + 16 * games)

    def minimum_budget(self, n_players: int) -> int:
        """Distinct coalitions of the fixed rows and one (antithetic pair of) permutation(s)."""
        self.check_order(n_players)
        ident = np.arange(n_players)
        rows = [self._fixed(n_players)] + [self._rows(p) for p in self._step(ident)]
        return len(set(row_keys(np.concatenate(rows))))

    def default_budget(self, n_players: int) -> int:
        """2n + 2048 at order 1, n + 2 + max(2048, 4 C(n,2)) at order 2; capped at 2^n."""
        n = n_players
        extra = 2 * n + 2048 if self.order == 1 else n + 2 + max(2048, 2 * n * (n - 1))
        return max(min(2**n, extra), self.minimum_budget(n))

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        n = n_players
        fixed = self._fixed(n)
        seen = set(row_keys(fixed))
        perms, blocks = [], [fixed]
        cap = budget if self.max_permutations is None else int(self.max_permutations)
        limit, planned = self._row_limit(n, budget), fixed.shape[0]
        while len(perms) < cap:
            step = self._step(rng.permutation(n))
            if planned + len(step) * self._per_perm(n) > limit:
                break
            rows = [self._rows(p) for p in step]
            new = set(row_keys(np.concatenate(rows))) - seen
            if len(seen) + len(new) > budget:
                break
            seen |= new
            perms.extend(step)
            blocks.extend(rows)
            planned += sum(r.shape[0] for r in rows)
        perms_arr = np.array(perms, dtype=np.int64).reshape(len(perms), n)
        return Plan(np.concatenate(blocks), n, budget, None, {"permutations": perms_arr})

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        n = plan.n_players
        perms = plan.info["permutations"]
        n_fixed = 2 + (n if self.order == 2 else 0)
        per_perm = n + 1 if self.order == 1 else n + 1 + n * (n - 1)
        blocks = values[n_fixed:].reshape(perms.shape[0], per_perm)
        base, full = values[0], values[1]
        meta = {"n_permutations": int(perms.shape[0]), "antithetic": self.antithetic}
        n_perm = perms.shape[0]
        if self.order == 1:
            per_perm = np.zeros((n_perm, n))  # marginal contribution of each player in each permutation
            if n_perm:
                np.put_along_axis(per_perm, perms, np.diff(blocks, axis=1), axis=1)
            phi = per_perm.mean(axis=0) if n_perm else np.zeros(n)
            se, dof = unit_mean_stderr(self._units(per_perm), moderate=True)
            e = self._explanation(plan, phi, None, base_value=base, full_value=full, estimated=True, **meta,
                                  stderr_method="permutation units", stderr_dof=dof)
            return replace(e, stderr=se)
        single = values[2 : n + 2] - base
        pp, qq = np.triu_indices(n, 1)
        k = pp.size
        per_perm = np.zeros((n_perm, n, n))
        for p, (perm, row) in enumerate(zip(perms, blocks)):
            pre, with_j, with_ij = row[: n + 1], row[n + 1 : n + 1 + k], row[n + 1 + k :]
            delta = with_ij - with_j - pre[pp + 1] + pre[pp]
            i, j = perm[pp], perm[qq]
            per_perm[p, i, j] = delta
            per_perm[p, j, i] = delta
        inter = per_perm.mean(axis=0) if n_perm else np.zeros((n, n))
        inter_se, dof = unit_mean_stderr(self._units(per_perm), moderate=True, pool=~np.eye(n, dtype=bool))
        e = self._explanation(plan, single, inter, base_value=base, full_value=full, estimated=True, **meta,
                              stderr_method="permutation units", stderr_dof=dof)
        return replace(e, stderr=np.zeros(n), interactions_stderr=inter_se)  # singletons are evaluated exactly

    def _units(self, per_perm: np.ndarray) -> np.ndarray:
        """Independent units: each antithetic pair (a permutation and its reverse) averaged, else each permutation."""
        if not self.antithetic or per_perm.shape[0] % 2:
            return per_perm
        return per_perm.reshape(per_perm.shape[0] // 2, 2, *per_perm.shape[1:]).mean(axis=1)


__all__ = ["PermutationSampling", "prefix_rows"]
