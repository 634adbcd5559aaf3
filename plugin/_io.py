"""Safe output: validated targets, atomic writes, terminal-safe text and always-valid UTF-8 JSON.

Every file qdrant-explain writes and every name it prints goes through here:

- :func:`check_output_path`: validate an output target *before* any computation (missing folder,
  a folder, not writable, ``-`` where stdout is not allowed), naming the option.
- :func:`write_atomic`: temp file in the same folder, fsync, :func:`os.replace`; a failing write
  leaves the previous file intact and no temp file behind.
- :func:`safe_text`: control characters, escape sequences and undecodable bytes are shown escaped,
  so a file name or payload path cannot drive the terminal.
- :func:`to_json_text`: JSON that always encodes to valid UTF-8 (surrogate-escaped bytes of
  non-UTF-8 file names become ``\\xNN`` text); :func:`escape_surrogates` does the same for any text.
- :func:`check_output_dir`: the same up-front check for an output folder (created later).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import tempfile
import unicodedata
from typing import Any, Literal

STDOUT = "-"
"""The output target that means standard output (only where a command allows it)."""

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories never printed raw: controls, format (bidi overrides), surrogates, private, unassigned,
line and paragraph separators."""


class OutputPathError(ValueError):
    """An output target that cannot be written (``option`` names the CLI option or argument)."""

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message)
        self.option = option


def check_output_path(path: str | os.PathLike | None, *, option: str,
                      allow_stdout: bool) -> pathlib.Path | None | Literal["-"]:
    """Validate an output target before any computation.

    Args:
        path: the target given by the user, or None (no output requested).
        option: the option or argument name used in messages, e.g. ``"--png"``.
        allow_stdout: whether ``"-"`` (standard output) is allowed for this option.

    Returns:
        None for None, ``"-"`` for stdout (where allowed), else the target as a :class:`pathlib.Path`.

    Raises:
        OutputPathError: (a ValueError) ``"-"`` where stdout is not allowed, an empty name, the target
            is a folder or read-only, or its folder is missing, not a folder, or not writable.
    """
    if path is None:
        return None
    raw = os.fspath(path)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if raw == STDOUT:
        if allow_stdout:
            return STDOUT
        raise OutputPathError(f"{option} cannot write to standard output ('-'); give a file name, "
                              f"e.g. {option} out{_suffix(option)}.", option=option)
    if not raw.strip():
        raise OutputPathError(f"{option} needs a file name; got an empty one.", option=option)
    target = pathlib.Path(raw).expanduser()
    shown = safe_text(raw)
    if target.is_dir():
        raise OutputPathError(f"{option} {shown!r} is a folder; give a file name inside it, "
                              f"e.g. {safe_text(str(target / ('out' + _suffix(option))))!r}.", option=option)
    parent = target.parent
    if not parent.exists():
        raise OutputPathError(f"{option} {shown!r}: the folder {safe_text(str(parent))!r} does not exist; "
                              "create it first.", option=option)
    if not parent.is_dir():
        raise OutputPathError(f"{option} {shown!r}: {safe_text(str(parent))!r} is not a folder.", option=option)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option} {shown!r}: the folder {safe_text(str(parent))!r} is not writable.",
                              option=option)
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputPathError(f"{option} {shown!r} exists and is read-only; remove it or choose another name.",
                              option=option)
    return target


