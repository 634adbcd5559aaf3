"""Find the image behind a hit: a payload path confined to a root, base64 bytes, a URL, or your own resolver.

Payload keys looked at, in order (the first present wins):

=============================================  ==========================================
``image_base64``, ``image_b64``                base64 text or a ``data:image/...`` URI
``path``, ``image_path``, ``file_path``,       a file path, relative to ``root`` (absolute
``file``, ``filename``                         paths must also lie inside ``root``)
``url``, ``image_url``                         fetched only with ``allow_urls=True``
=============================================  ==========================================

A user ``resolver(payload) -> PIL image | bytes | path | None`` runs first; ``None``
falls through to the keys above. Paths are resolved (``..`` and symlinks
followed) and must end inside ``root``: neither ``../secret.png``, ``/etc/passwd``
nor a symlink pointing out of the root is loaded. The root itself comes from the
user or from this machine's record of indexing (:mod:`.roots`), never from the
collection.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from .errors import ImageLoadError, ImageResolveError
from .images import decode_base64_image, load_image

BASE64_KEYS = ("image_base64", "image_b64")
PATH_KEYS = ("path", "image_path", "file_path", "file", "filename")
URL_KEYS = ("url", "image_url")

Resolver = Callable[[dict], Any]
"""``resolver(payload)`` returns a PIL image, encoded bytes, a path, or None to fall through."""


class ImageResolver:
    """Turn a hit's payload into an RGB PIL image, safely.

    Args:
        root: directory that payload paths are relative to and confined to.
            Without it, payload paths are refused (base64 and resolvers still work).
        allow_urls: fetch ``url`` payloads over HTTP(S) (off by default).
        resolver: optional ``resolver(payload)`` tried first.
        url_timeout: seconds for a URL fetch.
        max_bytes: refuse URL downloads larger than this.
        max_pixels: decompression-bomb limit (default PIL's).
        indexed_hint: the folder a collection's metadata *claims* it was indexed from;
            only quoted in the "no image root" message, never used to read files.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, allow_urls: bool = False, resolver: Resolver | None = None,
                 url_timeout: float = 10.0, max_bytes: int = 50_000_000, max_pixels: int | None = None,
                 indexed_hint: str | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else None
        self.indexed_hint = indexed_hint
        self.allow_urls = bool(allow_urls)
        self.resolver = resolver
        self.url_timeout = float(url_timeout)
        self.max_bytes = int(max_bytes)
        self.max_pixels = max_pixels

    def __call__(self, payload: dict | None, *, point_id: Any = None) -> Image.Image:
        """Return the image for ``payload`` (see the module docstring for the rules).

        Raises:
            ImageResolveError: no usable key, a path outside the root, URLs not enabled.
            ImageLoadError: the data found is not a readable image.
        """
        label = f"point {point_id!r}" if point_id is not None else "hit"
        payload = payload or {}
        if self.resolver is not None:
            got = self.resolver(payload)
            if got is not None:
                return self._from_resolver(got, label)
        for key in BASE64_KEYS:
            if isinstance(payload.get(key), str):
                return decode_base64_image(payload[key], max_pixels=self.max_pixels, name=f"{label} payload[{key!r}]")
        for key in PATH_KEYS:
            if isinstance(payload.get(key), str):
                return load_image(self.confine(payload[key], label=label), max_pixels=self.max_pixels)
        for key in URL_KEYS:
            if isinstance(payload.get(key), str):
                if not self.allow_urls:
                    raise ImageResolveError(
                        f"{label} points to a URL ({payload[key]!r}); fetching URLs is disabled. "
                        "Enable it with allow_urls=True (CLI: --allow-urls) if you trust the collection."
                    )
                return self._fetch(payload[key], label)
        keys = sorted(payload)
        raise ImageResolveError(
            f"{label} has no image in its payload (keys: {keys or 'none'}). Expected one of "
            f"{', '.join(PATH_KEYS + BASE64_KEYS + URL_KEYS)}, or pass resolver=... that maps a payload to an image."
        )

    def confine(self, value: str | os.PathLike, *, label: str = "hit") -> Path:
        """Resolve a payload path under ``root``; refuse escapes through ``..`` or symlinks."""
        if self.root is None:
            hint = (f" (the collection's metadata says {self.indexed_hint!r}; metadata is not trusted for this)"
                    if self.indexed_hint else "")
            raise ImageResolveError(
                f"{label} has an image path ({str(value)!r}) but no image root is configured (none given, none recorded on this machine{hint}); "
                "pass image_root=... (CLI: --image-root DIR) with the folder the collection was indexed from."
            )
        raw = Path(value)
        candidate = raw if raw.is_absolute() else self.root / raw
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise ImageResolveError(f"{label}: cannot resolve image path {str(value)!r} ({exc}).") from None
        if resolved != self.root and self.root not in resolved.parents:
            raise ImageResolveError(
                f"{label}: image path {str(value)!r} resolves to {str(resolved)!r}, outside the image root "
                f"{str(self.root)!r}; refusing to read it (paths may not escape the root through '..' or symlinks)."
            )
        if not resolved.is_file():
            raise ImageLoadError(f"{label}: image file not found: {str(resolved)!r} (payload path {str(value)!r}).")
        return resolved

    def _from_resolver(self, got: Any, label: str) -> Image.Image:
        if isinstance(got, Image.Image):
            return got.convert("RGB") if got.mode != "RGB" else got
        if isinstance(got, (bytes, bytearray, memoryview)):
            return load_image(bytes(got), max_pixels=self.max_pixels, name=f"{label} (resolver bytes)")
        if isinstance(got, (str, os.PathLike)):
            return load_image(got, max_pixels=self.max_pixels)
        import numpy as np

        if isinstance(got, np.ndarray):
            from qdrant_explain.explainers.encoder import to_rgb_array

            return Image.fromarray(to_rgb_array(got, name=label))
        raise ImageResolveError(
            f"resolver returned {type(got).__name__} for {label}; expected a PIL image, bytes, a path, an array or None."
        )

    def _fetch(self, url: str, label: str) -> Image.Image:
        if not url.lower().startswith(("http://", "https://")):
            raise ImageResolveError(f"{label}: only http(s) URLs are fetched; got {url!r}.")
        try:
            with urllib.request.urlopen(url, timeout=self.url_timeout) as resp:  # noqa: S310 - scheme checked above
                data = resp.read(self.max_bytes + 1)
        except OSError as exc:
            raise ImageResolveError(f"{label}: could not fetch {url!r} ({exc}).") from None
        if len(data) > self.max_bytes:
            raise ImageLoadError(f"{label}: {url!r} is larger than {self.max_bytes} bytes; refusing it.")
        return load_image(data, max_pixels=self.max_pixels, name=url)


__all__ = ["BASE64_KEYS", "ImageResolver", "PATH_KEYS", "Resolver", "URL_KEYS"]
