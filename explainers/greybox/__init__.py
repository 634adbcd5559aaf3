"""Grey-box explanations for encoders whose feature maps are readable (Hamilton et al.'s search-CAM,
search-GradCAM and SAM): closed forms in one forward (and backward) pass per image, numpy only.

:mod:`.maps` holds the closed forms and the feature-cell games that check them; :mod:`.methods`
registers them as methods (``search-cam``, ``search-gradcam`` for image sides, ``sam`` for joint pairs).
Reading the feature maps is the encoders' job (``qdrant_explain.connectors``).
"""

from .maps import (
    GREY_BOX_SCORES,
    FeatureMaps,
    check_grey_box_score,
    deviation,
    feature_cell_embed,
    feature_cell_game,
    search_activation_map,
    search_cam,
    search_gradcam,
)
from .methods import BLACK_BOX_HINT, REFERENCE_BUDGET, SAM, GreyBoxMethod, SearchCAM, SearchGradCAM, is_grey_box, why_not_exact

__all__ = [
    "BLACK_BOX_HINT",
    "GREY_BOX_SCORES",
    "REFERENCE_BUDGET",
    "SAM",
    "FeatureMaps",
    "GreyBoxMethod",
    "SearchCAM",
    "SearchGradCAM",
    "check_grey_box_score",
    "deviation",
    "feature_cell_embed",
    "feature_cell_game",
    "is_grey_box",
    "search_activation_map",
    "search_cam",
    "search_gradcam",
    "why_not_exact",
]
