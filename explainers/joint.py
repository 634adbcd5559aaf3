"""Joint (query x hit) games with factorised evaluation: exact and sampled order-2 indices.

The joint game has players Q (query regions) and H (hit regions) and value
``v(A u B) = score(e_q(A), e_h(B))`` where ``e_q(A)`` embeds the query with only
the regions in A kept. Its cost is the number of *distinct* query masks plus
distinct hit masks encoded: any set of joint coalitions is evaluated by
encoding its query masks and hit masks once and scoring every combination with
one matrix product (:func:`~.scores.score_matrix`).

Exact (``method="exact"``), 2^nq + 2^nh encoder passes
    Bilinear scores (dot; cosine = dot of normalised embeddings): the joint
    Harsanyi dividend factorises, ``d(A u B) = <D_q(A), D_h(B)>`` with ``D_q``,
    ``D_h`` the (vector-valued) Moebius transforms of the per-side embedding
    tables. The order-2 Shapley-Taylor index of a cross pair (i in Q, j in H) is
    ``phi_ij = sum_{A∋i, B∋j} <D_q(A), D_h(B)> / C(|A|+|B|, 2)``; grouping by
    sizes, with ``U_i(a) = sum_{A∋i, |A|=a} D_q(A)`` and ``V_j(b)`` likewise,
    ``phi_ij = sum_{a,b} <U_i(a), V_j(b)> / C(a+b, 2)``: O((2^nq nq + 2^nh nh) d),
    the 2^(nq+nh) joint table is never formed. Other scores (euclid,
    manhattan) score all 2^nq x 2^nh side combinations, Moebius-transform the
    table along both axes and contract with the same size weights.

Sampled (``method="stratified"``), any budget >= a small minimum
    A product design: query masks and hit masks are sampled separately,
    stratified by size (sizes 0, 1, n-1 and n enumerated; middle sizes sampled
    with balanced player inclusion, without repeats) and *every* combination is
    scored. The Shapley-Taylor pair index is an expectation of second
    differences over contexts T = A u B, ``phi_ij = sum_{a,b} P(a,b)
    E[v(A+i,B+j) - v(A+i,B) - v(A,B+j) + v(A,B)]`` with ``P(a,b) = (2/n)
    C(nq-1,a) C(nh-1,b) / C(n-1,a+b)`` (n = nq + nh). Each of the four terms is
    a stratum mean over the product sample, computed for all (i, j) at once by
    matrix products. Additive parts ``f(A) + g(B)`` cancel *exactly* in every
    sample, so only the true query-hit interaction contributes variance, and
    Kq + Kh encoder passes buy Kq x Kh joint evaluations. With every stratum
    enumerated it returns the exact values.

    For bilinear scores the cross index is ``sum_{a,b} P(a,b) <delta_q[a,i],
    delta_h[b,j]>`` with per-side mean marginal embedding changes ``delta``;
    each side subtracts a fitted control variate (:class:`SideModel`: per-size
    intercepts, size-dependent player effects and ridge-penalised pair terms,
    picked by leave-one-out error) whose stratum means are known exactly, so
    only its residual is sampled. Masks are drawn in two rounds: the minimal
    design first, then the rest of the budget over mask sizes in proportion to
    each size's weight times the spread of its embeddings (Neyman allocation).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from math import comb
from typing import Callable

import numpy as np

from ._typing import CoalitionMatrix, FloatMatrix, FloatVector
from .coalitions import all_coalitions, coalition_sizes
from .exact import moebius_transform, shapley_values
from .result import Explanation, _jsonable
from .scores import BILINEAR_SCORES, check_score, normalize_rows, score_matrix
from .side import SideEvaluator

JOINT_METHODS = ("auto", "exact", "stratified", "product-kst")
DEFAULT_JOINT_BUDGET = 2048
"""Encoder passes (query + hit) used when ``budget=None``."""
MAX_EXACT_SIDE = 20
MAX_EXACT_JOINT_TABLE = 24  # nq + nh for non-bilinear scores (the 2^nq x 2^nh score table)

EmbedFn = Callable[[CoalitionMatrix], np.ndarray]


@dataclass(frozen=True)
class JointExplanation:
    """Order-2 Shapley-Taylor indices of a joint (query regions u hit regions) game.

    Attributes:
        cross: (nq, nh) pair indices between query player i and hit player j.
        query_values: (nq,) singleton terms d({i}) = v({i}) - v(empty).
        hit_values: (nh,) singleton terms of the hit players.
        query_interactions: (nq, nq) within-query pair indices (symmetric, zero
            diagonal), or None when the method does not estimate them.
        hit_interactions: (nh, nh) within-hit pair indices, or None.
        query_side_values: (nq,) first-order Shapley values of the query-side
            game (hit complete), from the same encodes: heatmap-ready.
        hit_side_values: (nh,) the same for the hit side (query complete).
        base_value: v(empty) = score of both fully masked images.
        full_value: v(all players) = the score Qdrant returns for the pair.
        score: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.
        method: ``"exact"`` or ``"stratified"``.
        encoder_passes: masks encoded for this explanation (query + hit); masks
            already in a shared cache (multi-hit) cost nothing.
        query_passes: masked queries encoded for this explanation.
        hit_passes: masked hits encoded for this explanation.
        n_evaluations: joint coalitions scored (Kq x Kh for the product design).
        estimated: False for exact values.
        budget: encoder-pass budget asked for (None for exact).
        seconds: wall time of the call.
        meta: provenance (seed, masks per side, encoder seconds).
    """

    cross: FloatMatrix
    query_values: FloatVector
    hit_values: FloatVector
    query_interactions: FloatMatrix | None
    hit_interactions: FloatMatrix | None
    query_side_values: FloatVector
    hit_side_values: FloatVector
    base_value: float
    full_value: float
    score: str
    method: str
    encoder_passes: int
    query_passes: int
    hit_passes: int
    n_evaluations: int
    estimated: bool
    budget: int | None = None
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def n_query(self) -> int:
        """Number of query players nq."""
        return int(self.query_values.shape[0])

    @property
    def n_hit(self) -> int:
        """Number of hit players nh."""
        return int(self.hit_values.shape[0])

    def efficiency_gap(self) -> float:
        """Singletons + all pairs - (v(N) - v(empty)); 0 up to rounding for exact results.

        Only defined when the within-side pairs are known (exact); NaN otherwise.
        """
        if self.query_interactions is None or self.hit_interactions is None:
            return float("nan")
        total = self.query_values.sum() + self.hit_values.sum() + self.cross.sum()
        total += np.triu(self.query_interactions, 1).sum() + np.triu(self.hit_interactions, 1).sum()
        return float(total - (self.full_value - self.base_value))

    def as_explanation(self) -> Explanation:
        """The same indices as one :class:`Explanation` over nq + nh players (query first).

        Within-side blocks are zero when they were not estimated.
        """
        nq, nh = self.n_query, self.n_hit
        inter = np.zeros((nq + nh, nq + nh))
        inter[:nq, nq:] = self.cross
        inter[nq:, :nq] = self.cross.T
        if self.query_interactions is not None:
            inter[:nq, :nq] = self.query_interactions
        if self.hit_interactions is not None:
            inter[nq:, nq:] = self.hit_interactions
        return Explanation(
            values=np.concatenate([self.query_values, self.hit_values]),
            interactions=inter,
            base_value=self.base_value,
            full_value=self.full_value,
            method=self.method,
            order=2,
            n_evaluations=self.n_evaluations,
            estimated=self.estimated,
            budget=self.budget,
            meta=dict(self.meta),
        )

    def to_dict(self) -> dict:
        """JSON-safe dictionary; :meth:`from_dict` round-trips it."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "meta":
                value = {k: _jsonable(v) for k, v in value.items()}
            out[name] = _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "JointExplanation":
        """Rebuild a :class:`JointExplanation` from :meth:`to_dict` output."""
        arrays = ("cross", "query_values", "hit_values", "query_side_values", "hit_side_values")
        kwargs = dict(data)
        for name in arrays:
            kwargs[name] = np.asarray(data[name], dtype=np.float64)
        for name in ("query_interactions", "hit_interactions"):
            kwargs[name] = None if data.get(name) is None else np.asarray(data[name], dtype=np.float64)
        kwargs["meta"] = dict(data.get("meta", {}))
        return cls(**kwargs)


