"""The encoder protocol and the geometry between original images and model input space.

An encoder sees images in its *input space*: (H, W, 3) uint8 arrays after its
resize and centre crop. Masking happens there, and :class:`Geometry` maps
label maps and heatmaps back to original-image pixels, marking the part a
centre crop cut away (no model saw it) with -1 / NaN rather than zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ._typing import FloatMatrix

UInt8Batch = np.ndarray
"""uint8 array of shape (m, H, W, 3): images in an encoder's input space."""

CROPPED = -1
"""Label given to original pixels that the centre crop removed."""


@dataclass(frozen=True)
class Geometry:
    """How an original image became model input: resize by (sy, sx), then crop.

    Attributes:
        original_size: (H0, W0) of the original image.
        input_size: (H, W) of the model input.
        resized_size: (Hr, Wr) after resizing, before cropping.
        crop_offset: (top, left) of the crop inside the resized image.
    """

    original_size: tuple[int, int]
    input_size: tuple[int, int]
    resized_size: tuple[int, int]
    crop_offset: tuple[int, int]

    def _model_coords(self) -> tuple[np.ndarray, np.ndarray]:
        h0, w0 = self.original_size
        hr, wr = self.resized_size
        ys = np.floor((np.arange(h0) + 0.5) * hr / h0).astype(np.int64) - self.crop_offset[0]
        xs = np.floor((np.arange(w0) + 0.5) * wr / w0).astype(np.int64) - self.crop_offset[1]
        return ys, xs

    def visible_mask(self) -> np.ndarray:
        """(H0, W0) bool: True where the original pixel survives the crop."""
        ys, xs = self._model_coords()
        h, w = self.input_size
        return ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None, :]

    def to_original(self, model_map: np.ndarray, fill: float | int = CROPPED) -> np.ndarray:
        """Map an (H, W[, ...]) model-space array to (H0, W0[, ...]) original pixels.

        Nearest-neighbour; pixels the crop removed get ``fill`` (use NaN for
        heatmaps, -1 for label maps).
        """
        arr = np.asarray(model_map)
        if arr.shape[:2] != tuple(self.input_size):
            raise ValueError(
                f"Geometry.to_original expects a model-space map of shape {self.input_size}; "
                f"got {arr.shape[:2]}."
            )
        ys, xs = self._model_coords()
        h, w = self.input_size
        out = arr[np.clip(ys, 0, h - 1)][:, np.clip(xs, 0, w - 1)]
        out = out.astype(np.result_type(out.dtype, np.min_scalar_type(fill)), copy=True)
        out[~self.visible_mask()] = fill
        return out

    def from_original(self, original_map: np.ndarray) -> np.ndarray:
        """Map an (H0, W0) original-pixel array (e.g. labels) to model space, nearest-neighbour."""
        arr = np.asarray(original_map)
        if arr.shape[:2] != tuple(self.original_size):
            raise ValueError(
                f"Geometry.from_original expects a map of the original image's shape "
                f"{self.original_size}; got {arr.shape[:2]}."
            )
        h0, w0 = self.original_size
        hr, wr = self.resized_size
        top, left = self.crop_offset
        h, w = self.input_size
        ys = np.clip(np.floor((np.arange(h) + top + 0.5) * h0 / hr).astype(np.int64), 0, h0 - 1)
        xs = np.clip(np.floor((np.arange(w) + left + 0.5) * w0 / wr).astype(np.int64), 0, w0 - 1)
        return arr[ys][:, xs]


@dataclass(frozen=True)
class PreparedImage:
    """An image in model input space plus the way back to original pixels."""

    pixels: np.ndarray  # (H, W, 3) uint8
    geometry: Geometry


@runtime_checkable
class Encoder(Protocol):
    """What the explainers need from a model; connectors implement it.

    Attributes:
        name: a spec that identifies model and weights, e.g.
            ``"clip:ViT-B-32@laion2b_s34b_b79k"``.
        input_size: (H, W) of model-space images.
    """

    name: str
    input_size: tuple[int, int]

    def prepare(self, image: object) -> PreparedImage:
        """Convert a PIL image or (H0, W0, 3) uint8 array to model input space."""
        ...

    def encode(self, pixels: UInt8Batch) -> FloatMatrix:
        """Embed an (m, H, W, 3) uint8 batch of model-space images into (m, d) floats."""
        ...


BYTES_HINT = "pass a path, PIL image or array (decode bytes with PIL.Image.open(io.BytesIO(b)))"
"""What to do instead of passing encoded image bytes where pixels are expected."""


