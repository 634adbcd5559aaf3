"""Shared machinery of the torch image encoders (no torch import until an encoder is built).

:class:`TorchEncoder` prepares, normalises, batches and casts; :func:`select_device`
and :func:`resolve_dtype` read the ``device`` / ``dtype`` options; :func:`check_batch`
validates an encoder input batch. Used by :mod:`.efficientnet`, :mod:`.clip` and any
third-party torch encoder; it imports no encoder family, so families import it
without import circles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from qdrant_explain.explainers.encoder import PreparedImage, prepare_image


def check_batch(pixels: Any, input_size: tuple[int, int], name: str) -> np.ndarray:
    """Validate an (m, H, W, 3) uint8 batch in ``input_size``; returns it as an ndarray."""
    arr = np.asarray(pixels)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != (*input_size, 3) or arr.dtype != np.uint8:
        raise ValueError(
            f"Encoder {name!r}.encode expects an (m, {input_size[0]}, {input_size[1]}, 3) uint8 batch "
            f"(use encoder.prepare(image).pixels); got shape {arr.shape} dtype {arr.dtype}."
        )
    return arr


_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
           "fp16": "float16", "float16": "float16", "half": "float16"}


def select_device(device: str | None = "auto") -> str:
    """``"auto"``/None -> ``"cuda"`` when available, else ``"cpu"``; anything else is checked."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    dev = str(device)
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={dev!r} was requested but CUDA is not available here; use device='cpu' or 'auto'.")
    return dev


def resolve_dtype(dtype: str | None, device: str):
    """Map ``"fp32" | "bf16" | "fp16"`` to a torch dtype; fp16 needs a GPU."""
    import torch

    key = "fp32" if dtype is None else str(dtype).lower().replace("torch.", "")
    if key not in _DTYPES:
        raise ValueError(f"dtype must be one of 'fp32', 'bf16', 'fp16'; got {dtype!r}.")
    tdtype = getattr(torch, _DTYPES[key])
    if tdtype is torch.float16 and not device.startswith("cuda"):
        raise ValueError("dtype='fp16' needs a CUDA device (it is slow or unsupported on CPU); use dtype='bf16' on CPU.")
    return tdtype


@dataclass(frozen=True)
class FeatureParts:
    """How a torch encoder splits at its last spatial feature map (what the grey-box methods read).

    Attributes:
        backbone: normalised (m, 3, H, W) -> ``(A, e)``: the last spatial feature map A (m, c, h, w)
            and the encoder's own embedding e (m, d), or None when ``head(A)`` is it.
        cells: A -> (m, d, h, w) cell contributions in embedding space (their sum over cells is
            ``head(A)``).
        head: A -> (m, d) embedding, differentiable (what search-GradCAM differentiates).
        exact_pooling: True when the embedding is a linear pooling of A (then cells sum to it exactly).
        pooling: the pooling in words, for results and messages.
    """

    backbone: Callable[[Any], tuple[Any, Any]]
    cells: Callable[[Any], Any]
    head: Callable[[Any], Any]
    exact_pooling: bool
    pooling: str


class GreyBoxUnavailableError(ValueError):
    """The encoder has no readable feature maps (or gradients), which the grey-box methods need."""


