"""Load images from a path, bytes or base64 text, with one clear error per failure.

Every loader returns an RGB :class:`PIL.Image.Image` with its EXIF orientation
applied (a phone photo stored sideways comes back upright), fully decoded, so
that truncation surfaces here and not later inside an encoder.

Failures raise :class:`~qdrant_explain.connectors.errors.ImageLoadError` (a
``ValueError``): file not found, not an image / unsupported format, corrupt or
truncated data, or more pixels than PIL's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels by default; pass
``max_pixels`` to choose another limit).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
"""File name endings that :func:`iter_image_files` and indexing pick up."""

HEADER_BYTES = 64
"""How many leading bytes :func:`check_image_header` reads before deciding a file is no image."""

_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "PNG": ((0, b"\x89PNG\r\n\x1a\n"),),
    "JPEG": ((0, b"\xff\xd8\xff"),),
    "GIF": ((0, b"GIF87a"), (0, b"GIF89a")),
    "BMP": ((0, b"BM"),),
    "TIFF": ((0, b"II*\x00"), (0, b"MM\x00*"), (0, b"II+\x00"), (0, b"MM\x00+")),
    "WEBP": ((8, b"WEBP"),),
}
"""Magic bytes (offset, signature) of the formats behind :data:`IMAGE_EXTENSIONS`."""

_EXTENSION_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
                      ".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF"}

HASH_CHUNK = 1 << 20
"""Bytes per read when hashing a file (memory per file stays bounded)."""


def load_image(source: str | os.PathLike | bytes, *, max_pixels: int | None = None, name: str | None = None) -> Image.Image:
    """Read an image file or in-memory encoded bytes into an upright RGB PIL image.

    Args:
        source: a file path, or the encoded bytes of an image (PNG, JPEG, ...).
        max_pixels: refuse images with more pixels than this; default
            ``PIL.Image.MAX_IMAGE_PIXELS`` (PIL's decompression-bomb limit). PIL
            itself still refuses more than twice its limit.
        name: how errors refer to the image (default: the path, or "image bytes").

    Returns:
        RGB :class:`PIL.Image.Image`, EXIF orientation applied, pixels loaded.

    Raises:
        ImageLoadError: missing file, unsupported format, corrupt or truncated
            data, or an image over the pixel limit.
        TypeError: ``source`` is neither a path nor bytes.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "image bytes"
        return _decode(io.BytesIO(bytes(source)), label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or str(path)
        if not path.exists():
            raise ImageLoadError(f"Image file not found: {label!r}. Check the path (relative paths start at {os.getcwd()!r}).")
        if not path.is_file():
            raise ImageLoadError(f"Image path {label!r} is not a regular file.")
        with open(path, "rb") as fh:
            return _decode(io.BytesIO(fh.read()), label, max_pixels)
    raise TypeError(f"load_image(source=...) takes a path or bytes; got {type(source).__name__}.")


def decode_base64_image(text: str, *, max_pixels: int | None = None, name: str = "base64 image") -> Image.Image:
    """Decode base64 text (optionally a ``data:image/...;base64,`` URI) into an RGB image.

    Raises:
        ImageLoadError: the text is not valid base64, or the bytes are not a readable image.
    """
    if not isinstance(text, str):
        raise TypeError(f"decode_base64_image(text=...) takes a str; got {type(text).__name__}.")
    payload = text.strip()
    if payload.startswith("data:"):
        head, _, payload = payload.partition(",")
        if ";base64" not in head:
            raise ImageLoadError(f"{name} is a data URI without ';base64'; only base64 data URIs are supported.")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageLoadError(f"{name} is not valid base64 text ({exc}).") from None
    return load_image(raw, max_pixels=max_pixels, name=name)


def encode_base64_image(image: Image.Image, *, format: str = "PNG") -> str:
    """Encode a PIL image as base64 text (for payloads that carry the image itself)."""
    buf = io.BytesIO()
    image.save(buf, format=format)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def iter_image_files(folder: str | os.PathLike, *, recursive: bool = True, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """Sorted list of image files under ``folder`` (by extension, case-insensitive)."""
    root = Path(folder)
    if not root.is_dir():
        raise ImageLoadError(f"Image folder not found or not a directory: {str(root)!r}.")
    pattern = "**/*" if recursive else "*"
    exts = tuple(e.lower() for e in extensions)
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in exts)


def sniff_image_format(head: bytes) -> str | None:
    """The format whose magic bytes ``head`` starts with (PNG, JPEG, GIF, BMP, TIFF, WEBP), else None.

    Args:
        head: the first bytes of a file (:data:`HEADER_BYTES` are enough).

    Returns:
        The PIL format name, or None when no known signature matches.
    """
    for fmt, signatures in _SIGNATURES.items():
        for offset, magic in signatures:
            if head[offset : offset + len(magic)] == magic and (fmt != "WEBP" or head[:4] == b"RIFF"):
                return fmt
    return None


def check_image_header(stream: BinaryIO, *, label: str, max_pixels: int | None = None) -> tuple[str, int, int]:
    """Check that an open binary file is an image, reading only its header; rewinds it.

    The first :data:`HEADER_BYTES` bytes must carry the magic bytes of a known format (or, for
    other formats, PIL's lazy open must recognise them); then PIL's lazy open reads the size
    without decoding pixels, and the pixel limit is checked. A large file that is not an image
    is never read past its first bytes.

    Args:
        stream: a seekable binary file opened at its start.
        label: how errors refer to the file.
        max_pixels: pixel limit (default ``PIL.Image.MAX_IMAGE_PIXELS``).

    Returns:
        (format, width, height) from the header.

    Raises:
        ImageLoadError: no image signature, a header PIL cannot read, or too many pixels.
    """
    head = stream.read(HEADER_BYTES)
    stream.seek(0)
    if not head:
        raise ImageLoadError(f"{label} is empty (0 bytes).")
    known = sniff_image_format(head)
    if known is None and _EXTENSION_FORMATS.get(Path(label).suffix.lower()):
        raise ImageLoadError(
            f"{label} is not an image: its first bytes ({head[:8].hex(' ')}) match no image format "
            f"({', '.join(_SIGNATURES)}).")
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as img:  # lazy: header only
                fmt, width, height = img.format, img.width, img.height
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{label} is too large to load safely ({exc}). " + _BOMB_FIX) from None
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"{label} is not an image PIL can read: unsupported format or corrupt header. "
            f"Supported formats include {', '.join(_common_formats())}.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{label} has a corrupt image header ({exc}).") from None
    finally:
        stream.seek(0)
    if limit is not None and width * height > limit:
        raise _bomb(label, width, height, limit)
    return fmt, width, height


def sha256_stream(stream: BinaryIO, *, chunk: int = HASH_CHUNK) -> str:
    """SHA-256 hex digest of a binary file read in chunks (bounded memory); rewinds it.

    Args:
        stream: a seekable binary file opened at its start.
        chunk: bytes per read.

    Returns:
        The hex digest of the whole content.
    """
    digest = hashlib.sha256()
    while True:
        block = stream.read(chunk)
        if not block:
            break
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def decode_image_stream(stream: BinaryIO, *, label: str, max_pixels: int | None = None) -> Image.Image:
    """Decode an open binary image file into an upright RGB image (as :func:`load_image` does).

    Args:
        stream: a seekable binary file (or BytesIO) at the start of the image.
        label: how errors refer to it.
        max_pixels: pixel limit (default ``PIL.Image.MAX_IMAGE_PIXELS``).

    Returns:
        RGB :class:`PIL.Image.Image`, EXIF orientation applied, pixels loaded.

    Raises:
        ImageLoadError: unsupported format, corrupt or truncated data, or too many pixels.
    """
    return _decode(stream, label, max_pixels)


def _decode(stream: BinaryIO, label: str, max_pixels: int | None) -> Image.Image:
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    try:
        with warnings.catch_warnings():
            # PIL warns above MAX_IMAGE_PIXELS (we make it an error) and refuses above twice
            # that; an explicit max_pixels replaces the warning level with our own check.
            warnings.simplefilter("error" if max_pixels is None else "ignore", Image.DecompressionBombWarning)
            img = Image.open(stream)
            fmt = img.format
            if limit is not None and img.width * img.height > limit:
                raise _bomb(label, img.width, img.height, limit)
            img.load()
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{label} is too large to load safely ({exc}). " + _BOMB_FIX) from None
    except Image.DecompressionBombWarning as exc:
        raise ImageLoadError(f"{label} is too large to load safely ({exc}). " + _BOMB_FIX) from None
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"{label} is not an image PIL can read: unsupported format or corrupt header. "
            f"Supported formats include {', '.join(_common_formats())}."
        ) from None
    except ImageLoadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        kind = "truncated" if "truncat" in str(exc).lower() else "corrupt"
        raise ImageLoadError(f"{label} is {kind} and cannot be decoded ({exc}). Re-export or re-download the file.") from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not lose an otherwise fine image
        pass
    if img.mode != "RGB":
        from qdrant_explain.explainers.encoder import to_rgb_array

        img = Image.fromarray(to_rgb_array(img, name=label))
    img.info["source_format"] = fmt
    return img


_BOMB_FIX = ("Resize the image, or raise the limit with max_pixels=... (up to twice PIL.Image.MAX_IMAGE_PIXELS; "
             "beyond that raise PIL.Image.MAX_IMAGE_PIXELS itself) if you trust the file.")


def _bomb(label: str, w: int, h: int, limit: int) -> ImageLoadError:
    return ImageLoadError(f"{label} has {w}x{h} = {w * h} pixels, over the limit of {limit} pixels. " + _BOMB_FIX)


def _common_formats() -> list[str]:
    Image.init()
    return sorted({"JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"} & set(Image.OPEN))


__all__ = ["HEADER_BYTES", "IMAGE_EXTENSIONS", "check_image_header", "decode_base64_image", "decode_image_stream",
           "encode_base64_image", "iter_image_files", "load_image", "sha256_stream", "sniff_image_format"]
