"""Coalition designs shared by the kernel estimators, and an equality-constrained WLS.

The design is *size-stratified*: a kernel assigns a total mass to every
coalition size; sizes whose whole layer fits the budget are enumerated
(smallest and largest sizes first, as shap's KernelExplainer does), the rest of
the budget is split over the remaining sizes, and each size is sampled
uniformly *without replacement*, in complementary pairs (S, N \\ S). Every
coalition of size s then gets the Horvitz-Thompson weight mass(s) / k_s, where
k_s is the number of size-s coalitions in the design, so the weighted normal
equations are unbiased for the full-enumeration ones, and exact when every
layer is enumerated.
"""

from __future__ import annotations

import itertools
from math import comb
from typing import Callable, Sequence

import numpy as np

from .._typing import CoalitionMatrix, FloatVector
from ..coalitions import coalition_index
from ..uncertainty import SamplingDesign, jackknife_residuals, pinv_gram, wls_row_influence

ALLOCATIONS = ("kernel", "uniform", "sqrt")
"""How the sampled budget is split over sizes: kernel mass, equal per size
(the leverage-score design of Musco & Witter 2024), or their geometric mean."""

_ENUMERATE_LIMIT = 200_000


# ------------------------------------------------------------------ kernels
def shapley_kernel_mass(n_players: int, size: int) -> float:
    """Total Shapley-kernel weight of all coalitions of one size, (n-1)/(s(n-s)), 0 < s < n."""
    return (n_players - 1) / (size * (n_players - size))


def shapley_taylor_kernel_mass(n_players: int, size: int) -> float:
    """Total Kernel Shapley-Taylor weight of one size: C(n,s) pi(s) = (n-1)/(C(s,2)(n-s)), 2 <= s < n."""
    return (n_players - 1) / (comb(size, 2) * (n_players - size))


# ------------------------------------------------------------------ keys
def row_keys(coalitions: CoalitionMatrix) -> list:
    """One hashable key per coalition row (bitmask int up to 62 players, else bytes)."""
    z = np.asarray(coalitions, dtype=bool)
    if z.shape[1] <= 62:
        return coalition_index(z).tolist()
    return [row.tobytes() for row in np.packbits(z, axis=1)]


# ------------------------------------------------------------------ subsets
def _rows_from_indices(idx: np.ndarray, n: int) -> CoalitionMatrix:
    out = np.zeros((idx.shape[0], n), dtype=bool)
    if idx.size:
        np.put_along_axis(out, idx, True, axis=1)
    return out


def distinct_subsets(n: int, size: int, k: int, rng: np.random.Generator) -> CoalitionMatrix:
    """``k`` distinct subsets of {0..n-1} with ``size`` elements, uniformly without replacement.

    Returns:
        (k, n) boolean matrix, rows in sampling order.
    """
    total = comb(n, size)
    if k > total:
        raise ValueError(f"Cannot draw {k} distinct subsets of size {size} from {n} players ({total} exist).")
    if k == 0:
        return np.zeros((0, n), dtype=bool)
    if total <= _ENUMERATE_LIMIT and 2 * k >= total:
        idx = np.array(list(itertools.combinations(range(n), size)), dtype=np.int64).reshape(total, size)
        pick = rng.permutation(total)[:k]  # a prefix of one permutation: more rows extend fewer
        return _rows_from_indices(idx[pick], n)
    rows, seen = [], set()
    while len(rows) < k:  # candidates come from one stream of uniforms whatever the batch: a prefix again
        batch = max(16, 2 * (k - len(rows)))
        idx = np.argsort(rng.random((batch, n)), axis=1)[:, :size]
        cand = _rows_from_indices(idx, n)
        for row, key in zip(cand, row_keys(cand)):
            if key not in seen:
                seen.add(key)
                rows.append(row)
                if len(rows) == k:
                    break
    return np.array(rows, dtype=bool).reshape(k, n)


# ------------------------------------------------------------------ groups
class _Group:
    """A set of sizes sampled together: {s, n-s} for pairs, {n/2} self-paired, or {s} alone."""

    def __init__(self, n: int, sizes: tuple[int, ...], paired: bool, mass: dict[int, float], score: float):
        self.n, self.sizes, self.paired = n, sizes, paired
        self.count = sum(comb(n, s) for s in sizes)
        self.cost = 2 if paired else 1
        self.units = self.count // self.cost
        self.mass = sum(mass[s] for s in sizes)
        self.score = score

    def enumerate_all(self) -> CoalitionMatrix:
        rows = [distinct_subsets(self.n, s, comb(self.n, s), np.random.default_rng(0)) for s in self.sizes]
        return np.concatenate(rows, axis=0)

    def sample(self, units: int, rng: np.random.Generator) -> CoalitionMatrix:
        if units == self.units:
            return self.enumerate_all()
        if not self.paired:
            return distinct_subsets(self.n, self.sizes[0], units, rng)
        s = self.sizes[0]
        if len(self.sizes) == 2:
            first = distinct_subsets(self.n, s, units, rng)
        else:  # s = n/2: one representative per pair, the one holding player 0
            rest = distinct_subsets(self.n - 1, s - 1, units, rng)
            first = np.concatenate([np.ones((units, 1), dtype=bool), rest], axis=1)
        return np.concatenate([first, ~first], axis=0)


