"""open_clip image encoder: any model, pretrained tag, local checkpoint or random weights.

The preprocessing comes from the transform open_clip returns for the chosen
weights (resize size and mode, centre crop, interpolation, mean/std) and is
applied through :func:`~qdrant_explain.explainers.encoder.prepare_image` plus a
tensor normalisation, so that indexing and explaining share one code path.

Weights: a pretrained tag is looked up in the local Hugging Face / open_clip
cache first; if it is missing, a 3-second connectivity probe decides whether to
let open_clip download it. When it cannot be fetched (offline, firewall, unknown
file), :class:`WeightsUnavailableError` says how to point at a local checkpoint
(``clip:MODEL@/path/to/open_clip_pytorch_model.bin``) instead of open_clip's
minute of retries.

This module is the ``clip:`` encoder family (also spelled ``open_clip:`` and
``openclip:``): :func:`clip_from_spec` builds an encoder from a spec and
:func:`is_trusted_clip_spec` says which specs may be loaded from collection
metadata: a pretrained tag of open_clip's own registry or ``none``, not a local
checkpoint path (a file chosen by whoever wrote the collection, unpickled by torch).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from PIL import Image

from .errors import EncoderSpecError, WeightsUnavailableError
from .torch_base import FeatureParts, TorchEncoder

_INTERP = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST,
           "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}


class OpenClipEncoder(TorchEncoder):
    """The image tower of an open_clip model as an Encoder.

    Args:
        model_name: an open_clip architecture (``open_clip.list_models()``), e.g. ``"ViT-B-32"``.
        weights: a pretrained tag (``open_clip.list_pretrained_tags_by_model(model_name)``),
            a path to a checkpoint file, or ``"none"`` for random weights.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
        dtype: ``"fp32"``, ``"bf16"``, ``"fp16"`` (GPU only).
        threads: torch CPU threads (None leaves torch's setting).
        batch_size: images per forward pass.
        normalize: L2-normalise the output vectors (default False: Qdrant's cosine
            distance normalises anyway, and dot/euclid collections keep raw norms).
        cache_dir: open_clip download cache (default: Hugging Face's).
        probe_timeout: seconds for the connectivity probe before a download.
        tokens: multivector mode (spec ``clip-tokens:MODEL@WEIGHTS``): ``encode`` returns the ViT's patch
            tokens after the final layer norm, projected into the embedding space by the model's own
            projection, (m, t, d) with t = (image size / patch size)^2: the token vectors of a MaxSim
            (late interaction) collection. ViT models only.

    Raises:
        EncoderSpecError: unknown model name or pretrained tag (lists the valid ones).
        WeightsUnavailableError: weights not cached and not downloadable, or a
            checkpoint file that is missing or does not fit the model.
    """

    def __init__(self, model_name: str, weights: str | None = "none", *, device: str | None = "auto",
                 dtype: str | None = "fp32", threads: int | None = None, batch_size: int = 32,
                 normalize: bool = False, cache_dir: str | None = None, probe_timeout: float = 3.0,
                 tokens: bool = False) -> None:
        import open_clip

        self._setup_runtime(device, dtype, threads, batch_size)
        if model_name not in open_clip.list_models():
            raise EncoderSpecError(
                f"open_clip has no model {model_name!r}. Available: {', '.join(open_clip.list_models())}."
            )
        weights = "none" if weights in (None, "") else str(weights)
        kwargs: dict[str, Any] = {}
        if weights.lower() == "none":
            pretrained, label = None, "none"
        elif _looks_like_path(weights):
            path = Path(weights).expanduser()
            if not path.is_file():
                raise WeightsUnavailableError(f"Checkpoint file for {model_name} not found: {str(path)!r}.")
            pretrained, label = str(path), str(path)
        else:
            pretrained, label, kwargs = _resolve_tag(model_name, weights, cache_dir, probe_timeout)
        try:
            import logging

            logger = logging.getLogger()
            old = logger.level
            logger.setLevel(logging.ERROR)  # "No pretrained weights loaded ... initialized randomly"
            try:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=pretrained, device="cpu", cache_dir=cache_dir, **kwargs
                )
            finally:
                logger.setLevel(old)
        except WeightsUnavailableError:
            raise
        except Exception as exc:
            if pretrained is None:
                raise
            raise WeightsUnavailableError(
                f"Could not load weights {label!r} for open_clip {model_name}: {exc}. "
                f"Point at a local checkpoint that fits the model: clip:{model_name}@/path/to/open_clip_pytorch_model.bin."
            ) from None
        self.multivector = bool(tokens)
        self.name = f"{TOKENS_PREFIX if self.multivector else 'clip:'}{model_name}@{label}"
        self.model_name = model_name
        self.weights = label
        self._read_transform(preprocess)
        self.normalize = bool(normalize)
        self.model = model.visual
        if self.multivector:
            if not hasattr(self.model, "output_tokens") or getattr(self.model, "attn_pool", None) is not None:
                raise EncoderSpecError(
                    f"multivector mode (clip-tokens:) needs an open_clip ViT image tower without attention pooling; "
                    f"{model_name} has a {type(self.model).__name__}. Use a ViT model, e.g. clip-tokens:ViT-B-32@TAG.")
            self.model.output_tokens = True
        self._clip = model  # the whole model: its text tower serves text queries (text_encoder())
        self._text = None
        self.dim = int(getattr(model.visual, "output_dim", 0) or getattr(model, "embed_dim", 0) or 0)
        self._finish_init()
        if not self.dim:
            import numpy as np

            self.dim = int(self.encode(np.zeros((1, *self.input_size, 3), np.uint8)).shape[1])

    def _read_transform(self, preprocess: Any) -> None:
        steps = list(getattr(preprocess, "transforms", [preprocess]))
        resize_size = crop = None
        resize_mode = None
        self.mean = self.std = None  # type: ignore[assignment]
        resample = Image.BICUBIC
        for step in steps:
            kind = type(step).__name__
            if kind == "Resize":
                size = step.size
                if isinstance(size, int) or (isinstance(size, (list, tuple)) and len(size) == 1):
                    resize_size, resize_mode = int(size if isinstance(size, int) else size[0]), "shortest"
                else:
                    resize_size, resize_mode = (int(size[0]), int(size[1])), "squash"
                interp = getattr(step.interpolation, "value", str(step.interpolation))
                resample = _INTERP.get(str(interp).lower(), Image.BICUBIC)
            elif kind == "CenterCrop":
                crop = (int(step.size[0]), int(step.size[1]))
            elif kind == "Normalize":
                self.mean = tuple(float(v) for v in step.mean)
                self.std = tuple(float(v) for v in step.std)
            elif kind in ("ResizeKeepRatio", "CenterCropOrPad"):
                raise EncoderSpecError(
                    f"open_clip preprocessing step {kind} (resize_mode='longest') is not supported; "
                    "use weights whose resize mode is 'shortest' or 'squash'."
                )
        if resize_mode is None or self.mean is None:
            raise EncoderSpecError(f"Could not read resize and Normalize from the open_clip transform {preprocess!r}.")
        if resize_mode == "shortest":
            crop = crop or (resize_size, resize_size)
            if resize_size != min(crop) or crop[0] != crop[1]:
                raise EncoderSpecError(
                    f"open_clip transform resizes to {resize_size} then crops {crop}; only resize == square crop is supported."
                )
            self.input_size = crop
        else:
            self.input_size = resize_size
        self.resize = resize_mode
        self.resample = resample

    def text_encoder(self):
        """The text tower of this model as an :class:`~qdrant_explain.connectors.text.OpenClipTextEncoder`
        (same name, device and dtype; built once, on first use)."""
        if self._text is None:
            import open_clip

            from .text import OpenClipTextEncoder

            clip = self._clip.to(device=self.device, dtype=self.dtype).eval()
            for p in clip.parameters():
                p.requires_grad_(False)
            tokenizer = open_clip.get_tokenizer(self.model_name)
            self._text = OpenClipTextEncoder(clip, tokenizer, name=self.name, device=self.device, dtype=self.dtype,
                                             batch_size=self.batch_size, normalize=self.normalize)
        return self._text

    def _forward(self, x):
        out = self.model(x)
        if self.multivector:
            tokens = out[1]  # (b, t, width) after ln_post
            proj = getattr(self.model, "proj", None)
            out = tokens @ proj if proj is not None else tokens
        elif isinstance(out, (tuple, list)):
            out = out[0]
        if self.normalize:
            out = out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return out


    def feature_parts(self) -> FeatureParts | None:
        """The last spatial map of a ResNet (before its attention pool) or a ViT's patch tokens (before pooling
        and projection); None for other towers (timm, attentional poolers)."""
        kind = type(self.model).__name__
        if kind == "ModifiedResNet":
            return _resnet_parts(self.model, self._post)
        if kind == "VisionTransformer" and getattr(self.model, "attn_pool", None) is None:
            return _vit_parts(self.model, self._post, exact_post=not self.normalize)
        return None

    def _post(self, e):
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12) if self.normalize else e


def _resnet_parts(visual, post) -> FeatureParts:
    """ModifiedResNet: layer4's map; cells from the attention pool's value path at the image's own attention."""
    import torch

    pool = visual.attnpool

    def backbone(x):
        return visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(x))))), None

    def cells(a):
        m, c, h, w = a.shape
        n = h * w
        x = a.reshape(m, c, n).permute(2, 0, 1)  # (n, m, c)
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0) + pool.positional_embedding[:, None, :].to(x.dtype)
        heads, dh = pool.num_heads, c // pool.num_heads
        q = pool.q_proj(x[:1]).reshape(1, m, heads, dh)
        k = pool.k_proj(x).reshape(n + 1, m, heads, dh)
        att = torch.softmax((q * k).sum(-1) / dh**0.5, dim=0)  # (n + 1, m, heads): the mean token's attention
        wv = pool.v_proj.weight
        pos = pool.positional_embedding.to(x.dtype)
        val_a = (a.reshape(m, c, n).permute(2, 0, 1) @ wv.T).reshape(n, m, heads, dh)  # W_v A_j
        val_p = (pos @ wv.T).reshape(n + 1, 1, heads, dh)  # W_v pos_k
        share = att[1:] + att[:1] / n  # the mean token spreads its attention evenly over the cells
        u = (share[..., None] * val_a + att[1:, ..., None] * val_p[1:]).reshape(n, m, c)
        const = (pool.v_proj.bias.reshape(1, heads, dh) + att[0][..., None] * val_p[0]).reshape(m, c)
        out = u @ pool.c_proj.weight.T + ((const @ pool.c_proj.weight.T + pool.c_proj.bias) / n)[None]
        e = out.sum(dim=0)
        scale = post(e).norm(dim=-1, keepdim=True) / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return (out * scale[None]).permute(1, 2, 0).reshape(m, -1, h, w)

    return FeatureParts(backbone=backbone, cells=cells, head=lambda a: post(pool(a)), exact_pooling=False,
                        pooling="attention pooling (cells: its value path at the image's own attention weights)")


