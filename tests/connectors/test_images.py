"""Image loading: paths, bytes, base64, EXIF orientation and one clear error per failure."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from qdrant_explain.connectors import ImageLoadError, decode_base64_image, encode_base64_image, load_image


def _png_bytes(w=20, h=10, color=(10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def test_path_bytes_and_base64_give_the_same_rgb_image(tmp_path):
    data = _png_bytes()
    (tmp_path / "a.png").write_bytes(data)
    a = load_image(tmp_path / "a.png")
    b = load_image(data)
    c = decode_base64_image(base64.b64encode(data).decode())
    d = decode_base64_image("data:image/png;base64," + encode_base64_image(a))
    for img in (a, b, c, d):
        assert img.mode == "RGB" and img.size == (20, 10)
        assert np.array_equal(np.asarray(img), np.asarray(a))


def test_grey_and_rgba_become_rgb(tmp_path):
    Image.new("L", (5, 4), 7).save(tmp_path / "g.png")
    Image.new("RGBA", (5, 4), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert load_image(tmp_path / "g.png").mode == "RGB"
    assert np.asarray(load_image(tmp_path / "t.png"))[0, 0].tolist() == [255, 255, 255]  # alpha on white


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert Image.open(tmp_path / "r.jpg").size == (40, 20)
    assert load_image(tmp_path / "r.jpg").size == (20, 40)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_corrupt_file_is_not_an_image(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(ImageLoadError, match="bad.png"):
        load_image(tmp_path / "bad.png")


def test_unsupported_format(tmp_path):
    (tmp_path / "notes.png").write_text("this is text, not pixels")
    with pytest.raises(ImageLoadError, match="unsupported format"):
        load_image(tmp_path / "notes.png")


def test_truncated_file(tmp_path):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(tmp_path / "cut.jpg")


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_over_pil_limit(tmp_path):
    # 30000 x 30000 = 900 megapixels, over twice PIL's default limit: PIL raises at open,
    # from the header alone; we never allocate the pixels.
    (tmp_path / "bomb.png").write_bytes(_png_header_only(30000, 30000))
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(tmp_path / "bomb.png")


def test_image_over_the_limit_but_under_twice_it(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # PIL only warns between 1x and 2x the limit
    data = _png_bytes(15, 15)
    with pytest.raises(ImageLoadError, match="(too large|over the limit)"):
        load_image(data)
    assert load_image(data, max_pixels=10_000).size == (15, 15)
    with pytest.raises(ImageLoadError, match="over the limit of 100 pixels"):
        load_image(_png_bytes(11, 10), max_pixels=100)


def test_bad_base64():
    with pytest.raises(ImageLoadError, match="not valid base64"):
        decode_base64_image("@@not base64@@")
