"""A third-party encoder family: ``colorhist:BINS``, a joint RGB colour histogram (BINS^3-d).

One call of ``register_encoder_family`` makes ``load_encoder("colorhist:4")``, ``--encoder
colorhist:4`` and ``explain_pair(..., encoder="colorhist:4")`` work. It is not marked trusted, so a
collection that records it still needs ``--encoder colorhist:4`` from the user.
"""

from __future__ import annotations

import numpy as np

from qdrant_explain.connectors import register_encoder_family
from qdrant_explain.explainers.encoder import PreparedImage, prepare_image


class ColorHistogram:
    """(m, 32, 32, 3) uint8 -> (m, bins^3) normalised colour histograms (square-rooted)."""

    input_size = (32, 32)

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.dim = bins**3
        self.name = f"colorhist:{bins}"

    def prepare(self, image: object) -> PreparedImage:
        return prepare_image(image, self.input_size)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        x = np.asarray(pixels).astype(np.int64) * self.bins // 256  # (m, H, W, 3) bin per channel
        cell = (x[..., 0] * self.bins + x[..., 1]) * self.bins + x[..., 2]
        m = cell.shape[0]
        counts = np.zeros((m, self.dim))
        np.add.at(counts, (np.repeat(np.arange(m), cell[0].size), cell.reshape(m, -1).ravel()), 1.0)
        return np.sqrt(counts / cell[0].size)


def make_colorhist(spec: str, **_options: object) -> ColorHistogram:
    """Family factory: ``colorhist:BINS`` with 2 <= BINS <= 16."""
    tail = spec.split(":", 1)[1]
    if not tail.isdigit() or not 2 <= int(tail) <= 16:
        raise ValueError(f"Encoder spec {spec!r}: use colorhist:BINS with BINS an integer in 2..16, e.g. colorhist:4.")
    return ColorHistogram(int(tail))


register_encoder_family("colorhist:", make_colorhist, forms=("colorhist:BINS (colour histogram, BINS in 2..16)",),
                        overwrite=True)