# ----------------------------------------------------------------------------- helpers


def _pair_weights(nq: int, nh: int) -> np.ndarray:
    """W[a, b] = 1 / C(a + b, 2) for a + b >= 2 (how a dividend of size a+b spreads over pairs)."""
    w = np.zeros((nq + 1, nh + 1))
    for a in range(nq + 1):
        for b in range(nh + 1):
            if a + b >= 2:
                w[a, b] = 1.0 / comb(a + b, 2)
    return w


def context_weights(nq: int, nh: int) -> np.ndarray:
    """P[a, b]: Shapley-Taylor probability of a context with a query and b hit players (cross pairs).

    ``P[a, b] = (2/n) C(nq-1, a) C(nh-1, b) / C(n-1, a+b)`` for a < nq, b < nh;
    the entries sum to 1.
    """
    n = nq + nh
    p = np.zeros((nq, nh))
    for a in range(nq):
        for b in range(nh):
            p[a, b] = 2.0 / n * comb(nq - 1, a) * comb(nh - 1, b) / comb(n - 1, a + b)
    return p


def _size_blocks(z: np.ndarray, sizes: np.ndarray, n: int) -> list[np.ndarray]:
    return [np.flatnonzero(sizes == s) for s in range(n + 1)]


def _wrap_side(embed: object, n: int, batch_size: int, progress: bool | None, name: str) -> SideEvaluator:
    if isinstance(embed, SideEvaluator):
        if embed.n_players != n:
            raise ValueError(
                f"explain_joint: the {name} side evaluator has {embed.n_players} players but n_{name}={n}."
            )
        return embed
    if not callable(embed):
        raise TypeError(
            f"explain_joint: {name}_embed must be a callable mapping a (m, n_{name}) bool matrix to (m, d) "
            f"embeddings, or a SideEvaluator; got {type(embed).__name__}."
        )
    return SideEvaluator(embed, n, batch_size=batch_size, progress=progress, name=name)


def _prep(emb: np.ndarray, metric: str) -> np.ndarray:
    return normalize_rows(emb) if metric == "cosine" else emb


# ----------------------------------------------------------------------------- exact


def _membership(n: int) -> np.ndarray:
    return all_coalitions(n).astype(np.float64)


def _within_pairs(z: np.ndarray, g: np.ndarray) -> FloatMatrix:
    """sum_{A ⊇ {i,k}} g(A) for i != k, zero diagonal."""
    out = z.T @ (g[:, None] * z)
    np.fill_diagonal(out, 0.0)
    return out


