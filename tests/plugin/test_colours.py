"""The reports' diverging colour map stays readable under colour-vision deficiencies.

Simulation: Machado, Oliveira & Fernandes (2009), severity 1.0 (full protan-, deutan- and
tritanopia), applied in linear RGB; distances are CIEDE2000 in CIELAB (scikit-image).
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from qdrant_explain import _images

MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def _linear(srgb: np.ndarray) -> np.ndarray:
    c = np.asarray(srgb, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def _seen(rgb255: np.ndarray, kind: str | None) -> np.ndarray:
    """CIELAB of the colours as seen with ``kind`` (None: normal vision)."""
    lin = _linear(rgb255)
    if kind is not None:
        lin = lin @ np.asarray(MACHADO[kind]).T
    return rgb2lab(_srgb(lin)[None])[0]


T = np.linspace(0.15, 1.0, 18)


@pytest.mark.parametrize("kind", [None, *MACHADO])
def test_positive_and_negative_values_stay_apart(kind):
    """+t and -t never look alike: CIEDE2000 >= 15 for every |t| >= 0.15, whatever the colour vision."""
    pos, neg = _seen(_images.diverging(T), kind), _seen(_images.diverging(-T), kind)
    gap = deltaE_ciede2000(pos, neg)
    # measured: the old RdBu map falls to 12.8 under protanopia; PuOr stays >= 16.2 (tritanopia its worst)
    assert gap.min() >= 15.0, (kind, np.round(gap, 1))


@pytest.mark.parametrize("kind", [None, *MACHADO])
def test_magnitude_reads_as_lightness_on_both_arms(kind):
    """Larger |value| is darker on each arm (monotone L*), so the size of a value reads without hue."""
    for sign in (1.0, -1.0):
        lightness = _seen(_images.diverging(sign * np.linspace(0, 1, 21)), kind)[:, 0]
        assert np.all(np.diff(lightness) < 0.5), (kind, sign, np.round(lightness, 1))
        assert lightness[0] - lightness[-1] > 40


def test_the_report_uses_the_same_stops():
    """The HTML (JS colours, CSS legend) reads the same stops as the PNG outputs."""
    from qdrant_explain.report.sections import legend

    assert len(_images.DIVERGING_HEX) == 11
    assert _images.DIVERGING_HEX[0] == "#2d004b" and _images.DIVERGING_HEX[-1] == "#7f3b08"
    bar = legend(True, 0.5)
    assert all(h in bar for h in (_images.DIVERGING_HEX[0], _images.DIVERGING_HEX[5], _images.DIVERGING_HEX[-1]))