def _make_groups(n: int, sizes: Sequence[int], mass: dict[int, float], paired: bool, allocation: str) -> list[_Group]:
    sizes = sorted(set(int(s) for s in sizes))
    groups, done = [], set()
    for s in sizes:
        if s in done:
            continue
        partner = n - s
        if paired and partner in sizes:
            members = (s,) if partner == s else (s, partner)
            is_paired = True
        else:
            members, is_paired = (s,), False
        done.update(members)
        m = sum(mass[t] for t in members)
        score = {"kernel": m, "uniform": float(len(members)), "sqrt": float(np.sqrt(m * len(members)))}[allocation]
        groups.append(_Group(n, members, is_paired, mass, score))
    return groups


def _allocate_units(groups: list[_Group], budget: int) -> list[int]:
    """Split ``budget`` evaluations into units per group, proportional to score, capped by size."""
    units = [0] * len(groups)
    open_ = [g for g in range(len(groups)) if groups[g].units > 0]
    left = budget
    # water-filling: cap groups whose share exceeds their size, re-split the rest
    while open_:
        total = sum(groups[g].score for g in open_)
        share = {g: left * groups[g].score / total for g in open_}
        capped = [g for g in open_ if share[g] >= groups[g].count]
        if not capped:
            break
        for g in capped:
            units[g] = groups[g].units
            left -= groups[g].units * groups[g].cost
            open_.remove(g)
    if open_:
        total = sum(groups[g].score for g in open_)
        exact = {g: left * groups[g].score / total / groups[g].cost for g in open_}
        for g in open_:
            units[g] = min(int(np.floor(exact[g])), groups[g].units)
        left -= sum(units[g] * groups[g].cost for g in open_)
        order = sorted(open_, key=lambda g: exact[g] - units[g], reverse=True)
        while True:  # largest remainder first, then anything that still fits
            added = False
            for g in order:
                if units[g] < groups[g].units and groups[g].cost <= left:
                    units[g] += 1
                    left -= groups[g].cost
                    added = True
            if not added:
                break
    return units


def stratified_design(
    n_players: int,
    sizes: Sequence[int],
    mass: Callable[[int, int], float],
    n_samples: int,
    rng: np.random.Generator,
    *,
    paired: bool = True,
    allocation: str = "kernel",
) -> tuple[CoalitionMatrix, FloatVector, dict]:
    """Size-stratified, paired, without-replacement coalition design with Horvitz-Thompson weights.

    Args:
        n_players: number of players n.
        sizes: coalition sizes the kernel covers (e.g. 1..n-1 for Kernel SHAP).
        mass: ``mass(n, s)`` total kernel weight of all coalitions of size s.
        n_samples: most coalitions to return (all distinct).
        rng: random generator.
        paired: sample S together with N \\ S when both sizes are covered.
        allocation: ``"kernel"``, ``"uniform"`` or ``"sqrt"`` (see :data:`ALLOCATIONS`).

    Returns:
        ``(coalitions, weights, info)``: (k, n) bool distinct coalitions with
        k <= n_samples, (k,) weights mass(s)/k_s, and a dict with the sizes
        enumerated completely, the count per size and the :class:`~..uncertainty.SamplingDesign`
        of the rows (``"design"``: a paired coalition and its complement are one unit, one
        stratum per group of sizes).
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}; got allocation={allocation!r}.")
    masses = {int(s): float(mass(n_players, int(s))) for s in sizes}
    groups = _make_groups(n_players, sizes, masses, paired, allocation)
    # complete enumeration, most over-sampled layers first (smallest/largest sizes for Kernel SHAP)
    order = sorted(range(len(groups)), key=lambda g: groups[g].score / groups[g].count, reverse=True)
    units = [0] * len(groups)
    left, score_left = int(n_samples), sum(g.score for g in groups)
    for g in order:
        grp = groups[g]
        if grp.count <= left and left * grp.score / score_left >= grp.count:
            units[g] = grp.units
            left -= grp.count
            score_left -= grp.score
        else:
            break
    rest = [g for g in range(len(groups)) if units[g] == 0]
    for g, u in zip(rest, _allocate_units([groups[g] for g in rest], left)):
        units[g] = u
    blocks, unit_ids, strata, fractions = [], [], [], []
    # one generator per group, from one draw of rng: a larger budget with the same seed samples a superset of the
    # smaller one's coalitions in each group (nested rounds: budget="auto" re-encodes almost nothing it has already
    # encoded; only a shift of the units between groups drops a few, <= 5 % in tests/explainers/test_kernel_shap.py)
    base = int(rng.integers(2**63))
    for g in range(len(groups)):
        if units[g] == 0:
            continue
        block = groups[g].sample(units[g], np.random.default_rng([base, *groups[g].sizes]))
        complete = units[g] == groups[g].units
        # a sampled pair (S, N \ S) is one unit: rows k and k + units of the block
        ids = np.arange(block.shape[0]) if complete or not groups[g].paired else np.tile(np.arange(units[g]), 2)
        blocks.append(block)
        unit_ids.append(ids + sum(u.size for u in unit_ids))
        strata.append(np.full(block.shape[0], len(fractions)))
        fractions.append(1.0 if complete else units[g] / groups[g].units)
    z = np.concatenate(blocks, axis=0) if blocks else np.zeros((0, n_players), dtype=bool)
    size_of = z.sum(axis=1)
    counts = np.bincount(size_of, minlength=n_players + 1)
    mass_of = np.array([masses.get(int(s), 0.0) for s in range(n_players + 1)])
    weights = mass_of[size_of] / np.maximum(counts[size_of], 1)
    full = [g for g in range(len(groups)) if units[g] == groups[g].units]
    info = {
        "enumerated_sizes": sorted(s for g in full for s in groups[g].sizes),
        "size_counts": counts.tolist(),
        "complete": len(full) == len(groups),
        "design": SamplingDesign(
            units=np.concatenate(unit_ids) if unit_ids else np.zeros(0, dtype=np.int64),
            strata=np.concatenate(strata) if strata else np.zeros(0, dtype=np.int64),
            sampled_fraction=np.asarray(fractions, dtype=np.float64),
        ),
    }
    return z, weights, info


def design_bytes_per_row(n_players: int) -> int:
    """Bytes per coalition of :func:`stratified_design`: float64 and int64 sampling scratch for twice the
    rows drawn, the bool rows, their key (a Python int in a set and a list) and the weights."""
    return 2 * 16 * n_players + 2 * n_players + 200


# ------------------------------------------------------------------ solver
def min_norm_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimum-norm least-squares solution of a x = b, via the Gram matrix.

    Eigen-decomposes a'a (p x p) and applies its pseudo-inverse, then one step
    of iterative refinement. Much cheaper than an SVD of the tall (m, p)
    matrix (and far less sensitive to BLAS thread contention), and accurate to
    ~1e-12 on the well-conditioned designs used here.

    Args:
        a: (m, p) matrix.
        b: (m,) right-hand side, or (m, k) for k of them at once.

    Returns:
        (p,) solution ((p, k) for k right-hand sides).
    """
    gram = a.T @ a
    evals, evecs = np.linalg.eigh(gram)
    keep = evals > max(evals[-1], 0.0) * gram.shape[0] * 1e-13
    inv = (evecs[:, keep] / evals[keep]) @ evecs[:, keep].T

    x = inv @ (a.T @ b)
    return x + inv @ (a.T @ (b - a @ x))


