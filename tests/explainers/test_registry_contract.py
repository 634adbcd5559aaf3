"""One contract, every registered estimator (sklearn's parametrize_with_checks, shapiq's approximator tests).

The cases are read from the registry when the tests are collected: every
estimator of every kind, at every order it declares. Nothing here names a
method except ``"exact"``, the reference. What each estimator claims
(``exact_orders``, ``efficient_orders``, ``stochastic``) is checked; what it
does not claim is not. ``test_a_new_estimator_is_picked_up`` proves that an
estimator defined later (here, inside the test) gets the same checks.
"""

from __future__ import annotations

import numpy as np
import pytest
from _estimator_games import TableGame, random_table

from qdrant_explain.explainers import (
    ImageSide,
    QueryGame,
    explain_game,
    explain_joint,
    get_estimator,
    make_baseline,
    plan_game,
)
from qdrant_explain.explainers.estimators.base import (
    KIND_ORDERS,
    KINDS,
    Estimator,
    Plan,
    registered_estimators,
    unregister_estimator,
)
from qdrant_explain.explainers.exact import shapley_values
from qdrant_explain.explainers.vocabulary import list_methods, resolve_method

N = 6  # players of the game and side cases
NQ, NH = 4, 4  # players of the joint cases


def registry_cases() -> list[tuple[str, str, int]]:
    """(kind, name, order) for every registered estimator and every order it declares for that kind."""
    return [
        (kind, name, order)
        for kind in KINDS
        for name, cls in registered_estimators(kind).items()
        for order in cls.orders
        if order in KIND_ORDERS[kind]
    ]


CASES = registry_cases()


# ----------------------------------------------------------------------------- games of each kind


def _game(kind: str, seed: int):
    """A non-additive game on N players: a random table ("game") or a masked image vs a fixed hit ("side")."""
    if kind == "game":
        return TableGame(random_table(N, seed=seed)), None
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (8, 12, 3)).astype(np.uint8)
    labels = np.repeat(np.repeat(np.arange(N).reshape(2, 3), 4, axis=0), 4, axis=1)
    w = rng.normal(size=(8 * 12 * 3, 5)) / 60.0
    encode = lambda images: np.tanh((images.reshape(len(images), -1) / 255.0) @ w + 0.1)  # noqa: E731
    side = ImageSide(pixels, make_baseline("gray", pixels), labels, encode, name="query")
    return QueryGame(side, rng.normal(size=5), "cosine"), side


def _embed(n: int, seed: int, record: list | None = None, dim: int = 6):
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(n, 7)), rng.normal(size=(7, dim))

    def f(masks):
        if record is not None:
            record.extend(np.asarray(masks, dtype=bool).tolist())
        return np.tanh(np.tanh(np.asarray(masks, float) @ w1 + 0.3) @ w2)

    return f


def _explain(kind: str, name: str, order: int, *, budget: int | None, seed: int, game_seed: int = 0):
    """Explain the kind's test game with ``name``; return (result, game)."""
    if kind == "joint":
        res = explain_joint(_embed(NQ, game_seed), _embed(NH, game_seed + 1), NQ, NH, method=name, budget=budget,
                            seed=seed)
        return res, None
    game, side = _game(kind, game_seed)
    return explain_game(game, N, method=name, order=order, budget=budget, seed=seed), (game if side is None else side)


def _full_budget(kind: str) -> int:
    return 2**NQ + 2**NH if kind == "joint" else 2**N


