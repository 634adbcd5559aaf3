"""The one vocabulary of qdrant-explain: method names, what ``auto`` means, baselines, players, budgets.

Every entry point (``explain_game``, ``explain_joint``, ``explain_pair``,
``SearchExplainer``, the CLI) and the README take their words from here, so
they cannot drift apart:

- :func:`list_methods` gives the method names for an order and a kind of game,
  read from the estimator registry (an estimator defined anywhere, by
  subclassing :class:`~qdrant_explain.explainers.estimators.base.Estimator`,
  appears here at once);
- :func:`resolve_method` is the one ``auto`` rule (it also refuses, before
  anything runs, a plan whose stated memory exceeds the memory cap:
  :func:`method_memory`, :mod:`~qdrant_explain.explainers.memory`);
- :func:`default_budget` is the budget used when none is given;
- :data:`BASELINES`, :data:`DEFAULT_PLAYERS` and :data:`BUDGET_MEANING` say what
  the other words mean.

Kinds: ``"game"`` (any coalition game, :func:`explain_game`, orders 1 and 2),
``"side"`` (one image side of a pair at order 1: its regions masked, the
other end fixed) and ``"joint"`` (an image pair at order 2: query regions x
hit regions, evaluated factorised).

Example:
    >>> resolve_method("auto", order=1, kind="side", n_players=11, budget=None)
    ('exact', None)
    >>> resolve_method("auto", order=1, kind="side", n_players=13, budget=None)
    ('kernel-shap', 1024)
    >>> resolve_method("auto", order=2, kind="joint", n_players=(16, 16), budget=600)
    ('stratified', 600)
"""

from __future__ import annotations

from .estimators.base import KIND_ORDERS, KINDS, Estimator, check_budget, check_kind, registered_estimators
from .memory import MEMORY_CAP_ENV, MemoryCapError, format_bytes, largest_fitting, memory_cap as _memory_cap

AUTO_EXACT_COST = 4096
"""``auto`` without a budget is exact when exact costs at most this (2^n for a game or an image side,
2^nq + 2^nh for a joint pair): up to 12 players for a game or a side."""

EXACT_METHOD = "exact"
"""The name of the exact method, in every kind."""

SAMPLERS: dict[tuple[str, int], str] = {
    ("game", 1): "kernel-shap",
    ("game", 2): "kernel-shapley-taylor",
    ("side", 1): "kernel-shap",
    ("joint", 2): "stratified",
}
"""(kind, order) -> the sampler ``auto`` picks when exact does not fit."""

DEFAULT_SIDE_BUDGET = 1024
"""Image side (order 1) without a budget: encoder passes per explained side (2^n when smaller)."""

DEFAULT_JOINT_BUDGET = 2048
"""Joint pair (order 2) without a budget: encoder passes, query and hit together."""

BASELINES: dict[str, str] = {
    "blur": "Gaussian blur of the image itself (sigma = 8% of the longer model-space side, at least 1 px): "
            "removes the regions' detail, keeps the colour layout",
    "blur:SIGMA": "Gaussian blur with sigma SIGMA pixels in model space (a finite number > 0)",
    "mean": "the mean colour of the image itself, everywhere",
    "gray": "mid grey (128, 128, 128), the same for every image and encoder; "
            "the same as 'grey' and 'constant:128,128,128' (the default: of the one-image fills it is the one "
            "that scores below the full pair most often, benchmarks/baselines.py)",
    "grey": "the same as 'gray': mid grey (128, 128, 128)",
    "constant": "open_clip's normalisation mean (123, 117, 104), which CLIP's preprocessing maps to zero",
    "constant:R,G,B": "one colour everywhere, three integers 0..255 (e.g. 'constant:0,0,0' for black)",
    "background:DIR": "removed regions filled from other photos (the images in folder DIR, a seeded sample of 8 "
                      "when it has more), the score averaged over them like SHAP's background data: each coalition "
                      "costs one encoder pass per background image; cosine and dot scores",
}
"""Baseline name -> what replaces a removed region. ``make_baseline`` accepts every name."""

DEFAULT_BASELINE = "gray"
"""The baseline used when none is given (every entry point: Python, SearchExplainer, the CLI).

Measured (``benchmarks/baselines.py``, demo photos, EfficientNet-Lite0): removing every region of one
side with ``gray`` scored below the full pair in 50/50 side games of top hits and 30/30 of unrelated
pairs; ``blur`` in 49/50 and 18/30. In the joint game (both sides removed) every one-image fill scores
at least as high as the pair (0-1/25); only ``background:DIR`` (19/25) does not."""

