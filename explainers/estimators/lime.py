"""LIME with lime_image's defaults (Ribeiro et al. 2016) on a coalition game.

Like ``lime_image.LimeImageExplainer.explain_instance``: rows drawn uniformly
from {0,1}^n with the first row all-on, cosine distance to the all-on row,
kernel sqrt(exp(-d^2 / 0.25^2)), weighted ridge regression (alpha = 1, with
intercept); the values are the ridge coefficients. v(empty) is evaluated as
well, for ``base_value``; it is not a regression row.

``stderr`` is the sampling error of LIME's own ridge coefficients for this seed
(the linearised sandwich variance over the i.i.d. rows, HC2 residuals): how far
the values would move with other random rows. LIME's values are not Shapley
values, so it says nothing about their distance to those.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._typing import CoalitionMatrix, FloatVector, GameValues
from ..result import Explanation
from ..uncertainty import SamplingDesign, design_variance, jackknife_residuals, wls_row_influence
from .base import Estimator, Plan


def cosine_distance_to_full(coalitions: CoalitionMatrix) -> FloatVector:
    """1 - cos(z, 1) = 1 - sqrt(|S| / n); 1 for the empty coalition (as sklearn)."""
    z = np.asarray(coalitions, dtype=bool)
    return 1.0 - np.sqrt(z.sum(axis=1) / z.shape[1])


def weighted_ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float, *,
                   return_influence: bool = False) -> tuple[FloatVector, float] | tuple[FloatVector, float, np.ndarray]:
    """argmin sum w (y - x b - c)^2 + alpha |b|^2 (intercept c unpenalised), as sklearn's Ridge.

    Args:
        return_influence: also return each row's first-order influence on the
            coefficients, (m, p), with leverage-adjusted (HC2) residuals.

    Returns:
        ``(coef (p,), intercept)`` (and the influences).
    """
    x = np.asarray(x, dtype=np.float64)
    wsum = w.sum()
    xm, ym = (w @ x) / wsum, (w @ y) / wsum
    xc, yc = x - xm, y - ym
    gram = xc.T @ (w[:, None] * xc) + alpha * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, xc.T @ (w * yc))
    if not return_influence:
        return coef, float(ym - xm @ coef)
    root = np.sqrt(w)
    a, inv = xc * root[:, None], np.linalg.inv(gram)
    e = jackknife_residuals(a, root * (yc - xc @ coef), inv, np.arange(x.shape[0]))
    return coef, float(ym - xm @ coef), wls_row_influence(a, e, inv, np.eye(x.shape[1]))


class LIME(Estimator):
    """LIME on coalitions; ``budget - 1`` regression rows plus v(empty).

    Args:
        order: must be 1.
        kernel_width: width of the exponential kernel on cosine distance (0.25).
        alpha: ridge penalty (1.0, sklearn's Ridge default used by lime).
    """

    name = "lime"
    orders = (1,)
    stochastic = True

    def __init__(self, *, order: int = 1, kernel_width: float = 0.25, alpha: float = 1.0) -> None:
        self.order = order
        self.kernel_width = kernel_width
        self.alpha = alpha

    def minimum_budget(self, n_players: int) -> int:
        """The all-on row, one random row and v(empty): 3 (2 for one player)."""
        return min(2**n_players, 3)

    def default_budget(self, n_players: int) -> int:
        """lime_image's num_samples = 1000 regression rows, plus v(empty)."""
        return 1001

    def planned_rows(self, n_players: int, budget: int) -> int:
        """``budget`` rows drawn with replacement (repeats cost no evaluation, but are planned)."""
        return max(int(budget), 2)

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """The int64 draw, the bool rows and the weighted ridge's three float64 (rows, n) matrices."""
        return self.planned_rows(n_players, budget) * (41 * n_players + 64) + 24 * n_players * n_players

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        n = n_players
        rows = rng.integers(0, 2, size=(max(budget - 2, 0), n)).astype(bool)
        fixed = np.concatenate([np.zeros((1, n), bool), np.ones((1, n), bool)])
        return Plan(np.concatenate([fixed, rows]), n, budget, None, {"design": lime_design(rows.shape[0] + 2)})

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        z = plan.coalitions[1:]
        d = cosine_distance_to_full(z)
        w = np.sqrt(np.exp(-(d**2) / self.kernel_width**2))
        coef, intercept, influence = weighted_ridge(z.astype(np.float64), values[1:], w, float(self.alpha),
                                                    return_influence=True)
        design = plan.info.get("design") or lime_design(plan.coalitions.shape[0])
        se = np.sqrt(design_variance(np.concatenate([np.zeros((1, coef.size)), influence]), design))
        e = self._explanation(
            plan, coef, None, base_value=values[0], full_value=values[1], estimated=True,
            intercept=intercept, kernel_width=self.kernel_width, alpha=self.alpha,
            stderr_method="sandwich (sampling error of LIME's own ridge coefficients, not an error against "
                          "Shapley values)", stderr_dof=design.dof(coef.size + 1),
        )
        return replace(e, stderr=se)


def lime_design(m: int) -> SamplingDesign:
    """LIME's rows: v(empty) and the all-on row fixed, the rest i.i.d. draws (with replacement) in one stratum."""
    units = np.concatenate([[-1, -1], np.arange(max(m - 2, 0))])
    strata = np.where(units >= 0, 0, -1)
    return SamplingDesign(units=units, strata=strata, sampled_fraction=np.zeros(1))


__all__ = ["LIME", "cosine_distance_to_full", "lime_design", "weighted_ridge"]
