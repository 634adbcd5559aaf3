"""Standard errors of sampled values: the sampling design of a plan, linearised variances, a bootstrap, intervals.

Every sampled estimator reports ``Explanation.stderr`` (and ``interactions_stderr``
at order 2), the standard error of each value *for this seed* (its spread over
seeds), computed in ``solve`` from the plan and the values only, never from
extra game evaluations:

- **Permutation sampling**: the sample variance of the per-permutation marginal
  contributions over n_perm, each antithetic pair (a permutation and its reverse)
  counted as one independent unit, moderated across players (:func:`unit_mean_stderr`).
- **Kernel SHAP, Kernel Shapley-Taylor, LIME** (regressions): the linearised
  (sandwich) variance of the weighted least-squares solution under the plan's
  :class:`SamplingDesign`: each sampled unit's influence on the values
  (:func:`wls_row_influence`), summed per unit (a coalition with its complement for
  paired designs), with the stratified without-replacement variance and its
  finite-population correction (:func:`design_covariance`). Enumerated strata add
  nothing, so a full budget gives zeros.
- Any other estimator whose plan declares a :class:`SamplingDesign` (``plan.info["design"]``)
  but reports no error gets :func:`bootstrap_stderr` from
  :func:`~qdrant_explain.explainers.solve_game`: units resampled with replacement
  within strata and the plan re-solved (seeded, no new evaluations).
- Exact methods and closed forms (``exact``, ``occlusion``, ``sbsm``) report zeros.

Intervals use Student's t with the degrees of freedom the estimator records in
``meta["stderr_dof"]`` (None: normal): :func:`critical_value`,
:func:`confidence_interval`, :func:`covers_zero`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

LEVEL = 0.95
"""Nominal coverage of the intervals shown by the CLI and the report."""

JACKKNIFE_POWER = 0.5
"""Leverage adjustment of the regression residuals: e_u -> (I - H_uu)^-power e_u; 0.5 is CR2 (Bell-McCaffrey),
1 the cluster jackknife CR3 (over-states the error at small budgets on the benchmark games)."""


# ----------------------------------------------------------------------------- intervals
def critical_value(level: float = LEVEL, dof: Any = None) -> Any:
    """Two-sided critical value: Student's t quantile at (1 + level) / 2 with ``dof`` degrees of freedom.

    Args:
        level: nominal coverage in (0, 1).
        dof: degrees of freedom (scalar or array); None, inf or NaN give the normal quantile.

    Returns:
        A float (or an array shaped like ``dof``).

    Raises:
        ValueError: ``level`` outside (0, 1) or ``dof`` <= 0.

    Example:
        >>> round(critical_value(0.95), 3), round(critical_value(0.95, 10), 3)
        (1.96, 2.228)
    """
    from scipy.special import ndtri, stdtrit

    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"critical_value needs 0 < level < 1 (e.g. 0.95); got level={level!r}.")
    p = (1.0 + float(level)) / 2.0
    if dof is None:
        return float(ndtri(p))
    d = np.asarray(dof, dtype=np.float64)
    if np.any(d <= 0):
        raise ValueError(f"critical_value needs dof > 0 (or None for the normal quantile); got dof={dof!r}.")
    normal = ~np.isfinite(d)
    out = np.where(normal, ndtri(p), stdtrit(np.where(normal, 1.0, d), p))
    return float(out) if out.ndim == 0 else out


def confidence_interval(values: Any, stderr: Any, *, dof: Any = None, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` = values -/+ t x stderr, elementwise (NaN where stderr is NaN)."""
    v, se = np.asarray(values, dtype=np.float64), np.asarray(stderr, dtype=np.float64)
    half = critical_value(level, dof) * se
    return v - half, v + half


def covers_zero(values: Any, stderr: Any, *, dof: Any = None, level: float = LEVEL) -> np.ndarray:
    """True where the interval ``values ± t x stderr`` contains 0 (the sign is not established at ``level``)."""
    lo, hi = confidence_interval(values, stderr, dof=dof, level=level)
    return (lo <= 0.0) & (hi >= 0.0)