DEFAULT_PLAYERS: dict[int, str] = {1: "slic:24", 2: "slic:16"}
"""Player spec used when none is given, by order. ``slic:24`` gives 11-18 regions on the demo photos, whose
top 3 per side settle in a few hundred encoder passes under ``budget="auto"`` (``benchmarks/latency.py``);
``slic:32`` (19-27 regions) often ran to the pass cap, and ``slic:50`` took 94 s for one pair there."""

BUDGET_MEANING = (
    "For image games the budget counts encoder passes (distinct masked images encoded): per explained "
    "side at order 1, query and hit together at order 2; for explain_game it counts distinct coalitions "
    "evaluated."
)
"""What ``budget`` counts, in one sentence (for help texts and the README)."""


def list_methods(order: int, kind: str = "game") -> tuple[str, ...]:
    """The method names accepted for ``kind`` at ``order``, ``"auto"`` first, then by name.

    Args:
        order: 1 or 2 (``"side"`` has order 1 only, ``"joint"`` order 2 only).
        kind: ``"game"``, ``"side"`` or ``"joint"``.

    Returns:
        ``("auto", ...)``: every registered estimator of that kind and order.

    Raises:
        ValueError: unknown kind, or an order the kind does not have.

    Example:
        >>> list_methods(2, "joint")[:3]
        ('auto', 'exact', 'stratified')
    """
    kind = check_kind(kind, caller="list_methods")
    _check_kind_order(order, kind, caller="list_methods")
    names = sorted(name for name, cls in registered_estimators(kind).items() if order in cls.orders)
    return ("auto", *names)


def estimator_class(method: str, *, order: int, kind: str) -> type[Estimator]:
    """The registered class of ``method`` for ``kind``, checked to support ``order``.

    Raises:
        ValueError: unknown method (the message lists :func:`list_methods`) or an
            order the method or the kind does not support.
    """
    kind = check_kind(kind, caller="estimator_class")
    cls = registered_estimators(kind).get(method) if isinstance(method, str) else None
    if cls is None:
        orders = (order,) if order in KIND_ORDERS[kind] else KIND_ORDERS[kind]
        choices = sorted({m for o in orders for m in list_methods(o, kind)}, key=lambda m: (m != "auto", m))
        raise ValueError(
            f"Unknown method={method!r} for kind={kind!r}; choose one of {choices}."
        )
    if order not in cls.orders:
        supported = ", ".join(str(o) for o in cls.orders)
        if order in KIND_ORDERS[kind]:
            hint = f"At order {order} use method in {list(list_methods(order, kind)[1:])}."
        else:
            hint = _kind_order_text(kind)
        raise ValueError(f"method={method!r} supports order in ({supported}); got order={order!r}. {hint}")
    _check_kind_order(order, kind, caller=f"method={method!r}")
    return cls


