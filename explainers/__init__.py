"""Model-free game theory for qdrant-explain: games, estimators, masking, results.

Depends on numpy (and scikit-image for superpixels) only: no Qdrant, no model code.
"""

from ._typing import CoalitionMatrix, FloatMatrix, FloatVector, GameValues, ValueFunction
from .coalitions import all_coalitions, coalition_index
from .evaluation import Evaluation, evaluate
from .exact import (
    banzhaf_interactions,
    banzhaf_values,
    inverse_moebius_transform,
    moebius_transform,
    shapley_taylor_order2,
    shapley_taylor_table,
    shapley_values,
    superset_sums,
)
from .result import Explanation
from .scores import SCORES, higher_is_better, score_matrix
from .players import Players, SegmentCache, make_players
from .masking import make_baseline, masked_batch
from .side import EmbeddingError, ImageSide, SideEvaluator
from .games import HitGame, JointGame, QueryGame, RelativeGame
from .joint import JointEstimator, JointExact, JointExplanation, StratifiedJoint, explain_joint
from .api import default_budget, explain_game, get_estimator, list_estimators, plan_game, solve_game
from . import uncertainty, vocabulary
from .uncertainty import SamplingDesign, bootstrap_stderr, confidence_interval, covers_zero, critical_value
from .vocabulary import BASELINES, DEFAULT_PLAYERS, list_methods, resolve_method
from .estimators.base import register_estimator, registered_estimators, unregister_estimator
from . import greybox  # registers search-cam, search-gradcam (side) and sam (joint)
from .greybox import SAM, FeatureMaps, SearchCAM, SearchGradCAM, is_grey_box
from .estimators import (
    LIME,
    SBSM,
    Estimator,
    Exact,
    KernelSHAP,
    KernelShapleyTaylor,
    Occlusion,
    PermutationSampling,
    Plan,
    kernel_shap_solve,
    kernel_shapley_taylor_solve,
)

__all__ = [
    # types
    "CoalitionMatrix",
    "FloatMatrix",
    "FloatVector",
    "GameValues",
    "ValueFunction",
    "Explanation",
    "Evaluation",
    # coalitions and evaluation
    "all_coalitions",
    "coalition_index",
    "evaluate",
    # exact transforms
    "moebius_transform",
    "inverse_moebius_transform",
    "superset_sums",
    "shapley_values",
    "banzhaf_values",
    "banzhaf_interactions",
    "shapley_taylor_table",
    "shapley_taylor_order2",
    # estimators and the entry point
    "explain_game",
    "plan_game",
    "solve_game",
    "get_estimator",
    "list_estimators",
    "default_budget",
    "register_estimator",
    "unregister_estimator",
    "registered_estimators",
    # the vocabulary (qdrant_explain.explainers.vocabulary; its default_budget is by kind)
    "vocabulary",
    "list_methods",
    "resolve_method",
    "BASELINES",
    "DEFAULT_PLAYERS",
    "Estimator",
    "Plan",
    "Exact",
    "KernelSHAP",
    "KernelShapleyTaylor",
    "PermutationSampling",
    "LIME",
    "Occlusion",
    "SBSM",
    "kernel_shap_solve",
    "kernel_shapley_taylor_solve",
    # image games and the factorised joint game (issue 3)
    "SCORES",
    "score_matrix",
    "higher_is_better",
    "Players",
    "SegmentCache",
    "make_players",
    "make_baseline",
    "masked_batch",
    "SideEvaluator",
    "ImageSide",
    "EmbeddingError",
    "QueryGame",
    "HitGame",
    "RelativeGame",
    "JointGame",
    "JointExplanation",
    "JointEstimator",
    "JointExact",
    "StratifiedJoint",
    "explain_joint",
    # grey-box methods (issue 19): closed forms from feature maps
    "greybox",
    "FeatureMaps",
    "SearchCAM",
    "SearchGradCAM",
    "SAM",
    "is_grey_box",
    # standard errors and intervals (issue 17)
    "uncertainty",
    "SamplingDesign",
    "bootstrap_stderr",
    "confidence_interval",
    "covers_zero",
    "critical_value",
]