def exact_joint_from_tables(eq: np.ndarray, eh: np.ndarray, score: str = "cosine") -> dict:
    """Exact order-2 Shapley-Taylor of the joint game from the two embedding tables.

    Args:
        eq: (2^nq, d) query embeddings in bitmask order.
        eh: (2^nh, d) hit embeddings in bitmask order.
        score: Qdrant metric.

    Returns:
        dict with cross, query_values, hit_values, query_interactions,
        hit_interactions, query_side_values, hit_side_values, base_value, full_value.
    """
    metric = check_score(score)
    nq = int(eq.shape[0]).bit_length() - 1
    nh = int(eh.shape[0]).bit_length() - 1
    w = _pair_weights(nq, nh)
    sq, sh = coalition_sizes(nq), coalition_sizes(nh)
    zq, zh = _membership(nq), _membership(nh)
    fq, fh = _prep(eq, metric), _prep(eh, metric)
    full_q, full_h = 2**nq - 1, 2**nh - 1
    side_q = score_matrix(eq, eh[full_h], metric)[:, 0]
    side_h = score_matrix(eq[full_q], eh, metric)[0]
    if metric in BILINEAR_SCORES:
        dq, dh = moebius_transform(fq), moebius_transform(fh)  # (2^n, d)
        d = dq.shape[1]
        u = np.zeros((nq + 1, nq, d))
        for a in range(1, nq + 1):
            rows = sq == a
            u[a] = zq[rows].T @ dq[rows]
        v = np.zeros((nh + 1, nh, d))
        for b in range(1, nh + 1):
            rows = sh == b
            v[b] = zh[rows].T @ dh[rows]
        vt = np.einsum("ab,bjd->ajd", w, v)
        cross = np.einsum("aid,ajd->ij", u, vt)
        # within-side pairs: g_q(A) = <D_q(A), sum_b W[|A|, b] S_h(b)>, S_h(b) = sum_{|B|=b} D_h(B)
        s_h = np.stack([dh[sh == b].sum(axis=0) for b in range(nh + 1)])
        s_q = np.stack([dq[sq == a].sum(axis=0) for a in range(nq + 1)])
        g_q = np.einsum("ad,ad->a", dq, (w @ s_h)[sq])
        g_h = np.einsum("bd,bd->b", dh, (w.T @ s_q)[sh])
        qi, hi = _within_pairs(zq, g_q), _within_pairs(zh, g_h)
        bits_q, bits_h = 1 << np.arange(nq), 1 << np.arange(nh)
        q_values = dq[bits_q] @ dh[0]
        h_values = dh[bits_h] @ dq[0]
        base = float(fq[0] @ fh[0])
        full = float(fq[full_q] @ fh[full_h])
    else:
        table = score_matrix(eq, eh, metric)  # (2^nq, 2^nh)
        dmat = moebius_transform(table)
        dmat = moebius_transform(dmat.T).T
        dw = dmat * w[sq][:, sh]
        cross = zq.T @ dw @ zh
        qi = _within_pairs(zq, dw.sum(axis=1))
        hi = _within_pairs(zh, dw.sum(axis=0))
        q_values = dmat[1 << np.arange(nq), 0]
        h_values = dmat[0, 1 << np.arange(nh)]
        base, full = float(table[0, 0]), float(table[full_q, full_h])
    return dict(
        cross=cross,
        query_values=np.asarray(q_values, dtype=np.float64),
        hit_values=np.asarray(h_values, dtype=np.float64),
        query_interactions=qi,
        hit_interactions=hi,
        query_side_values=shapley_values(side_q),
        hit_side_values=shapley_values(side_h),
        base_value=base,
        full_value=full,
    )


# ----------------------------------------------------------------------------- stratified sampler


def _balanced_masks(
    n: int, size: int, count: int, rng: np.random.Generator, taken: np.ndarray | None = None
) -> np.ndarray:
    """``count`` new distinct size-``size`` masks, each player included about equally often.

    ``taken`` (m, n) are masks of this size already drawn: they are never repeated
    and count towards the balance. Fewer rows come back when the stratum runs out.
    """
    taken = np.zeros((0, n), dtype=bool) if taken is None else np.asarray(taken, dtype=bool)
    seen = {row.tobytes() for row in taken}
    total = comb(n, size)
    count = min(count, total - len(seen))
    if count <= 0:
        return np.zeros((0, n), dtype=bool)
    if count + len(seen) >= total:
        rows = []
        for combo in itertools.combinations(range(n), size):
            row = np.zeros(n, dtype=bool)
            row[list(combo)] = True
            if row.tobytes() not in seen:
                rows.append(row)
        return np.array(rows, dtype=bool).reshape(-1, n)
    counts = taken.sum(axis=0).astype(np.float64)
    out = np.zeros((count, n), dtype=bool)
    r = tries = 0
    while r < count:
        if tries < 8:
            key = counts + rng.random(n)  # least-used players first, random tie-break
            chosen = np.argpartition(key, size - 1)[:size] if size < n else np.arange(n)
        else:  # rare collisions near full enumeration: plain uniform draw
            chosen = rng.choice(n, size=size, replace=False)
        row = np.zeros(n, dtype=bool)
        row[chosen] = True
        k = row.tobytes()
        if k in seen:
            tries += 1
            continue
        seen.add(k)
        counts[chosen] += 1
        out[r] = row
        r += 1
        tries = 0
    return out


