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
]
