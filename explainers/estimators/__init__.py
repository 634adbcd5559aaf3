"""Estimators (ask/tell): plan coalitions, then solve from their values."""

from .base import Estimator, Plan
from .exact import Exact
from .kernel_shap import KernelSHAP, kernel_shap_solve
from .kernel_shapley_taylor import KernelShapleyTaylor, kernel_shapley_taylor_solve
from .lime import LIME
from .occlusion import SBSM, Occlusion
from .permutation import PermutationSampling

__all__ = [
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
]
