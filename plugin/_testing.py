"""A tiny, deterministic random encoder for tests, examples and smoke runs (no weights, no torch).

Use it anywhere an encoder spec is taken: ``--encoder qdrant_explain._testing:TinyEncoder``
or ``load_encoder("qdrant_explain._testing:TinyEncoder")``. It embeds 64x64 model-space
images with a fixed random patch projection + ReLU + 2x2 pooling into 128-d vectors:
meaningless semantically, but local (masking a region changes the vector) and fast.
"""

from __future__ import annotations

import numpy as np

from qdrant_explain.explainers.encoder import PreparedImage, prepare_image

SPEC = "qdrant_explain._testing:TinyEncoder"
"""The encoder spec string that loads :class:`TinyEncoder`."""


class TinyEncoder:
    """Random patch-projection encoder: (m, 64, 64, 3) uint8 -> (m, 128) float64.

    Args:
        seed: seed of the random weights (the default 0 is what ``SPEC`` loads).
        input_size: (H, W) model-space size, multiples of 8.
    """

    def __init__(self, seed: int = 0, input_size: tuple[int, int] = (64, 64), **_: object) -> None:
        self.name = SPEC if seed == 0 else f"{SPEC}(seed={seed})"
        self.input_size = (int(input_size[0]), int(input_size[1]))
        rng = np.random.default_rng(seed)
        self._w = rng.normal(size=(8 * 8 * 3, 32)) / np.sqrt(8 * 8 * 3 * 64.0)
        self._b = rng.normal(size=32) * 0.2
        self.dim = 128

    def prepare(self, image: object) -> PreparedImage:
        """Resize (shortest side) and centre-crop to ``input_size``."""
        return prepare_image(image, self.input_size)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Embed an (m, H, W, 3) uint8 batch."""
        x = np.asarray(pixels, dtype=np.float64)
        if x.ndim == 3:
            x = x[None]
        m, h, w, _ = x.shape
        if (h, w) != self.input_size:
            raise ValueError(f"TinyEncoder.encode expects (m, {self.input_size[0]}, {self.input_size[1]}, 3); got {x.shape}.")
        gh, gw = h // 8, w // 8
        patches = x[:, : gh * 8, : gw * 8].reshape(m, gh, 8, gw, 8, 3).transpose(0, 1, 3, 2, 4, 5).reshape(m, gh, gw, -1)
        feats = np.maximum(patches @ self._w + self._b, 0.0)  # (m, gh, gw, 32)
        hh, hw = gh // 2, gw // 2
        quads = [feats[:, :hh, :hw], feats[:, :hh, hw:], feats[:, hh:, :hw], feats[:, hh:, hw:]]
        return np.concatenate([q.mean(axis=(1, 2)) for q in quads], axis=1)

    def __repr__(self) -> str:
        return f"TinyEncoder(input_size={self.input_size})"


class OtherTinyEncoder(TinyEncoder):
    """Same shape as :class:`TinyEncoder`, other weights and name: for "wrong encoder" tests."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(seed=1, **kwargs)
        self.name = OTHER_SPEC


OTHER_SPEC = "qdrant_explain._testing:OtherTinyEncoder"


__all__ = ["OTHER_SPEC", "SPEC", "OtherTinyEncoder", "TinyEncoder"]


def _from_spec(spec: str, **options: object) -> TinyEncoder:
    """Family factory of ``qdrant_explain._testing:NAME``: only the two test encoders, nothing imported."""
    from qdrant_explain.connectors.errors import EncoderSpecError

    classes = {"TinyEncoder": TinyEncoder, "OtherTinyEncoder": OtherTinyEncoder}
    attr = spec.split(":", 1)[1]
    if attr not in classes:
        raise EncoderSpecError(f"Encoder spec {spec!r}: qdrant_explain._testing has {sorted(classes)}, not {attr!r}.")
    return classes[attr](**options)


def _register() -> None:
    """The test encoders as a trusted family: loading them runs only this module's numpy code."""
    from qdrant_explain.connectors.encoders import register_encoder_family

    register_encoder_family("qdrant_explain._testing:", _from_spec, trusted=True, forms=(SPEC,), overwrite=True)


_register()


TINY_TEXT_CLIP = "qe-tiny-text"
"""Name of the tiny random open_clip architecture with a real tokenizer vocabulary (see :func:`register_tiny_clip`)."""

TINY_TEXT_CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 20, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
"""A tiny CLIP: 32x32 images, a 1-layer text tower reading 20 tokens, 16-d embeddings (random weights)."""


def register_tiny_clip(folder: object) -> str:
    """Register :data:`TINY_TEXT_CLIP_CONFIG` with open_clip (a JSON file written to ``folder``); returns the
    ``clip:`` spec of its random weights (``clip:qe-tiny-text@none``)."""
    import json
    import pathlib

    import open_clip

    path = pathlib.Path(folder) / f"{TINY_TEXT_CLIP}.json"
    path.write_text(json.dumps(TINY_TEXT_CLIP_CONFIG))
    open_clip.add_model_config(path)
    return f"clip:{TINY_TEXT_CLIP}@none"