def sum_constrained_wls(features: np.ndarray, target: np.ndarray, weights: np.ndarray, total: float, *,
                        return_influence: bool = False,
                        units: np.ndarray | None = None) -> FloatVector | tuple[FloatVector, np.ndarray]:
    """argmin_b sum_r w_r (y_r - x_r . b)^2 subject to sum(b) = total.

    Solved in the affine subspace {b : sum b = total} by least squares on
    sqrt(w)-scaled rows (no normal equations); when the rows do not determine
    b, the minimum-norm solution is returned, which treats players
    symmetrically.

    Args:
        features: (m, p) design matrix.
        target: (m,) responses.
        weights: (m,) non-negative weights.
        total: required sum of the coefficients.

        return_influence: also return each row's first-order influence on the
            coefficients (:func:`~..uncertainty.wls_row_influence`), for standard errors.
        units: (m,) sampling unit of each row; the residuals are then adjusted for each
            unit's leverage (:func:`~..uncertainty.jackknife_residuals`).

    Returns:
        (p,) coefficients; with ``return_influence`` also the (m, p) influences
        (zero for rows of weight 0).
    """
    x = np.asarray(features, dtype=np.float64)
    m, p = x.shape
    base = np.full(p, total / p)
    root = np.sqrt(np.asarray(weights, dtype=np.float64))
    resid = root * (np.asarray(target, dtype=np.float64) - x @ base)
    projected = root[:, None] * (x - x.sum(axis=1, keepdims=True) / p)  # x @ (I - 11'/p)
    keep = root > 0
    if not keep.any():
        return (base, np.zeros((m, p))) if return_influence else base
    gamma = min_norm_lstsq(projected[keep], resid[keep])
    gamma -= gamma.mean()  # already orthogonal to 1 in exact arithmetic
    if not return_influence:
        return base + gamma
    a = projected[keep]
    centre = np.eye(p) - 1.0 / p
    gram_pinv = pinv_gram(a)
    e = resid[keep] - a @ gamma
    if units is not None:
        e = jackknife_residuals(a, e, gram_pinv, np.asarray(units)[keep])
    influence = np.zeros((m, p))
    influence[keep] = wls_row_influence(a, e, gram_pinv, centre)
    return base + gamma, influence


__all__ = [
    "ALLOCATIONS",
    "shapley_kernel_mass",
    "shapley_taylor_kernel_mass",
    "row_keys",
    "design_bytes_per_row",
    "distinct_subsets",
    "stratified_design",
    "sum_constrained_wls",
    "min_norm_lstsq",
]