class TorchEncoder:
    """Shared machinery for torch image encoders: prepare, normalise, batch, cast.

    Subclasses set ``self.model`` (a module mapping normalised (m, 3, H, W)
    tensors to (m, d)), ``name``, ``input_size``, ``mean``, ``std``, ``resize``,
    ``resample`` and ``dim``, then call :meth:`_finish_init`.
    """

    name: str
    input_size: tuple[int, int]
    dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str = "shortest"
    resample: int = 3  # PIL.Image.BICUBIC
    device_masking: bool | None = None  # build masked images on the device (None: when not on the CPU)

    def _setup_runtime(self, device: str | None, dtype: str | None, threads: int | None, batch_size: int) -> None:
        import torch

        if threads is not None:
            if int(threads) < 1:
                raise ValueError(f"threads must be >= 1; got {threads}.")
            torch.set_num_threads(int(threads))
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        self.device = select_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = int(batch_size)

    def _finish_init(self) -> None:
        import torch

        self.model = self.model.to(device=self.device, dtype=self.dtype).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._mean = torch.tensor(self.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    @property
    def dtype_name(self) -> str:
        """``"fp32"``, ``"bf16"`` or ``"fp16"``."""
        return {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}[str(self.dtype).replace("torch.", "")]

    def prepare(self, image: object) -> PreparedImage:
        """Resize and centre-crop into model input space (the model's own settings)."""
        return prepare_image(image, self.input_size, resize=self.resize, resample=self.resample)

    def to_tensor(self, pixels: np.ndarray):
        """(m, H, W, 3) uint8 -> normalised (m, 3, H, W) tensor on the device, in the model dtype."""
        import torch

        arr = np.ascontiguousarray(pixels)
        if not arr.flags.writeable:
            arr = arr.copy()
        x = torch.from_numpy(arr).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self._mean) / self._std
        return x.to(self.dtype)

    @property
    def masks_on_device(self) -> bool:
        """Whether :meth:`masked_encoder` builds masked images on the device (``device_masking``, else: not on the CPU)."""
        return self.device_masking if self.device_masking is not None else not str(self.device).startswith("cpu")

    def masked_encoder(
        self, pixels: np.ndarray, baseline: np.ndarray, labels: np.ndarray
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        """Encoder of masked copies of one image that builds them on the device, or None.

        The image, its baseline and its player labels go to the device once; each
        batch then sends only the (b, n) boolean masks, and the masked inputs are
        composed there (``where(keep, image, baseline)`` on normalised tensors,
        identical to normalising the composed uint8 image). On a GPU this takes the
        masking off the CPU, which otherwise limits the speed (about 0.2 ms per
        224 x 224 image). Used when ``device_masking`` is True, or None (the
        default) and the model is not on the CPU: there numpy masking in a worker
        thread overlaps the model and is as fast.

        Args:
            pixels: (H, W, 3) uint8 model-space image.
            baseline: (H, W, 3) uint8 replacement image.
            labels: (H, W) player index (0..n-1) of every pixel.

        Returns:
            ``encode_masks((b, n) bool) -> (b, d) float64``, or None (use :meth:`encode`).
        """
        if not self.masks_on_device:
            return None
        import torch

        size = tuple(self.input_size)
        image = check_batch(np.asarray(pixels)[None], size, self.name)
        base = check_batch(np.asarray(baseline)[None], size, self.name)
        lab = np.asarray(labels)
        if lab.shape != size or not np.issubdtype(lab.dtype, np.integer) or lab.min() < 0:
            raise ValueError(f"{self.name}: labels must be a {size} map of player indices >= 0; got {lab.shape} {lab.dtype}.")
        n = int(lab.max()) + 1
        with torch.inference_mode():
            image_t, base_t = self.to_tensor(image), self.to_tensor(base)  # (1, 3, H, W) normalised, model dtype
            lab_t = torch.from_numpy(lab.astype(np.int64)).to(self.device)

        def encode_masks(masks: np.ndarray) -> np.ndarray:
            z = np.asarray(masks, dtype=bool)
            if z.ndim != 2 or z.shape[1] != n:
                raise ValueError(f"{self.name}: masks must be a (b, {n}) boolean matrix; got shape {z.shape}.")
            outs = []
            with torch.inference_mode():
                z_t = torch.from_numpy(np.ascontiguousarray(z)).to(self.device)
                for start in range(0, z.shape[0], self.batch_size):
                    keep = z_t[start : start + self.batch_size][:, lab_t].unsqueeze(1)  # (b, 1, H, W)
                    feats = self._forward(torch.where(keep, image_t, base_t))
                    outs.append(feats.float().cpu().numpy().astype(np.float64))
            return np.concatenate(outs, axis=0) if outs else np.zeros((0, self.dim))

        return encode_masks

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Embed an (m, H, W, 3) uint8 batch; returns (m, d) float64 (computed in ``dtype``)."""
        import torch

        pixels = check_batch(pixels, self.input_size, self.name)
        outs = []
        with torch.inference_mode():
            for start in range(0, len(pixels), self.batch_size):
                feats = self._forward(self.to_tensor(pixels[start : start + self.batch_size]))
                outs.append(feats.float().cpu().numpy().astype(np.float64))
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, self.dim))

    def _forward(self, x):
        return self.model(x)

    # -- grey-box capability: the last spatial feature map and gradients -------------------
    def feature_parts(self) -> FeatureParts | None:
        """The split at the last spatial feature map, or None when the architecture has none (then the
        grey-box methods refuse this encoder). Subclasses override it."""
        return None

    @property
    def has_feature_maps(self) -> bool:
        """Whether :meth:`feature_maps` works for this encoder."""
        return self.feature_parts() is not None

    def feature_maps(self, pixels: np.ndarray) -> list:
        """Read the last spatial feature map of each image: one forward pass each.

        Args:
            pixels: (m, H, W, 3) uint8 model-space images.

        Returns:
            m :class:`~qdrant_explain.explainers.greybox.FeatureMaps` (cells, embedding, activations).

        Raises:
            GreyBoxUnavailableError: the encoder has no feature-map split.
        """
        return read_feature_maps(self._parts_or_raise(), self.to_tensor, check_batch(pixels, self.input_size, self.name),
                                 batch_size=self.batch_size)

    def feature_gradients(self, activations: np.ndarray, targets: np.ndarray, *, metric: str = "cosine",
                          weights: np.ndarray | None = None) -> np.ndarray:
        """d score / d feature map for each image: one backward pass through the pooling head each (the
        backbone is not run again, nor differentiated).

        Args:
            activations: (m, h, w, c) feature maps (``FeatureMaps.activations``).
            targets: (m, k, d) the other end's vectors per image (k = 1 for a plain pair).
            metric: ``"cosine"`` or ``"dot"``.
            weights: (k,) the game's score is ``sum_k weights[k] * metric(e, targets[:, k])`` (None: ones);
                (+1, -1) explains a difference (why A ranks above B).

        Returns:
            (m, h, w, c) gradients.
        """
        return head_gradients(self._parts_or_raise(), activations, targets, metric=metric, weights=weights,
                              device=self.device, dtype=self.dtype)

    def _parts_or_raise(self) -> FeatureParts:
        parts = self.feature_parts()
        if parts is None:
            raise GreyBoxUnavailableError(no_feature_maps_message(self))
        return parts

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={self.device!r}, dtype={self.dtype_name!r})"


def no_feature_maps_message(encoder: Any, method: str | None = None) -> str:
    """Why a grey-box method cannot run on ``encoder``, and what to use instead."""
    from qdrant_explain.explainers.greybox import BLACK_BOX_HINT

    what = f"method={method!r}" if method else "the grey-box methods (search-cam, search-gradcam, sam)"
    name = getattr(encoder, "name", type(encoder).__name__)
    return (f"{what} needs the encoder's last spatial feature map, but encoder {name!r} exposes none "
            f"(feature_maps(pixels), and feature_gradients(...) for search-gradcam, as efficientnet-lite0 and "
            f"clip: ResNet / ViT encoders have); {BLACK_BOX_HINT}.")


def _torch_score(e, t, metric: str):
    import torch

    if metric == "dot":
        return (e * t).sum(dim=-1)
    return torch.nn.functional.cosine_similarity(e, t, dim=-1, eps=1e-12)


def read_feature_maps(parts: FeatureParts, to_tensor: Callable[[np.ndarray], Any], pixels: np.ndarray, *,
                      batch_size: int) -> list:
    """:meth:`TorchEncoder.feature_maps` for any :class:`FeatureParts` (also for encoders outside this family).

    Args:
        parts: the encoder's split.
        to_tensor: (b, H, W, 3) uint8 -> the normalised input tensor on the model's device and dtype.
        pixels: (m, H, W, 3) uint8.
        batch_size: images per forward pass.
    """
    import torch

    from qdrant_explain.explainers.greybox import FeatureMaps

    out = []
    for start in range(0, len(pixels), batch_size):
        with torch.no_grad():
            act, emb = parts.backbone(to_tensor(pixels[start : start + batch_size]))
            cells = parts.cells(act)
            emb = parts.head(act) if emb is None else emb
        acts = act.float().permute(0, 2, 3, 1).cpu().numpy()
        cell_np = cells.float().permute(0, 2, 3, 1).cpu().numpy()
        emb_np = emb.float().cpu().numpy()
        for k in range(acts.shape[0]):
            out.append(FeatureMaps(cells=cell_np[k], embedding=emb_np[k], exact_pooling=parts.exact_pooling,
                                   pooling=parts.pooling, activations=acts[k]))
    return out


def head_gradients(parts: FeatureParts, activations: np.ndarray, targets: np.ndarray, *, metric: str,
                   weights: np.ndarray | None = None, device: Any = "cpu", dtype: Any = None) -> np.ndarray:
    """:meth:`TorchEncoder.feature_gradients` for any :class:`FeatureParts`."""
    import torch

    from qdrant_explain.explainers.greybox import check_grey_box_score

    metric = check_grey_box_score(metric, "search-gradcam")
    acts = np.asarray(activations, dtype=np.float32)
    t = np.asarray(targets, dtype=np.float32)
    if t.ndim == 2:
        t = t[:, None, :]
    if acts.ndim != 4 or t.ndim != 3 or t.shape[0] != acts.shape[0]:
        raise ValueError(f"feature_gradients: activations (m, h, w, c) and targets (m, k, d) must agree on m; got "
                         f"{acts.shape} and {np.asarray(targets).shape}.")
    w = np.ones(t.shape[1], np.float32) if weights is None else np.asarray(weights, np.float32).reshape(-1)
    if w.shape[0] != t.shape[1]:
        raise ValueError(f"feature_gradients: {w.shape[0]} weights for {t.shape[1]} target vectors per image.")
    with torch.enable_grad():
        a = torch.from_numpy(np.ascontiguousarray(acts.transpose(0, 3, 1, 2))).to(device)
        a = (a if dtype is None else a.to(dtype)).requires_grad_(True)
        e = parts.head(a).float()[:, None, :]
        tt, ww = torch.from_numpy(t).to(e.device), torch.from_numpy(w).to(e.device)
        (_torch_score(e, tt, metric) * ww).sum().backward()
    return a.grad.float().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)


__all__ = ["FeatureParts", "GreyBoxUnavailableError", "TorchEncoder", "check_batch", "no_feature_maps_message",
           "head_gradients", "read_feature_maps", "resolve_dtype", "select_device"]
