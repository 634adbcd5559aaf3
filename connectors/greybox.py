"""The grey-box capability of an encoder: read its feature maps and gradients, or say why not.

An encoder is grey-box when it has ``feature_maps(pixels) -> [FeatureMaps]`` (one forward
pass per image) and, for search-GradCAM, ``feature_gradients(activations, targets, metric=,
weights=)`` (one backward pass through its pooling head per image). The torch encoders
(:class:`~.torch_base.TorchEncoder`: EfficientNet-Lite0, open_clip ResNets and ViTs) have both;
any other encoder (a callable, a remote model) gets :class:`GreyBoxUnavailableError`, which
names the black-box methods that need only ``encode``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .torch_base import FeatureParts, GreyBoxUnavailableError, head_gradients, no_feature_maps_message, read_feature_maps


def has_feature_maps(encoder: Any) -> bool:
    """Whether ``encoder`` can give its feature maps (``has_feature_maps`` when it says, else ``feature_maps`` exists)."""
    if not callable(getattr(encoder, "feature_maps", None)):
        return False
    return bool(getattr(encoder, "has_feature_maps", True))


def read_features(encoder: Any, pixels: np.ndarray, *, method: str | None = None) -> list:
    """The :class:`~qdrant_explain.explainers.greybox.FeatureMaps` of each model-space image.

    Raises:
        GreyBoxUnavailableError: the encoder has no feature maps (the message names the black-box methods).
    """
    if not has_feature_maps(encoder):
        raise GreyBoxUnavailableError(no_feature_maps_message(encoder, method))
    return list(encoder.feature_maps(np.asarray(pixels)))


def read_gradients(encoder: Any, activations: np.ndarray, targets: np.ndarray, *, metric: str,
                   weights: np.ndarray | None = None, method: str = "search-gradcam") -> np.ndarray:
    """d score / d feature map, (m, h, w, c), for each image against its (k, d) targets.

    Raises:
        GreyBoxUnavailableError: the encoder has feature maps but no gradients.
    """
    fn = getattr(encoder, "feature_gradients", None)
    if not callable(fn):
        raise GreyBoxUnavailableError(
            f"method={method!r} needs the gradient of the score with respect to the feature map, but encoder "
            f"{getattr(encoder, 'name', type(encoder).__name__)!r} has no feature_gradients(...); use "
            f"method='search-cam' (feature maps only) or a black-box method.")
    return np.asarray(fn(activations, targets, metric=metric, weights=weights), dtype=np.float64)


__all__ = ["FeatureParts", "GreyBoxUnavailableError", "has_feature_maps", "head_gradients", "read_features",
           "read_feature_maps", "read_gradients"]
