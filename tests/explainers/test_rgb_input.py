"""to_rgb_array accepts pixels only, and says what to pass instead of anything else."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest
from PIL import Image

from qdrant_explain.explainers.encoder import BYTES_HINT, prepare_image, to_rgb_array


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("data", [png_bytes(), bytearray(png_bytes()), memoryview(png_bytes())])
def test_encoded_bytes_are_refused_with_the_decoding_hint(data):
    with pytest.raises(TypeError) as info:
        to_rgb_array(data, name="query")
    assert BYTES_HINT in str(info.value) and str(info.value).startswith("query is ")
    assert "embedded null byte" not in str(info.value)


def test_a_zero_d_bytes_array_gets_the_same_hint():
    with pytest.raises(TypeError, match=r"PIL\.Image\.open\(io\.BytesIO\(b\)\)"):
        to_rgb_array(np.array(png_bytes()))


@pytest.mark.parametrize(("array", "what"), [
    (np.zeros((4, 4, 3), dtype=complex), "complex numbers"),
    (np.ones((4, 4, 3), dtype=complex) * 1j, "complex numbers"),
    (np.zeros((4, 4), dtype=bool), "booleans"),
    (np.empty((4, 4, 3), dtype=object), "Python objects"),
    (np.full((4, 4), "a"), "strings"),
    (np.zeros((4, 4), dtype="datetime64[s]"), "dates"),
])
def test_arrays_that_are_not_pixels_are_refused(array, what):
    with pytest.raises(TypeError, match=what):
        to_rgb_array(array, name="hit")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_floats_are_refused(bad):
    arr = np.zeros((4, 4, 3))
    arr[1, 2, 0] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        to_rgb_array(arr)


def test_negative_integers_and_empty_arrays_are_refused():
    with pytest.raises(ValueError, match="negative pixel values"):
        to_rgb_array(np.full((4, 4), -1, dtype=np.int16))
    with pytest.raises(ValueError, match="no pixels"):
        to_rgb_array(np.zeros((0, 4, 3), dtype=np.uint8))


@pytest.mark.parametrize("path", ["photo.png", pathlib.Path("photo.png")])
def test_paths_and_none_are_refused_with_what_to_do(path):
    with pytest.raises(TypeError, match="load_image"):
        to_rgb_array(path)
    with pytest.raises(TypeError, match="is None"):
        prepare_image(None, (8, 8))


def test_valid_inputs_still_convert():
    assert to_rgb_array(np.full((3, 5), 0.5)).tolist()[0][0] == [128, 128, 128]
    assert to_rgb_array(np.full((3, 5, 4), 200, dtype=np.uint8)).shape == (3, 5, 3)
    assert to_rgb_array(np.full((3, 5), 1000, dtype=np.int32)).max() == 255
    assert to_rgb_array(Image.open(io.BytesIO(png_bytes()))).tolist()[0][0] == [10, 20, 30]
    assert to_rgb_array(Image.new("I", (2, 2), -5)).max() == 0
