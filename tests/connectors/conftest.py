"""Shared fixtures for connector tests: low torch threads, cached encoders, a small photo folder."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


def _photo(name: str) -> np.ndarray:
    import skimage.data as data

    arr = getattr(data, name)()
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3]).astype(np.uint8)


PHOTOS = ("coffee", "chelsea", "astronaut", "rocket", "camera")


@pytest.fixture(scope="session")
def effnet():
    """EfficientNet-Lite0 with its real packaged weights, fp32, one thread (loaded once)."""
    from qdrant_explain.connectors import load_encoder

    return load_encoder("efficientnet-lite0", device="cpu", dtype="fp32", threads=1)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory):
    """A folder of 5 small skimage photos (PNG, 96 px short side) plus a nested subfolder."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for i, name in enumerate(PHOTOS):
        img = Image.fromarray(_photo(name))
        img.thumbnail((128, 128))
        img.save(root / ("sub" if i == 4 else ".") / f"{name}.png")
    return root


@pytest.fixture()
def photo():
    return _photo