def resolve_method(
    method: str,
    *,
    order: int,
    kind: str,
    n_players: int | tuple[int, int],
    budget: int | None,
    score: str | None = None,
    memory_cap: object = None,
    dim: int | None = None,
    games: int = 1,
) -> tuple[str, int | None]:
    """The one ``auto`` rule (and the check of any other method name), within a memory cap.

    ``"auto"`` is exact when its cost (2^n for a game or an image side,
    2^nq + 2^nh for a joint pair) is at most the budget, where no budget means
    :data:`AUTO_EXACT_COST`, the players fit the exact method's limits and its
    stated memory (:func:`method_memory`) fits the cap; else the kind's sampler
    (:data:`SAMPLERS`) with ``budget`` or :func:`default_budget`, if its
    memory fits. Otherwise, and for any other method whose memory does not
    fit, it refuses with the numbers (:class:`~.memory.MemoryCapError`), so
    nothing runs out of memory half-way.

    Args:
        method: ``"auto"`` or one of :func:`list_methods` ``(order, kind)``.
        order: 1 or 2.
        kind: ``"game"``, ``"side"`` or ``"joint"``.
        n_players: n (game, side) or ``(n_query, n_hit)`` (joint).
        budget: evaluations (games) or encoder passes (images), or None.
        score: the Qdrant metric of a joint pair (exact needs nq + nh <= 24 for
            ``euclid``/``manhattan``); None: no metric limit.
        memory_cap: bytes, or a size such as ``"4GiB"`` / ``"50%"``; None:
            ``$QDRANT_EXPLAIN_MEMORY_CAP``, else 80 % of the available memory
            (:func:`~.memory.memory_cap`).
        dim: embedding dimension held per evaluated coalition (image sides and
            joint pairs; None: 0 for games and sides, 512 for joint pairs).
        games: games solved on one plan (k hits sharing the masked query).

    Returns:
        ``(method, budget)``: the concrete method and the budget to plan with:
        None for ``"auto"`` resolved to exact, the given budget for an explicit
        ``"exact"``, else ``budget`` or :func:`default_budget`.

    Raises:
        ValueError: unknown kind or method (listing :func:`list_methods`), an
            unsupported order, bad ``n_players``, ``budget`` or ``memory_cap``.
        MemoryCapError: (a MemoryError and a ValueError) no method fits the
            memory cap; the message gives what it needs, the cap, and the
            largest budget that fits.

    Example:
        >>> resolve_method("auto", order=1, kind="game", n_players=12, budget=None)
        ('exact', None)
        >>> resolve_method("auto", order=1, kind="game", n_players=12, budget=4095)
        ('kernel-shap', 4095)
        >>> resolve_method("auto", order=2, kind="game", n_players=21, budget=2**21, memory_cap="1GiB")
        Traceback (most recent call last):
        ...
        qdrant_explain.explainers.memory.MemoryCapError: method='auto' (order 2, 21 players, budget 2097152) ...
    """
    kind = check_kind(kind, caller="resolve_method")
    sizes = _check_players(n_players, kind)
    if budget is not None:
        budget = check_budget(budget)
    cap = _memory_cap(memory_cap)
    dim = (512 if kind == "joint" else 0) if dim is None else int(dim)
    need = lambda name, b: method_memory(name, order=order, kind=kind, n_players=sizes, budget=b,  # noqa: E731
                                         dim=dim, games=games, score=score)
    tried: list[tuple[str, int | None, int]] = []
    if method == "auto":
        _check_kind_order(order, kind, caller="method='auto'")
        limit = AUTO_EXACT_COST if budget is None else budget
        exact = registered_estimators(kind).get(EXACT_METHOD)
        if exact is not None and exact_cost(sizes) <= limit and exact.fits(sizes, score=score):
            tried.append((EXACT_METHOD, None, need(EXACT_METHOD, None)))
            if cap is None or tried[-1][2] <= cap:
                return EXACT_METHOD, None
        method = SAMPLERS[(kind, order)]
        requested = "auto"
    else:
        requested = method
    estimator_class(method, order=order, kind=kind)
    planned = budget if method == EXACT_METHOD or budget is not None else default_budget(
        order, kind, sizes, method=method)
    if method == EXACT_METHOD and not registered_estimators(kind)[EXACT_METHOD].fits(sizes, score=score):
        return method, planned  # the exact estimator refuses it with its own limit (and a hint)
    tried.append((method, planned, need(method, planned)))
    if cap is not None and tried[-1][2] > cap:
        raise MemoryCapError(_refusal(requested, order, kind, sizes, budget, tried, cap, need),
                             needed=min(t[2] for t in tried), cap=cap)
    return method, planned


def method_memory(
    method: str,
    *,
    order: int,
    kind: str,
    n_players: int | tuple[int, int],
    budget: int | None,
    dim: int = 0,
    games: int = 1,
    score: str | None = None,
) -> int:
    """Bytes ``method`` states it needs (its estimator's ``memory_bytes``), before anything runs.

    Args:
        method: a concrete method (not ``"auto"``: see :func:`resolve_method`).
        order, kind, n_players, budget: as :func:`resolve_method` (None budget:
            the method's default; exact ignores it).
        dim: embedding dimension per evaluated coalition (0 for a plain game).
        games: games solved on one plan.
        score: a joint pair's metric (exact's table path for euclid/manhattan).

    Example:
        >>> method_memory("kernel-shapley-taylor", order=2, kind="game", n_players=21, budget=2**21) > 2**33
        True
    """
    kind = check_kind(kind, caller="method_memory")
    sizes = _check_players(n_players, kind)
    est = estimator_class(method, order=order, kind=kind)(order=order)
    if kind == "joint":
        return int(est.memory_bytes(sizes, budget, dim=dim, games=games, score=score))
    if budget is None and method != EXACT_METHOD:
        budget = default_budget(order, kind, sizes, method=method)
    return int(est.memory_bytes(sizes, budget, dim=dim, games=games))