def _side_minimum(n: int) -> list[int]:
    """Fewest masks per size so every player is both in and out of every middle stratum."""
    need = []
    for s in range(n + 1):
        if s in (0, n):
            need.append(1)
        else:
            need.append(min(comb(n, s), -(-n // min(s, n - s))))
    return need


def stratified_minimum_budget(n_query: int, n_hit: int) -> int:
    """Smallest encoder-pass budget ``method="stratified"`` accepts."""
    return sum(_side_minimum(n_query)) + sum(_side_minimum(n_hit))


def _allocate(n: int, budget: int, importance: np.ndarray) -> list[int]:
    """Masks per size: the minimum, then the rest in proportion to ``importance``, capped at C(n, s)."""
    counts = np.array(_side_minimum(n), dtype=np.int64)
    caps = np.array([comb(n, s) for s in range(n + 1)], dtype=np.float64)
    left = budget - int(counts.sum())
    imp = np.asarray(importance, dtype=np.float64).copy()
    while left > 0:
        open_ = (counts < caps) & (imp > 0)
        if not open_.any():
            break
        share = imp * open_
        extra = np.floor(left * share / share.sum()).astype(np.int64)
        extra = np.minimum(extra, (caps - counts).astype(np.int64))
        if extra.sum() == 0:  # hand out the remainder one by one, most important first
            for s in np.argsort(-share):
                if left == 0:
                    break
                if open_[s]:
                    counts[s] += 1
                    left -= 1
            break
        counts += extra
        left -= int(extra.sum())
    return [int(c) for c in counts]


def plan_side(
    n: int, budget: int, importance: np.ndarray, rng: np.random.Generator, pilot: np.ndarray | None = None
) -> np.ndarray:
    """Stratified masks for one side: (K, n) bool, sizes 0..n, about ``budget`` rows.

    With ``pilot`` (masks drawn already, e.g. :func:`pilot_side`) only the *new*
    masks are returned: pilot and new rows together follow the allocation.
    """
    counts = _allocate(n, budget, importance)
    pilot = np.zeros((0, n), dtype=bool) if pilot is None else np.asarray(pilot, dtype=bool)
    sizes = pilot.sum(axis=1)
    parts = []
    for s, c in enumerate(counts):
        have = pilot[sizes == s]
        parts.append(_balanced_masks(n, s, c - len(have), rng, taken=have))
    return np.concatenate(parts)


def pilot_side(n: int, rng: np.random.Generator) -> np.ndarray:
    """The smallest stratified design (:func:`_side_minimum` masks per size): the sampler's first round."""
    return np.concatenate([_balanced_masks(n, s, c, rng) for s, c in enumerate(_side_minimum(n))])


def stratum_spread(z: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """(n+1,) spread of the embeddings within each mask size: sqrt of the summed per-dimension variance.

    Sizes with fewer than two masks (0 and n) get the mean spread of the others, so
    the allocation (masks per size proportional to weight x spread: Neyman) never starves a stratum.
    """
    n = z.shape[1]
    sizes = z.sum(axis=1)
    spread = np.full(n + 1, np.nan)
    for s in range(n + 1):
        block = emb[sizes == s]
        if len(block) > 1:
            spread[s] = float(np.sqrt(block.var(axis=0).sum()))
    known = spread[np.isfinite(spread)]
    fill = float(known.mean()) if known.size and known.mean() > 0 else 1.0
    spread[~np.isfinite(spread)] = fill
    return np.maximum(spread, 1e-3 * fill)


def _side_importance(p: np.ndarray, axis: int) -> np.ndarray:
    """How much each mask size of one side enters the cross estimator (sizes 0..n)."""
    marg = p.sum(axis=1 - axis)  # weight of context size a (0..n-1)
    n = marg.shape[0]
    imp = np.zeros(n + 1)
    imp[1:] += marg  # M^+(a+1)
    imp[:-1] += marg  # M^-(a)
    return imp


def _stratum_sums(z: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sums of ``vals`` rows over masks with / without each player, and the counts."""
    zf = z.astype(np.float64)
    plus = zf.T @ vals
    minus = vals.sum(axis=0)[None, :] - plus
    c_plus = zf.sum(axis=0)
    return plus, minus, c_plus, z.shape[0] - c_plus


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


_PLAYER_RIDGE = 1e-3
_PAIR_RIDGES = (1e-3, 1e-2, 1e-1, 1.0)
_MAX_PAIR_FEATURES = 1200


@dataclass(frozen=True)
class SideModel:
    """A fitted control variate for one side's embeddings (the stratified sampler's regression).

    ``e(S) ~ c[|S|] + sum_k (beta_k + gamma_k |S|/n) z_k + sum_{k<l} G_kl z_k z_l``:
    per-size intercepts, player effects that drift linearly with the mask size,
    and (optionally) pairwise terms. Its stratum means are known exactly
    (:meth:`deltas`), so only its residual has to be sampled.
    """

    c: np.ndarray  # (n+1, d)
    beta: np.ndarray  # (n, d)
    gamma: np.ndarray  # (n, d)
    pairs: np.ndarray | None  # (n, n, d) symmetric, zero diagonal
    ridge: float | None  # ridge of the pair terms (None: no pair terms)

    @staticmethod
    def design(z: np.ndarray, with_pairs: bool) -> np.ndarray:
        n = z.shape[1]
        zf = z.astype(np.float64)
        sizes = z.sum(axis=1)
        cols = [np.eye(n + 1)[sizes], zf, zf * (sizes / n)[:, None]]
        if with_pairs:
            iu = np.triu_indices(n, 1)
            cols.append(zf[:, iu[0]] * zf[:, iu[1]])
        return np.concatenate(cols, axis=1)

    def predict(self, z: np.ndarray) -> np.ndarray:
        n = z.shape[1]
        coef = [self.c, self.beta, self.gamma]
        if self.pairs is not None:
            iu = np.triu_indices(n, 1)
            coef.append(self.pairs[iu])
        return self.design(z, self.pairs is not None) @ np.concatenate(coef)

    def deltas(self) -> np.ndarray:
        """(n, n, d) exact ``E[m(A + i)] - E[m(A)]`` over uniform contexts A of size a not holding i, [a, i]."""
        n = self.beta.shape[0]
        a = np.arange(n, dtype=np.float64)[:, None, None]
        share = a / max(n - 1, 1)  # P(k in A) for another player k
        out = (self.c[1:] - self.c[:-1])[:, None, :] + np.zeros((1, n, 1))
        for coef, grow in ((self.beta, lambda t: np.ones_like(t)), (self.gamma, lambda t: t / n)):
            rest = coef.sum(axis=0)[None, None, :] - coef[None]
            out = out + grow(a + 1) * (coef[None] + share * rest) - grow(a) * share * rest
        if self.pairs is not None:
            # pairs without i are in A + i exactly when in A: only the pairs (i, l), l in A, change
            out = out + share * self.pairs.sum(axis=1)[None]
        return out


def _ridge_fit(x: np.ndarray, y: np.ndarray, penalty: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge coefficients and the leave-one-out mean squared error (closed form)."""
    k = x.shape[0]
    gram = x.T @ x + np.diag(penalty * k)
    try:
        inv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(gram)
    coef = inv @ (x.T @ y)
    resid = y - x @ coef
    lev = ((x @ inv) * x).sum(axis=1)
    ok = lev < 1.0 - 1e-9
    if not ok.any():
        return coef, float("inf")
    loo = float(((resid[ok] / (1.0 - lev[ok])[:, None]) ** 2).sum() / ok.sum())
    return coef, loo


def fit_side_model(z: np.ndarray, emb: np.ndarray) -> SideModel | None:
    """The control variate with the smallest leave-one-out error, or None when there are too few masks.

    Candidates: the linear model (intercepts, player effects, effects x size) and
    the same plus pairwise terms at several ridge strengths (when there are more
    masks than pairs, at most 1,200 pairs). Intercepts are not penalised.
    """
    k, n = z.shape
    if k <= 3 * n + 2:
        return None
    npairs = n * (n - 1) // 2
    options: list[float | None] = [None]
    if n > 1 and npairs <= min(k, _MAX_PAIR_FEATURES):  # pair terms only with more masks than pairs
        options += list(_PAIR_RIDGES)
    best: tuple[float, np.ndarray, float | None] | None = None
    for ridge in options:
        x = SideModel.design(z, ridge is not None)
        penalty = np.full(x.shape[1], _PLAYER_RIDGE)
        penalty[: n + 1] = 0.0
        if ridge is not None:
            penalty[3 * n + 1 :] = ridge
        coef, loo = _ridge_fit(x, emb, penalty)
        if best is None or loo < best[0]:
            best = (loo, coef, ridge)
    _, coef, ridge = best
    pairs = None
    if ridge is not None:
        iu = np.triu_indices(n, 1)
        pairs = np.zeros((n, n, emb.shape[1]))
        pairs[iu] = coef[3 * n + 1 :]
        pairs[(iu[1], iu[0])] = coef[3 * n + 1 :]
    return SideModel(c=coef[: n + 1], beta=coef[n + 1 : 2 * n + 1], gamma=coef[2 * n + 1 : 3 * n + 1],
                     pairs=pairs, ridge=ridge)


def side_deltas(z: np.ndarray, emb: np.ndarray, *, control_variate: bool = True) -> np.ndarray:
    """Stratified estimates of the mean marginal embedding change of every player at every size.

    ``delta[a, i] ~ E_{|A|=a, i not in A}[e(A + i) - e(A)] = m_i^+(a+1) - m_i^-(a)``,
    where ``m_i^+(s)`` / ``m_i^-(s)`` are the mean embeddings of size-s masks with /
    without player i. With ``control_variate`` a :class:`SideModel` (chosen by
    leave-one-out error, fitted on the same masks) is subtracted and its exact
    stratum means added back: the estimate stays exact when every stratum is
    enumerated and only what the model misses is sampled.

    Args:
        z: (K, n) bool masks, every size 0..n present.
        emb: (K, d) their embeddings (normalised already for cosine).

    Returns:
        (n, n, d) array indexed [a, i].
    """
    k, n = z.shape
    zf = z.astype(np.float64)
    sizes = z.sum(axis=1)
    model = fit_side_model(z, emb) if control_variate else None
    if model is None:
        out, resid = np.zeros((n, n, emb.shape[1])), emb
    else:
        out, resid = model.deltas(), emb - model.predict(z)
    for a in range(n):
        up, down = sizes == a + 1, sizes == a
        zu, zd = zf[up], zf[down]
        plus = _ratio(zu.T @ resid[up], zu.sum(axis=0)[:, None])
        minus = _ratio((1.0 - zd).T @ resid[down], (1.0 - zd).sum(axis=0)[:, None])
        out[a] += plus - minus
    return out


def stratified_bilinear_from_samples(
    zq: np.ndarray, zh: np.ndarray, eq: np.ndarray, eh: np.ndarray, *, control_variate: bool = True
) -> tuple[FloatMatrix, FloatVector, FloatVector]:
    """Cross indices and side Shapley values for a bilinear score from a product sample.

    ``phi_ij = sum_{a,b} P(a,b) <delta_q[a, i], delta_h[b, j]>`` with the per-side
    :func:`side_deltas` (embeddings already normalised for cosine).

    Returns:
        (cross (nq, nh), query_side_values (nq,), hit_side_values (nh,)).
    """
    nq, nh = zq.shape[1], zh.shape[1]
    p = context_weights(nq, nh)
    dq = side_deltas(zq, eq, control_variate=control_variate)
    dh = side_deltas(zh, eh, control_variate=control_variate)
    cross = np.einsum("aid,ab,bjd->ij", dq, p, dh, optimize=True)
    full_q = eq[int(np.flatnonzero(zq.sum(1) == nq)[0])]
    full_h = eh[int(np.flatnonzero(zh.sum(1) == nh)[0])]
    side_q = (dq @ full_h).mean(axis=0)
    side_h = (dh @ full_q).mean(axis=0)
    return cross, side_q, side_h


def stratified_joint_from_samples(
    zq: np.ndarray, zh: np.ndarray, values: np.ndarray
) -> tuple[FloatMatrix, FloatVector, FloatVector]:
    """Cross indices and side Shapley values from a product sample.

    Args:
        zq: (Kq, nq) bool query masks, all sizes 0..nq present (sizes 1 and nq-1
            enumerated) and every player in and out of every middle size.
        zh: (Kh, nh) bool hit masks, likewise.
        values: (Kq, Kh) scores of every combination.

    Returns:
        (cross (nq, nh), query_side_values (nq,), hit_side_values (nh,)).
    """
    nq, nh = zq.shape[1], zh.shape[1]
    p = context_weights(nq, nh)
    sq, sh = zq.sum(axis=1), zh.sum(axis=1)
    rows = _size_blocks(zq, sq, nq)
    cols = _size_blocks(zh, sh, nh)
    for s, r in enumerate(rows):
        if r.size == 0:
            raise ValueError(f"stratified sampler: no query mask of size {s}; the plan is incomplete.")
    for t, c in enumerate(cols):
        if c.size == 0:
            raise ValueError(f"stratified sampler: no hit mask of size {t}; the plan is incomplete.")
    zhf = zh.astype(np.float64)
    # m[(sign_q, s)][(sign_h, t)] = (nq, nh) stratum means
    cross = np.zeros((nq, nh))
    q_parts = {}
    for s in range(nq + 1):
        plus, minus, cp, cm = _stratum_sums(zq[rows[s]], values[rows[s]])  # (nq, Kh)
        q_parts[s] = (plus, minus, cp, cm)
    h_parts = {}
    for t in range(nh + 1):
        c = cols[t]
        y = zhf[c]
        dp = y.sum(axis=0)
        h_parts[t] = (c, y, dp, c.size - dp)

    def mean(s: int, sign_q: int, t: int, sign_h: int) -> np.ndarray:
        plus, minus, cp, cm = q_parts[s]
        c, y, dp, dm = h_parts[t]
        a = (plus if sign_q else minus)[:, c]
        cnt_q = cp if sign_q else cm
        if sign_h:
            num, cnt_h = a @ y, dp
        else:
            num, cnt_h = a.sum(axis=1, keepdims=True) - a @ y, dm
        return _ratio(num, cnt_q[:, None] * cnt_h[None, :])

    for a in range(nq):
        for b in range(nh):
            if p[a, b] == 0.0:
                continue
            delta = mean(a + 1, 1, b + 1, 1) - mean(a + 1, 1, b, 0) - mean(a, 0, b + 1, 1) + mean(a, 0, b, 0)
            cross += p[a, b] * delta
    # side Shapley values: the other side complete (its full mask is the single size-n row)
    full_h_col = cols[nh][0]
    full_q_row = rows[nq][0]
    side_q = np.zeros(nq)
    for a in range(nq):
        plus, _, cp, _ = q_parts[a + 1]
        _, minus, _, cm = q_parts[a]
        side_q += (_ratio(plus[:, full_h_col], cp) - _ratio(minus[:, full_h_col], cm)) / nq
    side_h = np.zeros(nh)
    vt = values[full_q_row]
    for b in range(nh):
        c1, y1, dp1, _ = h_parts[b + 1]
        c0, y0, dp0, dm0 = h_parts[b]
        plus = vt[c1] @ y1
        minus = vt[c0].sum() - vt[c0] @ y0
        side_h += (_ratio(plus, dp1) - _ratio(minus, dm0)) / nh
    return cross, side_q, side_h


def product_kst_from_samples(
    zq: np.ndarray, zh: np.ndarray, values: np.ndarray, rng: np.random.Generator, *, max_rows: int = 20000
) -> tuple[FloatMatrix, FloatMatrix, FloatMatrix]:
    """Kernel Shapley-Taylor (constrained WLS) on a product design; for comparison with the stratified solve.

    Every (query mask, hit mask) combination is a joint coalition (a uniform
    subsample of ``max_rows`` when there are more), weighted by the Shapley-Taylor
    kernel pi(|A|+|B|) over its inclusion probability (K_a / C(nq, a)) (K_b / C(nh, b)).
    Uses the core's :func:`kernel_shapley_taylor_solve` (singletons, v(empty) and
    v(N) as hard constraints).

    Returns:
        (cross (nq, nh), query_interactions (nq, nq), hit_interactions (nh, nh)).
    """
    from .estimators.kernel_shapley_taylor import kernel_shapley_taylor_solve

    nq, nh = zq.shape[1], zh.shape[1]
    m = nq + nh
    sq, sh = zq.sum(1), zh.sum(1)
    kq = np.bincount(sq, minlength=nq + 1).astype(np.float64)
    kh = np.bincount(sh, minlength=nh + 1).astype(np.float64)
    inv_q = np.array([comb(nq, a) for a in range(nq + 1)], dtype=np.float64) / np.maximum(kq, 1)
    inv_h = np.array([comb(nh, b) for b in range(nh + 1)], dtype=np.float64) / np.maximum(kh, 1)
    total = zq.shape[0] * zh.shape[0]
    flat = np.arange(total) if total <= max_rows else rng.choice(total, size=max_rows, replace=False)
    rq, rh = np.divmod(flat, zh.shape[0])
    size = sq[rq] + sh[rh]
    pi = np.zeros(m + 1)
    for t in range(2, m):
        pi[t] = (m - 1) / (comb(m, t) * comb(t, 2) * (m - t))
    weights = pi[size] * inv_q[sq[rq]] * inv_h[sh[rh]]
    joint = np.concatenate([zq[rq], zh[rh]], axis=1)
    i_eq, i_eh = int(np.flatnonzero(sq == 0)[0]), int(np.flatnonzero(sh == 0)[0])
    i_fq, i_fh = int(np.flatnonzero(sq == nq)[0]), int(np.flatnonzero(sh == nh)[0])
    singles = np.concatenate([
        [values[int(np.flatnonzero((sq == 1) & zq[:, i])[0]), i_eh] for i in range(nq)],
        [values[i_eq, int(np.flatnonzero((sh == 1) & zh[:, j])[0])] for j in range(nh)],
    ])
    _, inter = kernel_shapley_taylor_solve(
        joint, values[rq, rh], weights, m,
        base_value=float(values[i_eq, i_eh]), full_value=float(values[i_fq, i_fh]), singleton_values=singles,
    )
    return inter[:nq, nq:], inter[:nq, :nq], inter[nq:, nq:]


# ----------------------------------------------------------------------------- entry point


def explain_joint(
    query_embed: EmbedFn | SideEvaluator,
    hit_embed: EmbedFn | SideEvaluator,
    n_query: int,
    n_hit: int,
    score: str = "cosine",
    method: str = "auto",
    budget: int | None = None,
    seed: int = 0,
    *,
    batch_size: int = 256,
    progress: bool | None = None,
    control_variate: bool = True,
) -> JointExplanation:
    """Order-2 Shapley-Taylor indices between query regions and hit regions, factorised.

    Args:
        query_embed: maps a (m, n_query) bool matrix (True = region kept) to (m, d)
            embeddings; or a :class:`SideEvaluator` (its cache is shared, so one set
            of masked-query encodes serves many hits).
        hit_embed: the same for the hit, (m, n_hit) -> (m, d).
        n_query: number of query players nq >= 1.
        n_hit: number of hit players nh >= 1.
        score: Qdrant metric: ``"cosine"``, ``"dot"``, ``"euclid"``, ``"manhattan"``.
            The game value is Qdrant's raw score (distances: lower = closer).
        method: ``"exact"`` (2^nq + 2^nh encoder passes), ``"stratified"``
            (product-design sampler), ``"product-kst"`` (the same design solved by
            constrained Kernel Shapley-Taylor regression; also estimates the
            within-side pairs) or ``"auto"`` (exact when it fits the budget, else
            ``"stratified"``).
        budget: encoder passes (query + hit) allowed; None means
            ``DEFAULT_JOINT_BUDGET`` (2048) for sampling and auto.
        seed: seed of the sampler.
        batch_size: masks per encoder call (callables only).
        progress: tqdm bar (None: automatic on a TTY for long runs).
        control_variate: stratified sampler with a bilinear score: subtract a
            fitted model of each side's embeddings (:class:`SideModel`, chosen by
            leave-one-out error; exact when every stratum is enumerated, lower
            variance otherwise). False: plain stratum means.

    Returns:
        :class:`JointExplanation`.

    Raises:
        ValueError: bad sizes, unknown score or method, a budget below the
            sampler's minimum (the message gives it), exact too large.
        EmbeddingError: the embedding functions returned NaN/inf or bad shapes.

    Example:
        >>> import numpy as np
        >>> wq, wh = np.random.default_rng(0).normal(size=(2, 4, 8))
        >>> res = explain_joint(lambda m: m @ wq, lambda m: m @ wh, 4, 4, score="dot", method="exact")
        >>> res.cross.shape, res.encoder_passes
        ((4, 4), 32)
    """
    t0 = time.perf_counter()
    metric = check_score(score)
    nq, nh = int(n_query), int(n_hit)
    if nq < 1 or nh < 1:
        raise ValueError(f"explain_joint needs n_query >= 1 and n_hit >= 1; got {n_query} and {n_hit}.")
    if method not in JOINT_METHODS:
        raise ValueError(f"explain_joint(method=...) must be one of {JOINT_METHODS}; got {method!r}.")
    if budget is not None and int(budget) < 1:
        raise ValueError(f"explain_joint needs budget >= 1 encoder passes; got {budget}.")
    qside = _wrap_side(query_embed, nq, batch_size, progress, "query")
    hside = _wrap_side(hit_embed, nh, batch_size, progress, "hit")
    q0, h0 = qside.encoder_passes, hside.encoder_passes
    exact_cost = 2**nq + 2**nh if max(nq, nh) <= 62 else float("inf")
    chosen = method
    if method == "auto":
        chosen = "exact" if exact_cost <= (budget or DEFAULT_JOINT_BUDGET) else "stratified"
    if chosen == "exact":
        if max(nq, nh) > MAX_EXACT_SIDE:
            raise ValueError(
                f"explain_joint(method='exact') enumerates 2^n masks per side; n_query={nq}, n_hit={nh} "
                f"exceed {MAX_EXACT_SIDE}. Use method='stratified' with a budget."
            )
        if metric not in BILINEAR_SCORES and nq + nh > MAX_EXACT_JOINT_TABLE:
            raise ValueError(
                f"explain_joint(method='exact', score={metric!r}) scores a 2^{nq} x 2^{nh} table; "
                f"n_query + n_hit must be <= {MAX_EXACT_JOINT_TABLE}. Use method='stratified' or a bilinear score."
            )
        if nq + nh < 2:
            raise ValueError("explain_joint needs at least 2 players in total.")
        eq, eh = qside.table(), hside.table()
        _check_dims(eq, eh)
        parts = exact_joint_from_tables(eq, eh, metric)
        n_eval = 2 ** (nq + nh)
        estimated, used_budget = False, None
        meta = {"query_masks": 2**nq, "hit_masks": 2**nh}
    else:
        b = int(budget or DEFAULT_JOINT_BUDGET)
        minimum = stratified_minimum_budget(nq, nh)
        if b < minimum:
            raise ValueError(
                f"explain_joint(method={chosen!r}) needs budget >= {minimum} encoder passes for "
                f"{nq} + {nh} players; got budget={b}. Raise the budget or use fewer players."
            )
        rng = np.random.default_rng(seed)
        p = context_weights(nq, nh)
        bq, bh = _split_budget(nq, nh, b)
        # round 1: the minimal stratified design on each side; round 2: the rest of the budget,
        # allocated over mask sizes in proportion to weight x within-size spread (Neyman allocation)
        zq, zh = pilot_side(nq, rng), pilot_side(nh, rng)
        eq, eh = qside.embed(zq), hside.embed(zh)
        _check_dims(eq, eh)
        zq2 = plan_side(nq, bq, _side_importance(p, 0) * stratum_spread(zq, _prep(eq, metric)), rng, pilot=zq)
        zh2 = plan_side(nh, bh, _side_importance(p, 1) * stratum_spread(zh, _prep(eh, metric)), rng, pilot=zh)
        eq, eh = np.concatenate([eq, qside.embed(zq2)]), np.concatenate([eh, hside.embed(zh2)])
        zq, zh = np.concatenate([zq, zq2]), np.concatenate([zh, zh2])
        values = score_matrix(eq, eh, metric)
        q_inter = h_inter = None
        if chosen == "product-kst":
            cross, q_inter, h_inter = product_kst_from_samples(zq, zh, values, rng)
            _, side_q, side_h = stratified_joint_from_samples(zq, zh, values)
        elif metric in BILINEAR_SCORES:
            cross, side_q, side_h = stratified_bilinear_from_samples(
                zq, zh, _prep(eq, metric), _prep(eh, metric), control_variate=control_variate
            )
        else:
            cross, side_q, side_h = stratified_joint_from_samples(zq, zh, values)
        sq, sh = zq.sum(1), zh.sum(1)
        i_empty_q, i_empty_h = int(np.flatnonzero(sq == 0)[0]), int(np.flatnonzero(sh == 0)[0])
        i_full_q, i_full_h = int(np.flatnonzero(sq == nq)[0]), int(np.flatnonzero(sh == nh)[0])
        single_q = [int(np.flatnonzero((sq == 1) & zq[:, i])[0]) for i in range(nq)]
        single_h = [int(np.flatnonzero((sh == 1) & zh[:, j])[0]) for j in range(nh)]
        base = float(values[i_empty_q, i_empty_h])
        parts = dict(
            cross=cross,
            query_values=values[single_q, i_empty_h] - base,
            hit_values=values[i_empty_q, single_h] - base,
            query_interactions=q_inter,
            hit_interactions=h_inter,
            query_side_values=side_q,
            hit_side_values=side_h,
            base_value=base,
            full_value=float(values[i_full_q, i_full_h]),
        )
        n_eval = int(zq.shape[0] * zh.shape[0])
        estimated, used_budget = True, b
        meta = {"seed": int(seed), "query_masks": int(zq.shape[0]), "hit_masks": int(zh.shape[0])}
    qp, hp = qside.encoder_passes - q0, hside.encoder_passes - h0
    meta["encoder_seconds"] = float(qside.encoder_seconds + hside.encoder_seconds)
    return JointExplanation(
        score=metric,
        method=chosen,
        encoder_passes=int(qp + hp),
        query_passes=int(qp),
        hit_passes=int(hp),
        n_evaluations=n_eval,
        estimated=estimated,
        budget=used_budget,
        seconds=time.perf_counter() - t0,
        meta=meta,
        **parts,
    )


def _check_dims(eq: np.ndarray, eh: np.ndarray) -> None:
    if eq.shape[1] != eh.shape[1]:
        raise ValueError(
            f"explain_joint: query embeddings have dimension {eq.shape[1]} but hit embeddings {eh.shape[1]}; "
            f"both sides must use the same encoder."
        )


def _split_budget(nq: int, nh: int, budget: int) -> tuple[int, int]:
    """Share the pass budget between the sides in proportion to their players, capped at 2^n."""
    min_q, min_h = sum(_side_minimum(nq)), sum(_side_minimum(nh))
    cap_q, cap_h = 2**nq if nq < 62 else budget, 2**nh if nh < 62 else budget
    bq = max(min_q, int(round(budget * nq / (nq + nh))))
    bq = min(bq, cap_q, budget - min_h)
    bh = min(budget - bq, cap_h)
    bq = min(cap_q, budget - bh)
    return bq, bh


__all__ = [
    "DEFAULT_JOINT_BUDGET",
    "JOINT_METHODS",
    "JointExplanation",
    "context_weights",
    "exact_joint_from_tables",
    "explain_joint",
    "plan_side",
    "stratified_joint_from_samples",
    "stratified_minimum_budget",
]
