"""The anytime budget's instant preview (issue 18 calls it): a grey-box map of a pair in 1-2 passes per image.

:func:`instant_preview` returns search-CAM (order 1) or SAM (order 2) for encoders with readable
feature maps, and None otherwise (or for distance scores, which have no closed form), so that the
anytime explanation can show it first and replace it with the black-box result when that settles.
"""

from __future__ import annotations

from typing import Any

from .greybox import PREVIEW_METHODS


def instant_preview(query_image: object, hit_image: object, encoder: Any, *, order: int = 1, score: str = "cosine",
                    side: str = "both", hit_embedding: object = None) -> Any:
    """The anytime budget's instant first frame: the grey-box map of a pair, or None where the encoder has none.

    Order 1 gives search-CAM on each side, order 2 SAM (query cells x hit cells), in one forward
    pass per image (the whole cost; compare 1,024-2,048 passes of the black-box default). The
    anytime budget (``budget="auto"``) says its strongest places first, before the black-box rounds
    (:func:`qdrant_explain.sides.explain_sides` with a ``log``). The result is a
    :class:`~qdrant_explain.results.PairExplanation` whose ``extra["grey_box"]`` says whether the
    map is exact and how far it measured from the feature-cell game.

    Args:
        query_image, hit_image, encoder, score, side, hit_embedding: as in :func:`~qdrant_explain.explain_pair`.
        order: 1 (search-CAM) or 2 (SAM).

    Returns:
        A :class:`~qdrant_explain.results.PairExplanation`, or None when the encoder has no feature maps,
        or the score is a distance (no closed form): the caller then shows the black-box result only.
    """
    from qdrant_explain.explainers.greybox import GREY_BOX_SCORES
    from qdrant_explain.explainers.scores import check_score

    from .greybox import explain_sides_grey, has_grey_box
    from .pair import pair_explanation
    from .sides import SIDES, ImageSide, VectorSide, check_encoder, grey_kit, side_name

    enc = check_encoder(encoder, "instant_preview")
    if order not in PREVIEW_METHODS:
        raise ValueError(f"instant_preview(order=...) must be 1 or 2; got {order!r}.")
    if side not in SIDES:
        raise ValueError(f"instant_preview(side=...) must be one of {SIDES}; got {side!r}.")
    metric = check_score(score)
    if not has_grey_box(enc) or metric not in GREY_BOX_SCORES:
        return None
    query = ImageSide(query_image, enc, name="query", label=side_name(query_image))
    if hit_image is None:
        if hit_embedding is None or order == 2:
            raise ValueError("instant_preview needs hit_image (or, at order 1, hit_embedding).")
        hit = VectorSide(hit_embedding, name="hit")
        side = "query"
    else:
        hit = ImageSide(hit_image, enc, name="hit", label=side_name(hit_image), vector=hit_embedding)
    outcome = explain_sides_grey(query, [hit], order=order, method=PREVIEW_METHODS[order], metric=metric,
                                 side=side, kit=grey_kit(), measure=False)[0]
    return pair_explanation(outcome, encoder=str(getattr(enc, "name", type(enc).__name__)), seed=0,
                            baseline="zero feature cells", metric=metric)


__all__ = ["PREVIEW_METHODS", "instant_preview"]