def _vit_parts(visual, post, *, exact_post: bool) -> FeatureParts:
    """VisionTransformer: patch tokens through ln_post and proj; their mean is the embedding of 'avg' pooling."""
    def backbone(x):
        tokens = visual.transformer(visual._embeds(x))
        pooled, _ = visual._pool(tokens)
        if visual.proj is not None:
            pooled = pooled @ visual.proj
        patches = tokens[:, 1:]
        m, n, c = patches.shape
        gh, gw = visual.grid_size
        return patches.permute(0, 2, 1).reshape(m, c, gh, gw), post(pooled)

    def cells(a):
        m, c, h, w = a.shape
        t = visual.ln_post(a.reshape(m, c, h * w).permute(0, 2, 1))
        if visual.proj is not None:
            t = t @ visual.proj
        return (t / (h * w)).permute(0, 2, 1).reshape(m, -1, h, w)

    def head(a):
        return post(cells(a).sum(dim=(2, 3)))

    avg = visual.pool_type == "avg" and not visual.final_ln_after_pool
    words = ("mean of the patch tokens" if avg else
             "class token (cells: the patch tokens through ln_post and proj, whose mean stands in for it)")
    return FeatureParts(backbone=backbone, cells=cells, head=head, exact_pooling=avg and exact_post, pooling=words)


