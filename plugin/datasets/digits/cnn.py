"""The digits CNN: a small bias-free convolutional encoder trained on the digit scenes.

:class:`DigitsEncoder` (spec ``"digits-cnn"``) implements the encoder protocol of
:mod:`qdrant_explain.explainers.encoder`. Its weights (``digits_cnn.pt`` beside this
module, 153 KiB) come from ``benchmarks/fidelity/train_digits.py``, which trains it
with a contrastive loss so that the cosine of two scene embeddings tracks the
overlap of their classes.
"""

from __future__ import annotations

import pathlib

import numpy as np

from qdrant_explain.explainers.encoder import Geometry, PreparedImage, prepare_image

from .scenes import CANVAS

SPEC = "digits-cnn"
"""Encoder spec of the trained digits CNN."""

WEIGHTS_PATH = pathlib.Path(__file__).resolve().parent / "digits_cnn.pt"
"""Where the trained weights live (a torch state dict plus its config)."""


def build_network(embed_dim: int = 32, width: int = 32):
    """The digits CNN (torch ``nn.Module``): patchify conv, three conv blocks, global sum pool, linear.

    No layer has a bias, so the black background maps to exactly zero features
    and the embedding is (up to receptive-field overlaps between neighbouring
    digits) a sum of per-digit features: that is what lets cosine similarity
    track class overlap. Sum pooling makes the per-digit features independent of
    the canvas size, so training can use small 2 x 2 canvases and the encoder
    still applies to 3 x 3 ones. A blank canvas embeds to the zero vector, whose
    cosine with anything is 0 in qdrant-explain's scores (nothing shared, no similarity).
    """
    import torch
    from torch import nn

    class DigitsCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, width, kernel_size=3, stride=3, bias=False),  # 96 -> 32 (one conv step per digit pixel)
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, 2 * width, kernel_size=3, stride=2, padding=1, bias=False),  # 32 -> 16
                nn.ReLU(inplace=True),
                nn.Conv2d(2 * width, 2 * width, kernel_size=3, stride=2, padding=1, bias=False),  # 16 -> 8
                nn.ReLU(inplace=True),
            )
            self.head = nn.Linear(2 * width, embed_dim, bias=False)
            for module in self.features:
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            h = self.features(x)
            return self.head(h.sum(dim=(2, 3)))

    return DigitsCNN()


def to_tensor(pixels: np.ndarray):
    """(m, H, W, 3) uint8 -> (m, 3, H, W) float32 tensor in [0, 1]."""
    import torch

    arr = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8).transpose(0, 3, 1, 2))
    return torch.from_numpy(arr).float().div_(255.0)