def to_rgb_array(image: object, *, name: str = "image") -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB array from a PIL image or an array.

    Greyscale, RGBA (alpha composited on white), palette, CMYK and 16-bit
    inputs are converted. Integer arrays above 255 are rescaled to 0..255;
    float arrays are read as 0..1 when their maximum is <= 1, else as 0..255.

    Args:
        image: a PIL image, or an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array of
            unsigned/signed integers (>= 0) or finite floats.
        name: how errors refer to the image.

    Returns:
        (H, W, 3) uint8 C-contiguous array.

    Raises:
        TypeError: encoded bytes, a path, None, or an array of another kind (complex, object,
            bool, strings, dates), with what to pass instead.
        ValueError: wrong shape or channel count, no pixels, negative integers, NaN or inf.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, name)
    _refuse_non_arrays(image, name)
    arr = np.asarray(image)
    _check_pixel_dtype(arr, name)
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be a PIL image or an (H, W) / (H, W, 3|4) array; got shape {arr.shape} "
            f"and dtype {arr.dtype}."
        )
    if arr.size == 0:
        raise ValueError(f"{name} has no pixels (shape {arr.shape}).")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] not in (3, 4):
        raise ValueError(f"{name} must have 1, 3 or 4 channels; got {arr.shape[2]}.")
    if np.issubdtype(arr.dtype, np.signedinteger) and arr.min(initial=0) < 0:
        raise ValueError(f"{name} has negative pixel values (min {arr.min()}); pixels are 0..255 (or 0..65535).")
    if arr.dtype == np.uint16 or (np.issubdtype(arr.dtype, np.integer) and arr.max(initial=0) > 255):
        arr = (arr.astype(np.float64) / max(float(arr.max(initial=1)), 1.0) * 255.0).round().astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf pixel values; replace them (e.g. np.nan_to_num) first.")
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        arr = np.clip(arr * scale, 0, 255).round().astype(np.uint8)
    else:
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        return _pil_to_rgb(Image.fromarray(arr, mode="RGBA"), name)
    return np.ascontiguousarray(arr)


def _refuse_non_arrays(image: object, name: str) -> None:
    """Encoded bytes, paths and None are not pixels: say what to pass instead."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} is {len(image)} bytes of encoded data, not pixels; {BYTES_HINT}.")
    if isinstance(image, str) or hasattr(image, "__fspath__"):
        raise TypeError(f"{name} is a path ({str(image)!r}), not pixels; load it first, e.g. with "
                        "qdrant_explain.connectors.load_image(path), or pass a PIL image or array.")
    if image is None:
        raise TypeError(f"{name} is None; pass a PIL image or an (H, W, 3) uint8 array.")


def _check_pixel_dtype(arr: np.ndarray, name: str) -> None:
    """Only integer and float arrays hold pixels."""
    kind = arr.dtype.kind
    if kind in "ui" or kind == "f":
        return
    what = {"c": "complex numbers", "b": "booleans (a mask, not an image)", "O": "Python objects",
            "U": "strings", "S": "bytes", "M": "dates", "m": "time spans", "V": "raw records"}.get(kind, str(arr.dtype))
    fix = ("convert a mask with arr.astype(np.uint8) * 255" if kind == "b"
           else "use the real part or magnitude (np.abs) as a float array" if kind == "c"
           else BYTES_HINT if kind == "S" and arr.ndim == 0
           else "pass an integer (0..255) or float (0..1) array")
    raise TypeError(f"{name} is an array of {what} (dtype {arr.dtype}, shape {arr.shape}); pixels must be "
                    f"integers or floats: {fix}.")


def _pil_to_rgb(image: Image.Image, name: str) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    elif image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return to_rgb_array(np.clip(np.asarray(image), 0, None), name=name)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def prepare_image(
    image: object,
    input_size: tuple[int, int],
    *,
    resize: str = "shortest",
    resample: int = Image.BICUBIC,
    name: str = "image",
) -> PreparedImage:
    """Resize and centre-crop an image into model input space, as open_clip does.

    Args:
        image: PIL image or array (any of the forms :func:`to_rgb_array` takes).
        input_size: (H, W) of the model input.
        resize: ``"shortest"`` scales the shortest side to fit, then centre-crops
            (torchvision ``Resize(int)`` + ``CenterCrop``); ``"squash"`` resizes
            to exactly ``input_size`` (no crop).
        resample: PIL resampling filter.
        name: how errors refer to the image.

    Returns:
        :class:`PreparedImage` with (H, W, 3) uint8 pixels and the geometry.
    """
    rgb = to_rgb_array(image, name=name)
    h0, w0 = rgb.shape[:2]
    h, w = (int(input_size[0]), int(input_size[1]))
    if h0 < 2 or w0 < 2:
        raise ValueError(f"{name} is {h0}x{w0} pixels; at least 2x2 is needed to explain it.")
    if resize == "squash":
        hr, wr = h, w
    elif resize == "shortest":
        scale = max(h / h0, w / w0)
        # torchvision Resize(int): the short side becomes exactly the target, the long side truncates
        if h0 <= w0:
            hr, wr = max(h, round(h0 * scale)), max(w, int(w0 * scale))
        else:
            hr, wr = max(h, int(h0 * scale)), max(w, round(w0 * scale))
    else:
        raise ValueError(f"prepare_image(resize=...) must be 'shortest' or 'squash'; got {resize!r}.")
    resized = np.asarray(Image.fromarray(rgb).resize((wr, hr), resample=resample), dtype=np.uint8)
    top, left = int(round((hr - h) / 2.0)), int(round((wr - w) / 2.0))
    pixels = np.ascontiguousarray(resized[top : top + h, left : left + w])
    geometry = Geometry(original_size=(h0, w0), input_size=(h, w), resized_size=(hr, wr), crop_offset=(top, left))
    return PreparedImage(pixels=pixels, geometry=geometry)


__all__ = ["BYTES_HINT", "CROPPED", "Encoder", "Geometry", "PreparedImage", "UInt8Batch", "prepare_image", "to_rgb_array"]