def _looks_like_path(weights: str) -> bool:
    return os.sep in weights or "/" in weights or "\\" in weights or weights.endswith((".pt", ".pth", ".bin", ".safetensors")) or weights.startswith("~")


def _resolve_tag(model_name: str, tag: str, cache_dir: str | None, probe_timeout: float) -> tuple[str, str, dict]:
    """Return (pretrained argument, label, preprocessing overrides) for a pretrained tag."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise EncoderSpecError(
            f"open_clip model {model_name!r} has no pretrained tag {tag!r}. Known tags: {', '.join(tags) or '(none)'}; "
            f"or use clip:{model_name}@/path/to/checkpoint.pt, or clip:{model_name}@none for random weights."
        )
    overrides = {"image_mean": cfg.get("mean"), "image_std": cfg.get("std"),
                 "image_interpolation": cfg.get("interpolation"), "image_resize_mode": cfg.get("resize_mode")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    cached = _cached_file(cfg, cache_dir)
    if cached:
        return cached, tag, overrides
    hub = cfg.get("hf_hub", "")
    host = "huggingface.co" if hub else (urlparse(cfg.get("url", "")).hostname or "")
    where = f"https://huggingface.co/{hub.rstrip('/')}" if hub else cfg.get("url", "")
    fix = (
        f"Download the checkpoint ({where}) on a machine with internet access and use "
        f"clip:{model_name}@/path/to/the/file (or set HF_HOME to a cache that holds it)."
    )
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise WeightsUnavailableError(f"Weights {tag!r} for open_clip {model_name} are not cached and HF_HUB_OFFLINE is set. {fix}")
    if not host or not _reachable(host, probe_timeout):
        raise WeightsUnavailableError(
            f"Weights {tag!r} for open_clip {model_name} are not cached and {host or 'the download host'} is unreachable "
            f"(offline?). {fix}"
        )
    return tag, tag, {}


def _cached_file(cfg: dict, cache_dir: str | None) -> str | None:
    if cfg.get("file"):
        return cfg["file"]
    hub = cfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover
            return None
        repo, filename = os.path.split(hub.rstrip("/") if hub.endswith("/") else hub)
        if hub.endswith("/"):
            repo, names = hub.rstrip("/"), ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        else:
            names = [filename]
        for fname in names:
            hit = try_to_load_from_cache(repo, fname, cache_dir=cache_dir)
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit
        return None
    url = cfg.get("url", "")
    if url:
        root = cache_dir or os.path.expanduser("~/.cache/clip")
        path = os.path.join(root, os.path.basename(urlparse(url).path))
        return path if os.path.isfile(path) else None
    return None


def _reachable(host: str, timeout: float) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


CLIP_PREFIXES = ("clip:", "open_clip:", "openclip:")
"""Spellings of the ``clip:`` family prefix."""

TOKENS_PREFIX = "clip-tokens:"
"""Prefix of the multivector (patch token) mode of the ``clip:`` family: ``clip-tokens:MODEL@WEIGHTS``."""


def split_clip_spec(spec: str) -> tuple[str, str]:
    """(model, weights) of ``clip:MODEL@WEIGHTS``.

    Raises:
        EncoderSpecError: not of that form.
    """
    lowered = spec.strip().lower()
    prefix = next((p for p in (TOKENS_PREFIX, *CLIP_PREFIXES) if lowered.startswith(p)), None)
    model, sep, weights = spec.strip()[len(prefix or ""):].partition("@")
    if prefix is None or not model or not sep or not weights:
        raise EncoderSpecError(
            f"Encoder spec {spec!r} needs a model and weights: 'clip:MODEL@TAG', "
            f"'clip:MODEL@/path/to/ckpt.pt' or 'clip:MODEL@none' (clip-tokens:... for patch token multivectors)."
        )
    return model, weights


def is_trusted_clip_spec(spec: str) -> bool:
    """Whether a ``clip:`` spec may be loaded from collection metadata: a tag or ``none``, not a file path."""
    try:
        _, weights = split_clip_spec(spec)
    except EncoderSpecError:
        return False
    return weights.lower() == "none" or not _looks_like_path(weights)


def clip_from_spec(spec: str, **options: Any) -> OpenClipEncoder:
    """Family factory of ``clip:MODEL@TAG`` / ``clip:MODEL@/path/ckpt.pt`` / ``clip:MODEL@none``
    (and ``clip-tokens:...``: the multivector mode)."""
    model, weights = split_clip_spec(spec)
    if spec.strip().lower().startswith(TOKENS_PREFIX):
        options = {**options, "tokens": True}
    return OpenClipEncoder(model, weights, **options)


__all__ = ["CLIP_PREFIXES", "OpenClipEncoder", "TOKENS_PREFIX", "clip_from_spec", "is_trusted_clip_spec", "split_clip_spec"]