def _suffix(option: str) -> str:
    name = option.lstrip("-").lower()
    return {"json": ".json", "png": ".png", "html": ".html"}.get(name, "")


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, fsync, then :func:`os.replace`.

    Readers see the old file or the new one, never a partial one. A new file gets the permissions
    the umask allows (as :func:`open` would); an existing file keeps its mode. A symbolic link is
    followed (the link stays); a target that is not a regular file (``/dev/stdout``, a FIFO) is
    written directly, since it cannot be replaced.

    Args:
        path: the target file.
        data: bytes, or text (written as UTF-8).

    Raises:
        OSError: the folder is missing or not writable, the disk is full, ... The previous file
            at ``path`` is untouched and the temp file is removed.
        UnicodeEncodeError: ``data`` is text that is not encodable as UTF-8 (lone surrogates);
            nothing is written. Use :func:`to_json_text` / :func:`safe_text` for such text.
        TypeError: ``data`` is neither bytes nor str.
    """
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:
        raise TypeError(f"write_atomic(data=...) takes bytes or str; got {type(data).__name__}.")
    target = pathlib.Path(path)
    if target.is_symlink():  # write next to the real file, keep the link
        target = target.resolve()
    if target.exists() and not target.is_file():  # /dev/stdout, a FIFO, a device: no rename possible
        with open(target, "wb") as fh:
            fh.write(payload)
        return
    folder = target.parent
    mode = _target_mode(target)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(folder)


def _target_mode(target: pathlib.Path) -> int:
    """The mode the written file gets: the existing file's, else 0o666 minus the umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux: read it without changing process state
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _fsync_dir(folder: pathlib.Path) -> None:
    """Best effort: make the rename durable (not possible on every platform)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def safe_text(s: object) -> str:
    """``str(s)`` made printable for a terminal.

    Control characters (ESC, BEL, CR, newline, C1 controls such as CSI), invisible format
    characters (bidi overrides), line separators and lone surrogates are shown as Python escapes
    (``\\x1b``, ``\\n``, ``\\u202e``). Undecodable bytes of a file name (surrogate-escaped, as
    :func:`os.fsdecode` gives them) are shown as the byte: ``\\udcff`` -> ``\\xff``. Bytes are
    decoded as UTF-8 with the same rule. Printable text, including non-ASCII letters, is unchanged.

    Args:
        s: anything; bytes are decoded, everything else goes through :func:`str`.

    Returns:
        A string with no control characters or surrogates.
    """
    text = s.decode("utf-8", "surrogateescape") if isinstance(s, (bytes, bytearray)) else str(s)
    if text.isprintable() and text.isascii():
        return text
    return "".join(_escape_char(c) for c in text)


def _escape_char(c: str) -> str:
    if c == " " or unicodedata.category(c) not in _UNSAFE_CATEGORIES:
        return c
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if c in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def check_output_dir(path: str | os.PathLike | None, *, option: str) -> pathlib.Path | None:
    """Validate an output folder before any computation: it is a folder, or can be created.

    Args:
        path: the folder given by the user, or None.
        option: the option name used in messages, e.g. ``"--out"``.

    Returns:
        None for None, else the folder as a :class:`pathlib.Path` (not created here).

    Raises:
        OutputPathError: (a ValueError) the path is a file, or its nearest existing ancestor is
            not a writable folder.
    """
    if path is None:
        return None
    raw = os.fsdecode(os.fspath(path))
    if not raw.strip() or raw == STDOUT:
        raise OutputPathError(f"{option} needs a folder name; got {safe_text(raw)!r}.", option=option)
    folder = pathlib.Path(raw).expanduser()
    shown = safe_text(raw)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{option} {shown!r} is a file, not a folder.", option=option)
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{option} {shown!r}: {safe_text(str(existing))!r} is not a folder.", option=option)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option} {shown!r}: the folder {safe_text(str(existing))!r} is not writable.",
                              option=option)
    return folder


def escape_surrogates(text: str) -> str:
    """``text`` with lone surrogates written as escapes (``\\udcff`` -> ``\\xff``), so it encodes as UTF-8.

    Unlike :func:`safe_text`, newlines and other control characters are kept: use it for documents
    (HTML, JSON) that are not printed to a terminal.
    """
    if _is_utf8(text):
        return text
    return "".join(_escape_char(c) if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _clean_surrogates(obj: Any) -> Any:
    """Strings with lone surrogates escaped (``\\udcff`` -> ``\\xff`` text), recursively in dicts/lists."""
    if isinstance(obj, str):
        return escape_surrogates(obj)
    if isinstance(obj, dict):
        return {_clean_surrogates(k) if isinstance(k, str) else k: _clean_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_surrogates(v) for v in obj]
    return obj


def _is_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_json_text(obj: Any, *, indent: int | None = 2, **kwargs: Any) -> str:
    """``json.dumps(obj)`` that always encodes to valid UTF-8.

    Non-ASCII text stays readable (``ensure_ascii=False``); lone surrogates, e.g. the undecodable
    bytes of a non-UTF-8 file name, are written as escaped text (``"caf\\\\xff.png"``) instead of
    making the output unencodable.

    Args:
        obj: a JSON-serialisable object (dicts, lists, str, numbers, bool, None).
        indent: as for :func:`json.dumps` (default 2).
        **kwargs: more :func:`json.dumps` keywords (``sort_keys``, ``default``, ...).

    Returns:
        The JSON text; ``text.encode("utf-8")`` never fails.

    Raises:
        TypeError: ``obj`` holds something JSON cannot represent (and no ``default=`` handles it).
    """
    kwargs.setdefault("ensure_ascii", False)
    text = json.dumps(obj, indent=indent, **kwargs)
    if _is_utf8(text):
        return text
    return json.dumps(_clean_surrogates(obj), indent=indent, **kwargs)


__all__ = ["STDOUT", "OutputPathError", "check_output_dir", "check_output_path", "escape_surrogates", "safe_text",
           "to_json_text", "write_atomic"]