class DigitsEncoder:
    """The digits CNN as an :class:`~qdrant_explain.explainers.encoder.Encoder`.

    Args:
        weights: path to a state-dict file, ``None`` for the shipped trained
            weights, or ``"random"`` for an untrained (random-init) network
            with the same architecture: the sanity-check baseline.
        seed: seed of the random initialisation when ``weights="random"``.
        batch_size: images per forward pass in :meth:`encode`.
        threads: torch intra-op threads while encoding (None leaves torch's setting).

    Attributes:
        name: ``"digits-cnn"`` (``"digits-cnn@random<seed>"`` for random weights).
        input_size: (96, 96).
    """

    def __init__(
        self,
        weights: str | pathlib.Path | None = None,
        *,
        seed: int = 0,
        batch_size: int = 512,
        threads: int | None = None,
    ) -> None:
        import torch

        config = {"embed_dim": 32, "width": 32, "canvas": CANVAS}
        state = None
        if isinstance(weights, str) and weights == "random":
            self.name = f"{SPEC}@random{seed}"
        else:
            path = pathlib.Path(weights) if weights is not None else WEIGHTS_PATH
            if not path.is_file():
                raise ValueError(
                    f"DigitsEncoder(weights=...) found no weights file at {str(path)!r}. Train them with "
                    "`python benchmarks/fidelity/train_digits.py`, or pass weights='random'."
                )
            blob = torch.load(path, map_location="cpu", weights_only=True)
            config.update(blob.get("config", {}))
            state = blob["state_dict"]
            self.name = SPEC if weights is None else f"{SPEC}@{path.name}"
        torch.manual_seed(seed)
        self.model = build_network(embed_dim=int(config["embed_dim"]), width=int(config["width"]))
        if state is not None:
            self.model.load_state_dict(state)
        self.model.eval()
        side = int(config["canvas"])
        self.input_size = (side, side)
        self.batch_size = int(batch_size)
        self.threads = threads

    @property
    def dim(self) -> int:
        """Embedding dimension d."""
        return int(self.model.head.out_features)

    def prepare(self, image: object) -> PreparedImage:
        """Resize/crop a PIL image or array to 96 x 96 model space (identity for a scene)."""
        arr = np.asarray(image) if not hasattr(image, "mode") else image
        if isinstance(arr, np.ndarray) and arr.shape[:2] == self.input_size and arr.ndim == 3 and arr.dtype == np.uint8:
            # scenes are already in model space: skip the resampling round trip
            h, w = self.input_size
            geometry = Geometry(original_size=(h, w), input_size=(h, w), resized_size=(h, w), crop_offset=(0, 0))
            return PreparedImage(pixels=np.ascontiguousarray(arr[:, :, :3]), geometry=geometry)
        return prepare_image(image, self.input_size)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Embed an (m, 96, 96, 3) uint8 batch into (m, 32) float64 (unnormalised)."""
        import torch

        batch = np.asarray(pixels)
        if batch.ndim != 4 or batch.shape[1:3] != self.input_size or batch.shape[3] != 3:
            raise ValueError(
                f"{self.name}.encode expects an (m, {self.input_size[0]}, {self.input_size[1]}, 3) uint8 "
                f"batch; got shape {batch.shape}."
            )
        out = np.empty((batch.shape[0], self.dim), dtype=np.float64)
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            with torch.inference_mode():
                for start in range(0, batch.shape[0], self.batch_size):
                    chunk = to_tensor(batch[start : start + self.batch_size])
                    out[start : start + chunk.shape[0]] = self.model(chunk).double().numpy()
        finally:
            if self.threads:
                torch.set_num_threads(previous)
        return out

    def feature_parts(self):
        """The split at the 8 x 8 feature map (the grey-box methods' input): sum pooling then the
        bias-free linear head, so each cell's contribution is ``head(A_ij)`` and they sum to the
        embedding exactly (search-cam / sam are exact Shapley values of the feature-cell game with dot)."""
        from qdrant_explain.connectors.torch_base import FeatureParts

        net = self.model

        def cells(a):
            m, c, h, w = a.shape
            return (a.reshape(m, c, h * w).transpose(1, 2) @ net.head.weight.T).transpose(1, 2).reshape(m, -1, h, w)

        return FeatureParts(backbone=lambda x: (net.features(x), None), cells=cells,
                            head=lambda a: net.head(a.sum(dim=(2, 3))), exact_pooling=True,
                            pooling="sum pooling then a bias-free linear layer")

    @property
    def has_feature_maps(self) -> bool:
        """True: the grey-box methods (search-cam, search-gradcam, sam) read its feature map."""
        return True

    def feature_maps(self, pixels: np.ndarray) -> list:
        """The 8 x 8 feature map of each (m, 96, 96, 3) uint8 image: one forward pass each
        (:meth:`qdrant_explain.connectors.torch_base.TorchEncoder.feature_maps`)."""
        from qdrant_explain.connectors.torch_base import check_batch, read_feature_maps

        return read_feature_maps(self.feature_parts(), to_tensor, check_batch(pixels, self.input_size, self.name),
                                 batch_size=self.batch_size)

    def feature_gradients(self, activations: np.ndarray, targets: np.ndarray, *, metric: str = "cosine",
                          weights: np.ndarray | None = None) -> np.ndarray:
        """d score / d feature map: one backward pass through the pooling head per image
        (:meth:`qdrant_explain.connectors.torch_base.TorchEncoder.feature_gradients`)."""
        from qdrant_explain.connectors.torch_base import head_gradients

        return head_gradients(self.feature_parts(), activations, targets, metric=metric, weights=weights)

    def __repr__(self) -> str:
        return f"DigitsEncoder(name={self.name!r}, input_size={self.input_size}, dim={self.dim})"


def load_digits_encoder(
    weights: str | pathlib.Path | None = None,
    *,
    seed: int = 0,
    batch_size: int = 512,
    threads: int | None = None,
    device: str = "cpu",
    dtype: str = "fp32",
) -> DigitsEncoder:
    """The ``"digits-cnn"`` encoder: shipped trained weights by default, ``weights="random"`` for random init.

    This is the factory registered as ``load_encoder("digits-cnn")``. The CNN is tiny,
    so it always runs on the CPU in fp32; ``device`` and ``dtype`` are accepted for
    compatibility with the other encoders' options and must be CPU/fp32-compatible.

    Args:
        weights: a state-dict file, ``None`` (the shipped weights) or ``"random"``.
        seed: seed of the random initialisation when ``weights="random"``.
        batch_size: images per forward pass.
        threads: torch intra-op threads while encoding (None leaves torch's setting).
        device: ``"cpu"`` or ``"auto"`` (both mean the CPU).
        dtype: ``"fp32"`` (or ``"float32"``).

    Returns:
        A :class:`DigitsEncoder`.

    Raises:
        ValueError: another device or dtype, or no weights file at ``weights``.
    """
    if device not in ("cpu", "auto"):
        raise ValueError(f"digits-cnn runs on the CPU only; got device={device!r}. Use device='cpu' or 'auto'.")
    if dtype not in ("fp32", "float32"):
        raise ValueError(f"digits-cnn runs in fp32 only; got dtype={dtype!r}.")
    return DigitsEncoder(weights, seed=seed, batch_size=batch_size, threads=threads)


__all__ = ["SPEC", "WEIGHTS_PATH", "DigitsEncoder", "build_network", "load_digits_encoder", "to_tensor"]