def _partial_budget(cls: type[Estimator], kind: str, order: int) -> int:
    """A budget below the full one (where the method's minimum allows)."""
    if kind == "joint":
        return max(cls(order=order).minimum_budget((NQ, NH)), _full_budget(kind) - 8)
    return max(get_estimator(cls.name, order=order).minimum_budget(N), 2**N // 2)


def _arrays(res) -> list[np.ndarray]:
    if hasattr(res, "cross"):
        parts = [res.cross, res.query_values, res.hit_values, res.query_side_values, res.hit_side_values,
                 res.query_interactions, res.hit_interactions]
    else:
        parts = [res.values, res.interactions]
    return [np.zeros(0) if p is None else np.asarray(p) for p in parts]


# ----------------------------------------------------------------------------- the checks


def check_exact_at_full_budget(kind: str, name: str, order: int) -> None:
    got, _ = _explain(kind, name, order, budget=_full_budget(kind), seed=3)
    want, _ = _explain(kind, "exact", order, budget=None, seed=0)
    assert got.estimated is False or kind == "joint" or name != "exact"
    for a, b in zip(_arrays(got), _arrays(want)):
        if a.size and b.size:
            np.testing.assert_allclose(a, b, atol=1e-8)
    assert got.full_value == pytest.approx(want.full_value) and got.base_value == pytest.approx(want.base_value)


def check_efficiency(kind: str, name: str, order: int) -> None:
    cls = registered_estimators(kind)[name]
    for seed in (0, 1):
        res, _ = _explain(kind, name, order, budget=_partial_budget(cls, kind, order), seed=seed, game_seed=seed)
        if kind == "joint":
            assert abs(res.efficiency_gap()) < 1e-9
            continue
        total = res.values.sum() + (0.0 if res.interactions is None else np.triu(res.interactions, 1).sum())
        assert total == pytest.approx(res.full_value - res.base_value, abs=1e-9)


def check_seeded_reproducibility(kind: str, name: str, order: int) -> None:
    cls = registered_estimators(kind)[name]
    budget = _partial_budget(cls, kind, order)
    a, _ = _explain(kind, name, order, budget=budget, seed=5)
    b, _ = _explain(kind, name, order, budget=budget, seed=5)
    for x, y in zip(_arrays(a), _arrays(b)):
        np.testing.assert_array_equal(x, y)
    if kind == "joint":
        plans = []
        for seed in (5, 6):
            seen: list = []
            explain_joint(_embed(NQ, 0, seen), _embed(NH, 1), NQ, NH, method=name, budget=budget, seed=seed)
            plans.append(sorted(map(tuple, seen)))
    else:
        _, game = _game(kind, 0)
        plans = [plan_game(N, method=name, order=order, budget=budget, seed=s)[1].coalitions for s in (5, 6)]
        plans = [sorted(map(tuple, p.tolist())) for p in plans]
    assert (plans[0] != plans[1]) == cls.stochastic, (
        f"{name}: stochastic={cls.stochastic}, but seeds 5 and 6 gave {'different' if plans[0] != plans[1] else 'equal'} "
        f"plans at budget {budget}"
    )


def check_budget_is_kept(kind: str, name: str, order: int) -> None:
    cls = registered_estimators(kind)[name]
    budget = _partial_budget(cls, kind, order)
    if kind == "joint":
        res, _ = _explain(kind, name, order, budget=budget if name != "exact" else None, seed=0)
        assert res.encoder_passes <= (budget if name != "exact" else _full_budget(kind))
        return
    res, game = _explain(kind, name, order, budget=budget, seed=0)
    counted = len(game.seen) if kind == "game" else game.encoder_passes  # distinct coalitions / encoder passes
    assert res.n_evaluations == counted <= budget


def check_unsupported_orders_and_kinds(kind: str, name: str, order: int) -> None:
    cls = registered_estimators(kind)[name]
    for bad in sorted({1, 2, 3} - set(cls.orders)):
        with pytest.raises(ValueError, match=rf"supports order in \(.*\); got order={bad}"):
            get_estimator(name, order=bad, kind=kind)
        if kind != "joint":
            with pytest.raises(ValueError, match=rf"got order={bad}"):
                explain_game(TableGame(random_table(N, 0)), N, method=name, order=bad)
    for other in KINDS:
        if other in cls.kinds or registered_estimators(other).get(name) is not None:
            continue
        other_order = KIND_ORDERS[other][0]
        with pytest.raises(ValueError, match=rf"Unknown method={name!r} for kind={other!r}; choose one of"):
            resolve_method(name, order=other_order, kind=other, n_players=(3, 3) if other == "joint" else 3,
                           budget=None)
        if other == "joint":
            with pytest.raises(ValueError, match=rf"Unknown method={name!r}"):
                explain_joint(_embed(3, 0), _embed(3, 1), 3, 3, method=name)
        elif other == "game":
            with pytest.raises(ValueError, match=rf"Unknown method={name!r}"):
                explain_game(TableGame(random_table(N, 0)), N, method=name, order=other_order)
    if kind == "side":
        with pytest.raises(ValueError, match=r"got order=2. kind='side' has order 1; Use kind='joint'"):
            resolve_method(name, order=2, kind="side", n_players=N, budget=None)


MEMORY_N, MEMORY_JOINT, MEMORY_DIM = 14, (10, 10), 64  # large enough that arrays, not Python objects, dominate
MEMORY_SLACK = 10
"""A statement may be at most this many times the measured peak (plus the fixed 1 MiB it always adds)."""


def _measured_peak(run) -> int:
    """Peak bytes traced while ``run()`` runs (numpy reports its buffers to tracemalloc); warmed up once."""
    import tracemalloc

    run()  # lazy imports and caches are not the method's memory
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def check_memory_is_stated(kind: str, name: str, order: int) -> None:
    """memory_bytes is an upper bound of the measured peak, and not a wild one (within MEMORY_SLACK)."""
    from qdrant_explain.explainers.memory import FIXED_OVERHEAD
    from qdrant_explain.explainers.vocabulary import method_memory

    cls = registered_estimators(kind)[name]
    if kind == "joint":
        nq, nh = MEMORY_JOINT
        budget = None if cls.exact_orders and name == "exact" else max(cls(order=order).minimum_budget((nq, nh)), 600)
        cases = []
        for score in ("cosine", "euclid"):
            run = lambda: explain_joint(_embed(nq, 0, dim=MEMORY_DIM), _embed(nh, 1, dim=MEMORY_DIM), nq, nh,  # noqa: E731
                                        score=score, method=name, budget=budget, memory_cap="1PiB")
            stated = method_memory(name, order=order, kind=kind, n_players=(nq, nh), budget=budget, dim=MEMORY_DIM,
                                   score=score)
            cases.append((score, stated, _measured_peak(run)))
    else:
        n = MEMORY_N
        est = get_estimator(name, order=order)
        budget = max(est.minimum_budget(n), 3000) if est.minimum_budget(n) < 2**n else None
        w = np.linspace(-1.0, 1.0, n)
        run = lambda: explain_game(lambda z: z @ w, n, method=name, order=order, budget=budget,  # noqa: E731
                                   memory_cap="1PiB")
        stated = method_memory(name, order=order, kind="game", n_players=n, budget=budget)
        cases = [("game", stated, _measured_peak(run))]
    for what, stated, peak in cases:
        assert peak <= stated <= MEMORY_SLACK * peak + FIXED_OVERHEAD, (
            f"{name} (order {order}, {what}): memory_bytes states {stated / 2**20:.2f} MiB, measured peak "
            f"{peak / 2**20:.2f} MiB; the statement must be >= the peak and <= {MEMORY_SLACK}x it + 1 MiB"
        )


CHECKS = {
    check_exact_at_full_budget: lambda cls, order: order in cls.exact_orders,
    check_efficiency: lambda cls, order: order in cls.efficient_orders,
    check_seeded_reproducibility: lambda cls, order: True,
    check_budget_is_kept: lambda cls, order: True,
    check_unsupported_orders_and_kinds: lambda cls, order: True,
    check_memory_is_stated: lambda cls, order: True,
}
"""Each check and when it applies (what the estimator claims)."""


def contract_cases() -> list[tuple]:
    """(check, kind, name, order) for every registry case and every check its claims call for."""
    return [
        (check, kind, name, order)
        for kind, name, order in registry_cases()
        for check, applies in CHECKS.items()
        if applies(registered_estimators(kind)[name], order)
    ]


CONTRACT = contract_cases()


@pytest.mark.parametrize(
    "check,kind,name,order", CONTRACT, ids=[f"{k}-{n}-order{o}-{c.__name__[6:]}" for c, k, n, o in CONTRACT]
)
def test_contract(check, kind, name, order):
    check(kind, name, order)


def test_every_listed_method_is_a_case():
    """The vocabulary lists exactly what the contract covers (no method escapes the checks)."""
    for kind in KINDS:
        for order in KIND_ORDERS[kind]:
            assert set(list_methods(order, kind)[1:]) == {n for k, n, o in CASES if k == kind and o == order}


# ----------------------------------------------------------------------------- a new estimator is picked up


def test_a_new_estimator_is_picked_up():
    """A throw-away estimator defined here is registered, listed, resolvable and passes the same checks."""

    class ShuffledExact(Estimator):
        """Exact Shapley values from all 2^n coalitions, planned in a seeded row order (the same set)."""

        name, orders = "qe-test-shuffled-exact", (1,)
        exact_orders = efficient_orders = (1,)

        def minimum_budget(self, n_players: int) -> int:
            return 2**n_players

        def _plan(self, n_players, budget, rng):
            from qdrant_explain.explainers.coalitions import all_coalitions

            z = all_coalitions(n_players)
            order = np.concatenate([[0, 2**n_players - 1], 1 + rng.permutation(2**n_players - 2)])
            return Plan(z[order], n_players, budget, None, {"order": order})

        def _solve(self, plan, values):
            table = np.empty_like(values)
            table[plan.info["order"]] = values
            return self._explanation(plan, shapley_values(table), None, base_value=table[0],
                                     full_value=table[-1], estimated=False)

    try:
        new = [c for c in registry_cases() if c[1] == ShuffledExact.name]
        assert new == [("game", ShuffledExact.name, 1), ("side", ShuffledExact.name, 1)]
        assert ShuffledExact.name in list_methods(1, "game") and ShuffledExact.name in list_methods(1, "side")
        checks = [(c, k, n, o) for c, k, n, o in contract_cases() if n == ShuffledExact.name]
        assert [c for c, *_ in checks] == 2 * list(CHECKS)  # it claims exactness and efficiency: every check applies
        for check, *case in checks:
            check(*case)
        # a false claim is caught: the planned set never depends on the seed
        ShuffledExact.stochastic = True
        with pytest.raises(AssertionError, match="stochastic=True, but seeds 5 and 6 gave equal plans"):
            check_seeded_reproducibility("game", ShuffledExact.name, 1)
    finally:
        unregister_estimator(ShuffledExact.name)
    assert ShuffledExact.name not in list_methods(1, "game")


def test_a_broken_claim_fails_the_contract():
    """The checks can fail: an estimator that claims efficiency it does not have is caught."""

    class Boastful(Estimator):
        name, orders = "qe-test-boastful", (1,)
        efficient_orders = (1,)

        def minimum_budget(self, n_players: int) -> int:
            return 2

        def _plan(self, n_players, budget, rng):
            return Plan(np.stack([np.zeros(n_players, bool), np.ones(n_players, bool)]), n_players, budget, None, {})

        def _solve(self, plan, values):
            return self._explanation(plan, np.ones(plan.n_players), None, base_value=values[0],
                                     full_value=values[1], estimated=True)

    try:
        with pytest.raises(AssertionError):
            check_efficiency("game", Boastful.name, 1)
    finally:
        unregister_estimator(Boastful.name)


def test_an_estimator_from_outside_the_package_passes_the_contract(product_kst):
    """benchmarks/_product_kst.py (kind "joint") registers by subclassing and meets every claim it makes."""
    checks = [(c, k, n, o) for c, k, n, o in contract_cases() if n == "product-kst"]
    assert {(k, o) for _, k, _, o in checks} == {("joint", 2)} and len(checks) == len(CHECKS)
    for check, *case in checks:
        check(*case)


def test_an_understated_memory_fails_the_contract():
    """The memory check can fail: an estimator that claims to need 1 byte is caught (and one that claims 100x)."""
    from qdrant_explain.explainers.estimators.kernel_shap import KernelSHAP

    class Modest(KernelSHAP):
        name = "qe-test-modest"

        def memory_bytes(self, n_players, budget=None, *, dim=0, games=1):
            return 1

    class Anxious(KernelSHAP):
        name = "qe-test-anxious"

        def memory_bytes(self, n_players, budget=None, *, dim=0, games=1):
            return 100 * super().memory_bytes(n_players, budget, dim=dim, games=games)

    try:
        for cls in (Modest, Anxious):
            with pytest.raises(AssertionError, match="the statement must be >= the peak"):
                check_memory_is_stated("game", cls.name, 1)
    finally:
        unregister_estimator(Modest.name)
        unregister_estimator(Anxious.name)