def format_interval(value: float, half_width: float | None = None) -> str:
    """``"+0.031 ± 0.004"``: the value to the precision of its interval's half-width (two significant
    digits of it); ``"+0.0312"`` (4 significant digits) without one.

    Example:
        >>> format_interval(0.031234, 0.0041), format_interval(-2.5e-5, 3.1e-6), format_interval(0.5)
        ('+0.0312 ± 0.0041', '-2.50e-05 ± 3.1e-06', '+0.5')
    """
    v = float(value)
    if half_width is None or not np.isfinite(half_width) or half_width <= 0:
        return f"{v:+.4g}"
    h = float(half_width)
    decimals = max(0, 1 - int(np.floor(np.log10(h))))
    if decimals > 6:
        return f"{v:+.2e} ± {h:.1e}"
    return f"{v:+.{decimals}f} ± {h:.{decimals}f}"


# ----------------------------------------------------------------------------- designs
@dataclass(frozen=True)
class SamplingDesign:
    """How the rows of a plan were drawn: which rows form one unit, in which stratum.

    Attributes:
        units: (m,) int, the unit each plan row belongs to (rows of one unit are
            drawn together, e.g. a coalition and its complement); -1 for fixed
            rows (always evaluated, no sampling error).
        strata: (m,) int, the stratum of each row's unit (-1 for fixed rows).
        sampled_fraction: (n_strata,) share of the stratum's population that was
            drawn without replacement (1: enumerated, no error; 0: drawn with
            replacement or from an infinite population).
    """

    units: np.ndarray
    strata: np.ndarray
    sampled_fraction: np.ndarray

    @property
    def n_units(self) -> int:
        """Distinct sampled units (fixed rows excluded)."""
        return int(np.unique(self.units[self.units >= 0]).size)

    def dof(self, n_parameters: int = 0) -> float | None:
        """Degrees of freedom of the variance: units in strata with error, minus one per such stratum and
        minus ``n_parameters`` fitted from them (at least 1); None when no stratum has sampling error."""
        total = 0
        for h, f in enumerate(self.sampled_fraction):
            if f < 1.0:
                k = np.unique(self.units[self.strata == h]).size
                total += max(k - 1, 0)
        return float(max(total - int(n_parameters), 1)) if total > 0 else None

    def after_fixed(self, n_fixed: int) -> "SamplingDesign":
        """The same design behind ``n_fixed`` fixed rows (a plan's v(empty), v(N), ... come first)."""
        pad = np.full(int(n_fixed), -1, dtype=np.int64)
        return SamplingDesign(np.concatenate([pad, self.units]), np.concatenate([pad, self.strata]),
                              self.sampled_fraction)

    def restricted(self, rows: np.ndarray) -> "SamplingDesign":
        """The design of a subset of rows (a boolean mask or indices, in plan order)."""
        return SamplingDesign(self.units[rows], self.strata[rows], self.sampled_fraction)