def _refusal(requested: str, order: int, kind: str, sizes, budget, tried, cap: int, need) -> str:
    """The message of a plan that does not fit: what each method needs, the cap, what to change."""
    players = f"{sizes[0]} + {sizes[1]}" if isinstance(sizes, tuple) else f"{sizes}"
    head = f"method={requested!r} (order {order}, {players} players, budget {budget if budget is not None else 'default'})"
    needs = "; ".join(f"{m}{'' if b is None else f' at budget {b}'} needs {format_bytes(x)}" for m, b, x in tried)
    name, planned, _ = tried[-1]
    hints = []
    if name != EXACT_METHOD and planned is not None:
        est = estimator_class(name, order=order, kind=kind)(order=order)
        low = int(est.minimum_budget(sizes))
        best = largest_fitting(lambda b: need(name, b) <= cap, low, int(planned))
        if best is not None:
            hints.append(f"lower the budget to at most {best}")
    elif (kind, order) in SAMPLERS:
        hints.append(f"use a sampler with a budget (method={SAMPLERS[(kind, order)]!r})")
    hints.append(f"raise the cap (memory_cap=..., --memory-cap or ${MEMORY_CAP_ENV})")
    hints.append("or use fewer players")
    text = ", ".join(hints)
    return (f"{head} does not fit the memory cap: {needs}; the cap is {format_bytes(cap)}. "
            f"{text[0].upper()}{text[1:]}.")


def default_budget(order: int, kind: str, n_players: int | tuple[int, int], *, method: str | None = None) -> int:
    """The budget used when none is given.

    Args:
        order: 1 or 2.
        kind: ``"game"``, ``"side"`` or ``"joint"``.
        n_players: n, or ``(n_query, n_hit)`` for a joint pair.
        method: the method (None or ``"auto"``: the kind's sampler, what ``auto``
            plans with when exact does not fit; ``"exact"``: the exact cost).

    Returns:
        Games: the estimator's own default (Kernel SHAP: min(2^n, 2n + 2048)).
        Image sides: min(2^n, 1024) encoder passes per side. Joint pairs: 2048
        encoder passes. Never below the method's minimum budget.

    Raises:
        ValueError: as :func:`resolve_method`.

    Example:
        >>> default_budget(1, "side", 50), default_budget(2, "joint", (16, 16))
        (1024, 2048)
    """
    kind = check_kind(kind, caller="default_budget")
    sizes = _check_players(n_players, kind)
    if method is None or method == "auto":
        _check_kind_order(order, kind, caller="default_budget")
        method = SAMPLERS[(kind, order)]
    cls = estimator_class(method, order=order, kind=kind)
    if method == EXACT_METHOD:
        return exact_cost(sizes)
    est = cls(order=order)
    if kind == "game":
        est.check_order(sizes)
        return int(est.default_budget(sizes))
    if kind == "side":
        est.check_order(sizes)
        return int(max(min(2**sizes, DEFAULT_SIDE_BUDGET), est.minimum_budget(sizes)))
    return int(max(DEFAULT_JOINT_BUDGET, est.minimum_budget(sizes)))


def exact_cost(n_players: int | tuple[int, int]) -> int:
    """What exact costs: 2^n evaluations for n players, 2^nq + 2^nh encoder passes for a pair."""
    if isinstance(n_players, tuple):
        return 2 ** n_players[0] + 2 ** n_players[1]
    return 2**n_players


def _check_kind_order(order: object, kind: str, *, caller: str) -> None:
    if order not in KIND_ORDERS[kind]:
        raise ValueError(f"{caller}: got order={order!r}. {_kind_order_text(kind)}")


def _kind_order_text(kind: str) -> str:
    have = " and ".join(str(o) for o in KIND_ORDERS[kind])
    hint = {
        "side": "Use kind='joint' for order-2 image pairs (query regions x hit regions).",
        "joint": "Use kind='side' for order-1 image explanations.",
    }.get(kind, "Use order=1 (attributions) or order=2 (pair interactions).")
    return f"kind={kind!r} has order {have}; {hint}"


def _check_players(n_players: object, kind: str) -> int | tuple[int, int]:
    def one(n: object, what: str) -> int:
        import numpy as np

        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{what} must be an integer >= 1; got {n!r}.")
        return int(n)

    if kind == "joint":
        if not (isinstance(n_players, (tuple, list)) and len(n_players) == 2):
            raise ValueError(
                f"kind='joint' needs n_players=(n_query, n_hit); got {n_players!r}. Pass both side sizes."
            )
        return one(n_players[0], "n_query"), one(n_players[1], "n_hit")
    return one(n_players, "n_players")


__all__ = [
    "AUTO_EXACT_COST",
    "BASELINES",
    "DEFAULT_BASELINE",
    "BUDGET_MEANING",
    "DEFAULT_JOINT_BUDGET",
    "DEFAULT_PLAYERS",
    "DEFAULT_SIDE_BUDGET",
    "EXACT_METHOD",
    "KINDS",
    "SAMPLERS",
    "default_budget",
    "estimator_class",
    "exact_cost",
    "list_methods",
    "method_memory",
    "resolve_method",
]