def unit_sums(contributions: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum per-row contributions (m, ...) per unit: ``(unit ids (k,), sums (k, ...))``; fixed rows dropped."""
    keep = units >= 0
    ids, inverse = np.unique(units[keep], return_inverse=True)
    c = np.asarray(contributions, dtype=np.float64)[keep]
    out = np.zeros((ids.size,) + c.shape[1:])
    np.add.at(out, inverse, c)
    return ids, out


def design_variance(contributions: np.ndarray, design: SamplingDesign) -> np.ndarray:
    """Variance of the sum of per-row contributions under a stratified design.

    For each stratum h with k_h sampled units and sampled fraction f_h:
    (1 - f_h) k_h / (k_h - 1) sum_u (c_u - mean_h c)^2, c_u the unit sums; strata with a
    single unit or f_h = 1 add nothing.

    Args:
        contributions: (m, ...) per plan row (e.g. (m, n) influences on n values).
        design: the plan's :class:`SamplingDesign`.

    Returns:
        (...) variances (the trailing shape of ``contributions``).
    """
    c = np.asarray(contributions, dtype=np.float64)
    total = np.zeros(c.shape[1:])
    for h, f in enumerate(np.asarray(design.sampled_fraction, dtype=np.float64)):
        if f >= 1.0:
            continue
        rows = design.strata == h
        _, sums = unit_sums(c[rows], design.units[rows])
        k = sums.shape[0]
        if k < 2:
            continue
        dev = sums - sums.mean(axis=0)
        total += (1.0 - f) * k / (k - 1) * np.sum(dev**2, axis=0)
    return total


def unit_mean_stderr(unit_values: np.ndarray, *, moderate: bool = False,
                     pool: np.ndarray | None = None) -> tuple[np.ndarray, float | None]:
    """Standard error of the mean of i.i.d. unit estimates (k, ...): sd(ddof=1) / sqrt(k), and k - 1 dof.

    With ``moderate``, each entry's sample variance s^2 (k - 1 dof) is shrunk halfway
    towards the mean variance s0^2 over the entries (``pool``: a boolean mask of the
    entries that share it, default all): (s^2 + s0^2) / 2 with 2 (k - 1) dof, the
    moderated variance of Smyth (2004) with a prior worth as many degrees of freedom
    as the sample. With a handful of units the plain s^2 of a heavy-tailed
    contribution is too often far too small (a big jump not drawn yet); measured on
    the EfficientNet games of ``benchmarks/coverage.py`` (12 permutations: 85 %
    coverage plain, 95 % moderated) and on synthetic games (94-96 % at every budget).

    Fewer than 2 units give NaN (no error estimate is possible) and dof None.
    """
    u = np.asarray(unit_values, dtype=np.float64)
    k = u.shape[0]
    if k < 2:
        return np.full(u.shape[1:], np.nan), None
    var = u.var(axis=0, ddof=1)
    if not moderate:
        return np.sqrt(var / k), float(k - 1)
    mask = np.ones(var.shape, dtype=bool) if pool is None else np.asarray(pool, dtype=bool)
    prior = float(var[mask].mean()) if mask.any() else 0.0
    shrunk = np.where(mask, (var + prior) / 2.0, var)
    return np.sqrt(shrunk / k), float(2 * (k - 1))


# ----------------------------------------------------------------------------- regressions
def wls_row_influence(scaled_features: np.ndarray, scaled_residuals: np.ndarray, gram_pinv: np.ndarray,
                      value_map: np.ndarray) -> np.ndarray:
    """Per-row first-order influence of a weighted least-squares fit on values ``L @ coef``.

    For coef = (A'A)^+ A'b with A = sqrt(w) X and b = sqrt(w) y, the change of the
    values ``value_map @ coef`` caused by row r, to first order, is
    ``value_map (A'A)^+ a_r e_r`` with e_r the row's scaled residual. Summed over a
    design's units, :func:`design_variance` turns these into the sandwich variance.

    Args:
        scaled_features: (r, p) rows of A.
        scaled_residuals: (r,) or (r, k) residuals b - A coef (k games at once).
        gram_pinv: (p, p) (A'A)^+.
        value_map: (q, p) L.

    Returns:
        (r, q) influences, or (r, q, k) for k games.
    """
    lever = scaled_features @ gram_pinv @ value_map.T  # (r, q)
    e = np.asarray(scaled_residuals, dtype=np.float64)
    return lever * e[:, None] if e.ndim == 1 else lever[:, :, None] * e[:, None, :]


def jackknife_residuals(scaled_features: np.ndarray, scaled_residuals: np.ndarray, gram_pinv: np.ndarray,
                        units: np.ndarray, *, power: float = JACKKNIFE_POWER) -> np.ndarray:
    """Residuals inflated for each unit's leverage: e_u -> (I - H_uu)^-1 e_u (the cluster jackknife, CR3).

    A fitted residual is smaller than the error it stands for, the more so the more
    the unit pulled the fit towards itself (H_uu = A_u (A'A)^+ A_u'); undoing that
    keeps the sandwich from under-stating the error at small budgets.

    Args:
        scaled_features: (r, p) rows of A.
        scaled_residuals: (r,) or (r, k).
        gram_pinv: (p, p) (A'A)^+.
        units: (r,) unit of each row (rows of one unit are adjusted together).

    Returns:
        The adjusted residuals, shaped like ``scaled_residuals``.
    """
    e = np.asarray(scaled_residuals, dtype=np.float64)
    out = e.copy()
    units = np.asarray(units)
    order = np.argsort(units, kind="stable")
    order = order[units[order] >= 0]  # fixed rows (-1) have no sampling error to adjust
    groups = np.split(order, np.flatnonzero(np.diff(units[order])) + 1)
    by_size: dict[int, list[np.ndarray]] = {}
    for rows in groups:
        by_size.setdefault(rows.size, []).append(rows)
    ag = scaled_features @ gram_pinv
    for size, members in by_size.items():  # units of one size together: stacked (U, size, size) eigen-solves
        idx = np.stack(members)  # (U, size)
        a, ag_u = scaled_features[idx], ag[idx]
        lever = np.eye(size) - np.einsum("uip,ujp->uij", ag_u, a)
        evals, evecs = np.linalg.eigh(lever)
        # a unit that alone fixes a parameter (eigenvalue ~0): that part of its residual says nothing
        scale = np.where(evals > 1e-8, np.maximum(evals, 1e-8) ** -power, 0.0)
        root_inv = np.einsum("uik,uk,ujk->uij", evecs, scale, evecs)
        out[idx] = np.einsum("uij,uj...->ui...", root_inv, e[idx])
    return out


def pinv_gram(a: np.ndarray) -> np.ndarray:
    """(A'A)^+ with the same eigenvalue cut as :func:`~.estimators._design.min_norm_lstsq`."""
    gram = a.T @ a
    evals, evecs = np.linalg.eigh(gram)
    keep = evals > max(evals[-1], 0.0) * gram.shape[0] * 1e-13
    return (evecs[:, keep] / evals[keep]) @ evecs[:, keep].T


# ----------------------------------------------------------------------------- bootstrap
def bootstrap_stderr(solve: Callable[[Any, np.ndarray], Any], plan: Any, values: np.ndarray, *,
                     rng: np.random.Generator, n_boot: int = 200) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """Standard errors by re-solving the plan on bootstrap resamples of its units (no new evaluations).

    Units are drawn with replacement within each stratum that has sampling error
    (fixed rows and enumerated strata are kept as they are); each resample is a plan
    of the resampled rows (weights and design subset accordingly, the rest of
    ``plan.info`` unchanged) solved with ``solve``. The spread ignores the
    finite-population correction, so it errs on the wide side when a large share
    of a stratum was drawn.

    Args:
        solve: ``solve(plan, values) -> Explanation`` of the estimator.
        plan: a :class:`~.estimators.base.Plan` whose ``info["design"]`` is a :class:`SamplingDesign`.
        values: (m,) values of ``plan.coalitions``.
        rng: the generator of the resampling (seeded by the caller).
        n_boot: resamples.

    Returns:
        ``(stderr (n,), interactions_stderr (n, n) or None, dof)``.

    Raises:
        ValueError: the plan declares no design.
    """
    from dataclasses import replace

    design = plan.info.get("design") if plan.info else None
    if not isinstance(design, SamplingDesign):
        raise ValueError("bootstrap_stderr needs plan.info['design'], a SamplingDesign of the plan's rows; the "
                         "estimator's plan declares none.")
    fixed = np.flatnonzero(design.units < 0)
    kept = np.zeros(0, dtype=np.int64)  # rows of enumerated strata: kept as they are, with their own units
    groups = []  # per random stratum: list of row-index arrays, one per unit
    for h, f in enumerate(design.sampled_fraction):
        rows = np.flatnonzero(design.strata == h)
        if rows.size == 0:
            continue
        if f >= 1.0:
            kept = np.concatenate([kept, rows])
            continue
        ids = design.units[rows]
        groups.append([rows[ids == u] for u in np.unique(ids)])
    kept_units = np.unique(design.units[kept], return_inverse=True)[1].reshape(-1) if kept.size else kept
    reps_v, reps_i = [], []
    for _ in range(int(n_boot)):
        pick = [fixed, kept]
        new_units = [np.full(fixed.size, -1), kept_units]
        next_id = int(kept_units.max()) + 1 if kept.size else 0
        for units in groups:
            for j in rng.integers(0, len(units), size=len(units)):
                pick.append(units[j])
                new_units.append(np.full(units[j].size, next_id))
                next_id += 1
        rows = np.concatenate(pick)
        sub = SamplingDesign(np.concatenate(new_units), design.strata[rows], design.sampled_fraction)
        info = {**plan.info, "design": sub}
        weights = None if plan.weights is None else np.asarray(plan.weights)[rows]
        boot_plan = replace(plan, coalitions=np.asarray(plan.coalitions)[rows], weights=weights, info=info)
        e = solve(boot_plan, np.asarray(values)[rows])
        reps_v.append(e.values)
        if e.interactions is not None:
            reps_i.append(e.interactions)
    se = np.std(np.array(reps_v), axis=0, ddof=1)
    inter = np.std(np.array(reps_i), axis=0, ddof=1) if reps_i else None
    return se, inter, design.dof()


__all__ = [
    "LEVEL",
    "SamplingDesign",
    "bootstrap_stderr",
    "confidence_interval",
    "covers_zero",
    "critical_value",
    "jackknife_residuals",
    "design_variance",
    "format_interval",
    "pinv_gram",
    "unit_mean_stderr",
    "unit_sums",
    "wls_row_influence",
]
