"""Typed, frozen results of the product API: one family, each with ``to_json``/``from_json``, ``save_png``, ``to_html``.

- :class:`Hit`: one point Qdrant returned (``id``, ``score``, ``payload``, ``vector``), plus its
  resolved ``image`` once the payload was read.
- :class:`PairExplanation`: why one hit matched one query: saliency maps on both sides (order 1)
  or singleton terms plus the region-to-region ``cross`` matrix (order 2, joint Shapley-Taylor),
  with the lookups ``hit_heatmap_for`` / ``query_heatmap_for``.
- :class:`SearchResults`: the hits of one search, optionally each explained.
- :class:`Comparison`: why hit A ranks above hit B (relative game on the query).
- :class:`AuditReport`: many queries, summarised.

One set of field names across the family:

- ``score`` is always Qdrant's score (None when Qdrant gave none, e.g. a raw image pair); it is
  never the metric and never a game value (those are ``base_value`` / ``full_value``).
- ``metric`` is the Qdrant distance the game scores with (``"cosine"``, ``"dot"``, ``"euclid"``,
  ``"manhattan"``).
- Provenance, on every result (:class:`Result`): ``method``, ``budget``, ``encoder_passes``,
  ``seconds``, ``encoder``, ``seed`` (None where it does not apply, e.g. on a plain :class:`Hit`).

Results are frozen: no attribute is added or changed after construction (``setattr`` raises
:class:`dataclasses.FrozenInstanceError`); array fields are read-only views and dict fields
read-only dicts. Derive a changed copy with :func:`dataclasses.replace`, e.g.
``replace(explanation, query_name="q.jpg")``. Sequences (``hits``, ``explanations``,
``searches``) are tuples.

**One Hit type.** :class:`Hit` extends the connectors' frozen
:class:`qdrant_explain.connectors.qdrant.Hit` (same ``id``, ``score``, ``payload``, ``vector``)
with the resolved ``image`` and the provenance fields, so a results Hit *is* a connectors Hit and
anything that takes one (``collection.resolve_image(hit)``) takes the other.
:meth:`Hit.from_connector` lifts a connectors Hit (its NaN score of a retrieved point becomes
None); every Hit the plugin hands out is a results Hit.

**JSON.** ``to_json`` writes the documented fields of README ("--json fields") as plain JSON
numbers and lists, then what is needed to rebuild the object exactly: images, label maps and
heatmaps as compact encoded arrays (``{"dtype", "shape", "png"}`` for (H, W, 3) uint8 images,
``{"dtype", "shape", "zlib"}`` for other arrays, base64), NaN kept, each distinct array once in
the ``"arrays"`` table at the end and referenced as ``{"array": KEY}`` where it is used. ``type(r).from_json(r.to_json())
== r`` for every type; :func:`load_result` reads any of them by its ``"result"`` field.
``to_json(arrays=False)`` leaves the encoded arrays out (a lean file for reading numbers;
:meth:`~Result.from_json` then rebuilds the numbers without the pictures).

**Reports.** Every result declares its report layout (:meth:`Result.report_layout`: a title,
a subtitle and typed sections from :mod:`qdrant_explain.report.sections`); the renderer only
draws sections, it never asks which result class it got.

Heatmaps and label maps are in *original-image pixels*; NaN (heatmaps) and -1 (label maps) mark
pixels a centre crop cut away, which no model saw.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import math
import os
import pathlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from qdrant_explain.connectors.qdrant import Hit as _ConnectorHit
from qdrant_explain.explainers.joint import JointExplanation
from qdrant_explain.explainers.players import Players
from qdrant_explain.explainers.result import Explanation
from qdrant_explain.explainers.scores import higher_is_better as _higher_is_better
from qdrant_explain.explainers.uncertainty import LEVEL, confidence_interval

from . import _images
from .report import sections as _sec

JSON_FORMAT = 1
"""Version of the JSON layout written by ``to_json`` (the ``"format"`` field)."""


# ----------------------------------------------------------------------------- immutability


class FrozenDict(dict):
    """A read-only dict (payloads, summaries): item assignment and the mutating methods raise TypeError.

    It compares, prints and JSON-encodes like a dict, and pickles/copies as a FrozenDict.
    """

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise TypeError("this dict belongs to a frozen qdrant_explain result and is read-only; "
                        "build a new dict and use dataclasses.replace(result, field=new_dict).")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> "FrozenDict":
        return self

    def __deepcopy__(self, memo: dict) -> "FrozenDict":
        import copy

        return FrozenDict(copy.deepcopy(dict(self), memo))


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (the caller's array stays writable)."""
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def _freeze(value: Any) -> Any:
    """Read-only form of one field value: arrays as read-only views, dicts as :class:`FrozenDict`, and the arrays
    of nested frozen dataclasses (players, side and joint explanations) as read-only views."""
    if isinstance(value, np.ndarray):
        return _readonly(value)
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: _freeze_nested(v) for k, v in value.items()})
    if dataclasses.is_dataclass(value) and not isinstance(value, (type, Result)):
        views = {f.name: _readonly(getattr(value, f.name)) for f in dataclasses.fields(value)
                 if f.init and isinstance(getattr(value, f.name), np.ndarray) and getattr(value, f.name).flags.writeable}
        return dataclasses.replace(value, **views) if views else value
    return value


def _freeze_nested(value: Any) -> Any:
    return FrozenDict({k: _freeze_nested(v) for k, v in value.items()}) if isinstance(value, Mapping) else value


def float_arrays(obj: Any, names: tuple[str, ...]) -> None:
    """``__post_init__``: each named field that is set becomes a float64 array."""
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            _set(obj, name, np.asarray(value, dtype=np.float64))


def coerce_explained_hit(obj: Any) -> None:
    """``__post_init__`` of a result that explains one hit: values, order, Qdrant's score, the point and the
    encoder time to their plain types (PairExplanation, TextExplanation)."""
    _set(obj, "base_value", float(obj.base_value))
    _set(obj, "full_value", float(obj.full_value))
    _set(obj, "order", int(obj.order))
    _set(obj, "score", _float_or_none(obj.score))
    _set(obj, "hit_id", _point_id(obj.hit_id))
    _set(obj, "hit_payload", {} if obj.hit_payload is None else obj.hit_payload)
    _set(obj, "encoder_seconds", float(obj.encoder_seconds))


def _set(obj: Any, name: str, value: Any) -> None:
    """Assign during ``__post_init__`` only (the dataclass is frozen)."""
    object.__setattr__(obj, name, value)


# ----------------------------------------------------------------------------- equality


def same(a: Any, b: Any) -> bool:
    """Deep equality for result contents: arrays by shape, dtype and values (NaN equals NaN), floats with NaN == NaN.

    Args:
        a, b: values of result fields (arrays, numbers, dicts, sequences, dataclasses).

    Returns:
        True when they hold the same data.
    """
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if a is None or b is None:
            return False
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return False
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and x.dtype != y.dtype:
            return False
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            return bool(np.array_equal(x, y, equal_nan=True))
        return bool(np.array_equal(x, y))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return False
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return bool(a == b or (math.isnan(a) and math.isnan(b)))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------- JSON helpers


def _jsonable(x: Any) -> Any:
    """Convert numpy scalars/arrays (and nested containers) to JSON-safe Python values; NaN/inf become null."""
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _point_id(pid: Any) -> Any:
    """Qdrant ids are unsigned ints or UUID strings; keep ints as ints."""
    if isinstance(pid, (bool, np.bool_)):
        return pid
    if isinstance(pid, np.integer):
        return int(pid)
    return pid


def _float_or_none(x: Any) -> float | None:
    """A finite float, or None for None/NaN (JSON null)."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _vector(x: Any) -> np.ndarray | None:
    """A JSON list (nulls = NaN) back to float64, or None."""
    if x is None:
        return None
    return np.array([np.nan if v is None else v for v in np.ravel(np.asarray(x, dtype=object))],
                    dtype=np.float64).reshape(np.shape(x))


def _matrix(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    rows = [[np.nan if v is None else v for v in row] for row in x]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


def encode_array(a: np.ndarray | None) -> dict | None:
    """Compact, exact JSON form of an array: PNG for (H, W, 3) uint8 images, zlib of the raw bytes otherwise.

    Args:
        a: any numeric/bool array, or None.

    Returns:
        ``{"dtype", "shape", "png" | "zlib"}`` (base64 text), or None.
    """
    if a is None:
        return None
    arr = np.ascontiguousarray(a)
    head = {"dtype": arr.dtype.str, "shape": list(arr.shape)}
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3 and arr.size:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", compress_level=1)  # lossless; level 1: fast, a little larger
        return {**head, "png": base64.b64encode(buf.getvalue()).decode("ascii")}
    return {**head, "zlib": base64.b64encode(zlib.compress(arr.tobytes(), 1)).decode("ascii")}


def decode_array(d: Mapping | None, *, name: str = "array") -> np.ndarray | None:
    """Inverse of :func:`encode_array`.

    Raises:
        ValueError: ``d`` is not an encoded array (names ``name``).
    """
    if d is None:
        return None
    if isinstance(d, _Decoded):
        return d.array()
    if not isinstance(d, Mapping) or "dtype" not in d or "shape" not in d or not ({"png", "zlib"} & set(d)):
        raise ValueError(f"{name}: expected an encoded array {{'dtype', 'shape', 'png' | 'zlib'}}; got {str(d)[:80]!r}.")
    dtype, shape = np.dtype(d["dtype"]), tuple(int(s) for s in d["shape"])
    if "png" in d:
        with Image.open(io.BytesIO(base64.b64decode(d["png"]))) as im:
            arr = np.asarray(im.convert("RGB"), dtype=dtype)
    else:
        arr = np.frombuffer(zlib.decompress(base64.b64decode(d["zlib"])), dtype=dtype)
    if arr.size != math.prod(shape):
        raise ValueError(f"{name}: the encoded data holds {arr.size} values, not the {shape} the header says.")
    return arr.reshape(shape).copy()


def _is_encoded(x: Any) -> bool:
    return isinstance(x, dict) and "dtype" in x and "shape" in x and ("png" in x or "zlib" in x)


def pool_arrays(obj: Any) -> Any:
    """Move every encoded array of a JSON-safe result dict into one ``"arrays"`` table at its end.

    Each distinct array is stored once (a query image shared by ten explanations, a hit image in
    both the hit and its explanation) under a key derived from its content; its places hold
    ``{"array": KEY}``. :func:`unpool_arrays` reverses it.

    Args:
        obj: the output of a result's ``to_dict`` after ``_jsonable``.

    Returns:
        A new dict (``obj`` itself when it holds no encoded array).
    """
    table: dict[str, dict] = {}

    def walk(x: Any) -> Any:
        if _is_encoded(x):
            blob = x.get("png") or x.get("zlib")
            key = hashlib.sha1(f"{x['dtype']}{x['shape']}{blob}".encode("ascii")).hexdigest()[:16]
            table.setdefault(key, x)
            return {"array": key}
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    out = walk(obj)
    if table and isinstance(out, dict):
        out["arrays"] = table
    return out


class _Decoded:
    """An encoded array of the ``arrays`` table, decoded on first use and then shared by every place that refers to it."""

    __slots__ = ("encoded", "key", "_array")

    def __init__(self, encoded: Mapping, key: str) -> None:
        self.encoded, self.key, self._array = encoded, key, None

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = decode_array(self.encoded, name=f"arrays[{self.key!r}]")
        return self._array


def _resolve_arrays(obj: Any) -> Any:
    """Like :func:`unpool_arrays`, but each table entry is decoded once (:class:`_Decoded`) and shared."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("arrays"), Mapping):
        return obj
    table = {k: _Decoded(v, k) for k, v in obj["arrays"].items()}
    return _replace_refs({k: v for k, v in obj.items() if k != "arrays"}, table)


def _replace_refs(x: Any, table: Mapping) -> Any:
    if isinstance(x, Mapping) and set(x) == {"array"} and isinstance(x["array"], str) and x["array"] in table:
        return table[x["array"]]
    if isinstance(x, Mapping):
        return {k: _replace_refs(v, table) for k, v in x.items()}
    if isinstance(x, list):
        return [_replace_refs(v, table) for v in x]
    return x


def unpool_arrays(obj: Any) -> Any:
    """Inverse of :func:`pool_arrays`: every ``{"array": KEY}`` replaced by its encoded array.

    A one-key dict ``{"array": value}`` whose value is not a key of the table (e.g. inside a
    payload) is left as it is.
    """
    if not isinstance(obj, Mapping) or not isinstance(obj.get("arrays"), Mapping):
        return obj
    return _replace_refs({k: v for k, v in obj.items() if k != "arrays"}, obj["arrays"])


class _Raw:
    """An array to be written encoded (:func:`encode_array`), kept raw until the whole document is encoded."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    @classmethod
    def of(cls, a: np.ndarray | None) -> "_Raw | None":
        return None if a is None else cls(np.asarray(a))


def _encode_tree(obj: Any) -> Any:
    """JSON-safe copy of a :meth:`Result._fields` structure: every :class:`_Raw` encoded once per distinct buffer."""
    memo: dict[tuple, dict] = {}

    def walk(x: Any) -> Any:
        if isinstance(x, _Raw):
            a = np.ascontiguousarray(x.array)
            key = (a.dtype.str, a.shape, hashlib.sha1(a.data).digest())
            if key not in memo:  # the same data (a query image shared by several explanations): encode once
                memo[key] = encode_array(a)
            return memo[key]
        if isinstance(x, Mapping):
            return {str(k): walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return _jsonable(x)

    return walk(obj)


def _players_json(p: Players | None, arrays: bool) -> dict | None:
    if p is None:
        return None
    out: dict = {"spec": p.spec, "label_values": _jsonable(np.asarray(p.label_values))}
    if arrays:
        out["labels"] = _Raw.of(p.labels)
        out["original_labels"] = _Raw.of(p.original_labels)
    return out


def _players_from(d: Mapping | None, name: str) -> Players | None:
    if d is None or "labels" not in d:
        return None
    return Players(labels=decode_array(d["labels"], name=f"{name}.labels"),
                   original_labels=decode_array(d["original_labels"], name=f"{name}.original_labels"),
                   label_values=np.asarray(d["label_values"], dtype=np.int64), spec=str(d["spec"]))


def _joint_json(j: JointExplanation | None) -> dict | None:
    """The joint result's dict with its metric under ``metric`` (``score`` means Qdrant's score in our JSON)."""
    if j is None:
        return None
    d = j.to_dict()
    d["metric"] = d.pop("score")
    return d


def _joint_from(d: Mapping | None) -> JointExplanation | None:
    if d is None:
        return None
    d = dict(d)
    d["score"] = d.pop("metric")
    return JointExplanation.from_dict(d)


def _read_json(source: Any) -> Any:
    """Parsed JSON of ``source``: JSON text (str/bytes), a file (``pathlib.Path`` / os.PathLike) or an already-parsed object."""
    if isinstance(source, os.PathLike):
        return json.loads(pathlib.Path(source).read_text(encoding="utf-8"))
    if isinstance(source, (bytes, bytearray)):
        source = source.decode("utf-8")
    if isinstance(source, str):
        try:
            return json.loads(source)
        except json.JSONDecodeError as err:
            raise ValueError(f"from_json needs JSON text (or a pathlib.Path to a JSON file); the text does not parse: "
                             f"{err}. For a file pass pathlib.Path({source[:60]!r}).") from None
    if isinstance(source, (Mapping, list)):
        return source
    raise TypeError(f"from_json needs JSON text, a pathlib.Path or a parsed dict; got {type(source).__name__}.")


def _check_kind(data: Any, cls: type) -> Mapping:
    if isinstance(data, list) and cls.__name__ == "SearchResults":
        return {"hits": data}  # the list of hits `search --json` wrote before JSON_FORMAT 1
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}.from_json needs a JSON object; got {type(data).__name__}.")
    kind = data.get("result")
    if kind is not None and kind != cls.__name__:
        raise ValueError(f"{cls.__name__}.from_json got the JSON of a {kind}; use {kind}.from_json or load_result().")
    return data


# ----------------------------------------------------------------------------- the base


@dataclass(frozen=True, kw_only=True, eq=False)
class Result:
    """Base of every result: provenance fields, deep equality, JSON round trip, PNG and HTML writers.

    Attributes:
        method: estimator that produced the values (``"exact"``, ``"kernel-shap"``, ...; ``auto`` resolved).
        budget: encoder-pass budget planned with (None: exact or not applicable).
        encoder_passes: distinct masked images encoded (the cost).
        seconds: wall time.
        encoder: encoder spec/name.
        seed: random seed of the samplers.
    """

    method: str | None = None
    budget: int | None = None
    encoder_passes: int | None = None
    seconds: float | None = None
    encoder: str | None = None
    seed: int | None = None

    PROVENANCE: ClassVar[tuple[str, ...]] = ("method", "budget", "encoder_passes", "seconds", "encoder", "seed")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _set(self, f.name, _freeze(getattr(self, f.name)))
        if self.budget is not None:
            _set(self, "budget", int(self.budget))
        if self.encoder_passes is not None:
            _set(self, "encoder_passes", int(self.encoder_passes))
        if self.seconds is not None:
            _set(self, "seconds", float(self.seconds))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return same(self, other)

    __hash__ = None  # type: ignore[assignment]  # results hold arrays

    # -- JSON --------------------------------------------------------------------------
    def _provenance_json(self) -> dict:
        return {"method": self.method, "budget": self.budget, "encoder_passes": self.encoder_passes,
                "seconds": self.seconds, "encoder": self.encoder, "seed": self.seed}

    @staticmethod
    def _provenance_from(data: Mapping) -> dict:
        return {k: data.get(k) for k in Result.PROVENANCE}

    def _fields(self, arrays: bool) -> dict:  # pragma: no cover - every subclass defines it
        """The JSON structure with arrays still raw (:class:`_Raw`); :meth:`to_dict` encodes them."""
        raise NotImplementedError

    def to_dict(self, *, arrays: bool = True) -> dict:
        """JSON-safe dict of this result (see :meth:`to_json`): documented fields first, arrays encoded.

        Args:
            arrays: include the encoded images, label maps and heatmaps.
        """
        return _encode_tree(self._fields(arrays))

    @classmethod
    def from_dict(cls, data: Mapping) -> "Result":  # pragma: no cover - every subclass defines it
        """Rebuild the result from :meth:`to_dict` output."""
        raise NotImplementedError

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int | None = 2, arrays: bool = True) -> str:
        """JSON text: the documented fields (README "--json fields"), then the encoded arrays; written to ``path`` when given.

        The text is always valid UTF-8: undecodable bytes of file names are written escaped
        (``"caf\\xff.png"``). The file is written atomically (temp file + rename), so a failed
        write leaves any previous file intact.

        Args:
            path: file to write (``"-"`` is not special here; the CLI handles stdout).
            indent: JSON indentation (None for one line).
            arrays: include the encoded images, label maps and heatmaps (needed for an exact
                :meth:`from_json`); False writes a lean file of numbers.

        Returns:
            The JSON text.
        """
        from ._io import to_json_text, write_atomic

        text = to_json_text(pool_arrays(self.to_dict(arrays=arrays)), indent=indent, allow_nan=False)
        if path is not None:
            write_atomic(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, source: Any) -> "Result":
        """Rebuild a result from :meth:`to_json` output: ``type(r).from_json(r.to_json()) == r``.

        Args:
            source: JSON text, a ``pathlib.Path`` (or other os.PathLike) of a JSON file, or the parsed dict.

        Returns:
            An instance of ``cls``.

        Raises:
            ValueError: the text does not parse, or holds another result type (the message names it).
        """
        return cls.from_dict(_check_kind(_resolve_arrays(_read_json(source)), cls))

    # -- pictures ----------------------------------------------------------------------
    def to_html(self, path: str | os.PathLike | None = None, *, title: str | None = None) -> str:
        """A self-contained HTML report (images inlined, no network); also written to ``path`` when given.

        Args:
            path: file to write.
            title: page title (default: the result's own, see :meth:`report_layout`).

        Returns:
            The HTML text.
        """
        from ._io import escape_surrogates, write_atomic

        from .report import render_result

        html_text = escape_surrogates(render_result(self, title=title))
        if path is not None:
            write_atomic(path, html_text)
        return html_text

    def save_png(self, path: str | os.PathLike, *, max_side: int = 384) -> pathlib.Path:
        """Write a PNG figure (images with their signed heatmaps, colour bar).

        Args:
            path: file to write.
            max_side: longest side of each image panel, in pixels.

        Returns:
            The path written.

        Raises:
            ValueError: the result holds no image to draw (e.g. read from a lean JSON).
        """
        from ._io import write_atomic

        p = pathlib.Path(path)
        write_atomic(p, _images.png_bytes(self._png(max_side)))
        return p

    def _png(self, max_side: int) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def report_sections(self) -> tuple[_sec.Section, ...]:  # pragma: no cover - every subclass defines it
        """The typed report sections that show this result (see :mod:`qdrant_explain.report.sections`)."""
        raise NotImplementedError

    def report_layout(self) -> _sec.Layout:  # pragma: no cover - every subclass defines it
        """Title, subtitle and sections of this result's own report page."""
        raise NotImplementedError


def _need_image(image: np.ndarray | None, what: str) -> np.ndarray:
    if image is None:
        raise ValueError(f"{what} has no image to draw (read from a JSON written with arrays=False?); "
                         "rebuild it from a full to_json() or explain again.")
    return image


# ----------------------------------------------------------------------------- Hit


@dataclass(frozen=True, eq=False)
class Hit(Result, _ConnectorHit):
    """One point returned by a search: the connectors' Hit plus its resolved image.

    Built like the connectors' Hit (``Hit(id, score, payload, vector)``); ``image`` and the
    provenance fields are keyword-only.

    Attributes:
        id: Qdrant point id (int or UUID string).
        score: Qdrant's score for the query; None when Qdrant gave none (a retrieved point, a raw image).
        payload: the point's payload (read-only dict, may be empty).
        vector: the stored vector when fetched (``with_vectors``), else None.
        image: the hit's image as (H, W, 3) uint8 once resolved from the payload, else None.
        method, budget, encoder_passes, seconds, encoder, seed: provenance (None for a plain hit).
    """

    id: Any = None
    score: float | None = None
    payload: Mapping = field(default_factory=dict)
    vector: np.ndarray | None = None
    image: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _set(self, "id", _point_id(self.id))
        _set(self, "score", _float_or_none(self.score))
        _set(self, "payload", {} if self.payload is None else self.payload)
        if self.vector is not None:
            _set(self, "vector", np.asarray(self.vector, dtype=np.float64))
        if self.image is not None:
            _set(self, "image", np.asarray(self.image, dtype=np.uint8))
        super().__post_init__()

    @classmethod
    def from_connector(cls, hit: Any, *, image: np.ndarray | None = None, score: float | None = None) -> "Hit":
        """A results Hit from a connectors Hit (or anything with ``id``, ``payload`` and optional ``score``/``vector``).

        Args:
            hit: the hit to lift; a results Hit is returned as is unless ``image``/``score`` are given.
            image: (H, W, 3) uint8 resolved image.
            score: Qdrant's score, when ``hit`` has none.
        """
        if isinstance(hit, cls) and image is None and score is None:
            return hit
        if isinstance(hit, cls):
            return dataclasses.replace(hit, image=hit.image if image is None else image,
                                       score=hit.score if score is None else score)
        return cls(id=hit.id, score=getattr(hit, "score", None) if score is None else score,
                   payload=dict(getattr(hit, "payload", None) or {}), vector=getattr(hit, "vector", None),
                   image=getattr(hit, "image", None) if image is None else image)

    def _fields(self, arrays: bool) -> dict:
        """``{"id", "score", "payload"}`` (documented), ``result``, provenance when set, then ``vector``/``image`` encoded."""
        out: dict = {"id": _point_id(self.id), "score": self.score, "payload": _jsonable(self.payload),
                     "result": type(self).__name__}
        out.update({k: v for k, v in self._provenance_json().items() if v is not None})
        if arrays and self.vector is not None:
            out["vector"] = _Raw.of(self.vector)
        if arrays and self.image is not None:
            out["image"] = _Raw.of(self.image)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "Hit":
        """Rebuild a :class:`Hit` from :meth:`to_dict` output."""
        return cls(id=data.get("id"), score=data.get("score"), payload=dict(data.get("payload") or {}),
                   vector=decode_array(data.get("vector"), name="vector"),
                   image=decode_array(data.get("image"), name="image"), **cls._provenance_from(data))

    def _png(self, max_side: int) -> np.ndarray:
        if self.image is None:
            raise ValueError(f"Hit {self.id!r} has no resolved image to save; resolve its payload first "
                             "(SearchExplainer.explain resolves it).")
        return _images.thumbnail(self.image, max_side)

    def report_sections(self) -> tuple[_sec.Section, ...]:
        """One card: the hit's id, score, image (when resolved) and payload."""
        return (_sec.CardsSection(heading="Hit", cards=(_sec.HitCard(hit=self, rank=None),)),)

    def report_layout(self) -> _sec.Layout:
        """A page with the hit's card."""
        return _sec.Layout(title=f"qdrant-explain: point {self.id}", subtitle="", sections=self.report_sections())


# ----------------------------------------------------------------------------- PairExplanation


def _region_weights(where: object, labels: np.ndarray | None, side: str) -> np.ndarray:
    """Player weights of a region given as a player index, a (y, x) original pixel or a bool mask."""
    if labels is None:
        raise ValueError(f"this explanation has no {side} players (the {side} side was not explained).")
    idx, uniq = _images.region_index(labels)
    n = int(uniq.shape[0])
    if isinstance(where, (int, np.integer)) and not isinstance(where, (bool, np.bool_)):
        if not 0 <= int(where) < n:
            raise ValueError(f"{side} region must be a player index in 0..{n - 1}; got {where}.")
        w = np.zeros(n)
        w[int(where)] = 1.0
        return w
    arr = np.asarray(where)
    if arr.shape == (2,) and np.issubdtype(arr.dtype, np.integer):
        y, x = int(arr[0]), int(arr[1])
        if not (0 <= y < idx.shape[0] and 0 <= x < idx.shape[1]):
            raise ValueError(f"{side} pixel (y={y}, x={x}) is outside the {idx.shape} image.")
        if idx[y, x] < 0:
            raise ValueError(f"{side} pixel (y={y}, x={x}) lies in the part the centre crop removed; the model never saw it.")
        return _region_weights(int(idx[y, x]), labels, side)
    if arr.shape == idx.shape and arr.dtype == bool:
        ok = idx >= 0
        counts = np.bincount(idx[ok], minlength=n).astype(np.float64)
        inside = np.bincount(idx[arr & ok], minlength=n).astype(np.float64)
        if inside.sum() == 0:
            raise ValueError(f"the {side} region mask covers no pixel the model saw.")
        return np.divide(inside, counts, out=np.zeros(n), where=counts > 0)
    raise ValueError(
        f"{side} region must be a player index, a (y, x) pixel in original coordinates or a bool mask of "
        f"shape {idx.shape}; got {type(where).__name__} with shape {arr.shape}."
    )


STDERR_ARRAYS = ("query_values_stderr", "hit_values_stderr", "cross_stderr")
"""The standard-error fields of :class:`PairExplanation` (one per value array)."""

_VALUES_OF = {"query": ("query_values", "query_values_stderr"), "hit": ("hit_values", "hit_values_stderr"),
              "cross": ("cross", "cross_stderr")}


def _dof_map(dof: Any) -> dict:
    """``{"query"|"hit"|"cross": float or None}``: degrees of freedom as plain floats (JSON round trip)."""
    if not isinstance(dof, Mapping):
        raise TypeError(f"stderr_dof must be a mapping such as {{'query': 120.0, 'hit': None}}; got {type(dof).__name__}.")
    out = {}
    for k, v in dof.items():
        if k not in _VALUES_OF:
            raise ValueError(f"stderr_dof keys must be among {sorted(_VALUES_OF)}; got {k!r}.")
        out[k] = None if v is None or not np.isfinite(float(v)) else float(v)
    return out


def _interval(result: Any, which: str, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    if which not in _VALUES_OF or not hasattr(result, _VALUES_OF[which][0]):
        allowed = [w for w in _VALUES_OF if hasattr(result, _VALUES_OF[w][0])]
        raise ValueError(f"interval(which=...) must be one of {allowed}; got {which!r}.")
    values, stderr = (getattr(result, name, None) for name in _VALUES_OF[which])
    if values is None or stderr is None:
        return None
    return confidence_interval(values, stderr, dof=result.stderr_dof.get(which), level=level)


def stderr_dof_of(explanation: Any) -> float | None:
    """The degrees of freedom an :class:`~qdrant_explain.explainers.result.Explanation` (or joint result) recorded."""
    if explanation is None:
        return None
    dof = (getattr(explanation, "meta", None) or {}).get("stderr_dof")
    return None if dof is None else float(dof)


def _paint(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    idx, _ = _images.region_index(labels)
    return _images.heatmap_from_regions(idx, values)


class ExplainedHitReading:
    """How every explanation of one hit reads: the metric's sign, the hit's regions, the summary sentence.

    Shared by :class:`PairExplanation` and :class:`~qdrant_explain.text_results.TextExplanation`; each says the
    sentence with its own ``summary_text``."""

    @property
    def higher_is_better(self) -> bool:
        """True for cosine/dot (positive = more similar), False for distances (positive = farther apart)."""
        return _higher_is_better(self.metric)

    @property
    def n_hit_players(self) -> int | None:
        """Number of hit regions, or None when the hit side has no players."""
        if self.hit_values is not None:
            return int(len(self.hit_values))
        if self.cross is not None:
            return int(self.cross.shape[1])
        return None

    @property
    def summary(self) -> str:
        """One sentence that says why the hit matched: the strongest regions (words, or pair), where they lie and
        their share of the score, after a warning when the baseline scores as high as the pair
        (:func:`qdrant_explain.summary.summary_sentence`)."""
        return self.summary_text()


@dataclass(frozen=True, kw_only=True, eq=False)
class PairExplanation(ExplainedHitReading, Result):
    """Why ``hit`` matched ``query``: region attributions on each side, and for order 2 the cross matrix.

    Attributes:
        query_image: (H0, W0, 3) uint8 query, original pixels (None only when read from a lean JSON).
        hit_image: (H1, W1, 3) uint8 hit, original pixels, or None (explained against a stored vector).
        query_labels: (H0, W0) int label map of the query players (-1 where cropped away).
            Player k is the k-th distinct label in ascending order.
        hit_labels: (H1, W1) int label map of the hit players, or None when the hit side has no players.
        query_values: (nq,) per-region values on the query side (Shapley values at order 1,
            singleton terms at order 2), or None when not explained.
        hit_values: (nh,) the same for the hit side, or None.
        cross: (nq, nh) order-2 Shapley-Taylor indices between query and hit regions, or None.
        query_values_stderr / hit_values_stderr / cross_stderr: standard errors of those values
            (the sampling error of this seed): zeros when exact, None when the method gives none.
        stderr_dof: ``{"query", "hit", "cross"}`` degrees of freedom of the Student-t intervals
            (None: normal quantile); read by :meth:`interval` / :meth:`covers_zero`.
        base_value: game value with every region removed.
        full_value: game value with nothing removed (the metric of the two full images; with a
            stored vector it reproduces ``score``).
        order: 1 or 2.
        metric: Qdrant distance of the game; :attr:`higher_is_better` tells how to read signs.
        score: Qdrant's score when the hit came from a collection, else None.
        hit_id: Qdrant point id, if any.
        hit_payload: the hit's payload (read-only dict; empty when none).
        baseline: how removed regions were filled (``"blur"``, ...).
        side: ``"query"``, ``"hit"`` or ``"both"``.
        estimated: False when exact.
        query_name: a label for the query (file name), for reports.
        query_heatmap / hit_heatmap: (H, W) float pixel heatmaps; painted from labels and
            values when not given (a given one is kept: ``replace(e, query_values=v,
            query_heatmap=None)`` repaints). NaN where the model saw nothing.
        vector_check: when the stored vector was compared with a fresh encode of the hit
            image: ``{"cosine": c, "disagrees": bool, ...}``.
        query_players / hit_players: the :class:`~qdrant_explain.explainers.players.Players`
            (model-space and original label maps), when known.
        joint: the :class:`~qdrant_explain.explainers.joint.JointExplanation` (order 2), else None.
        query_explanation / hit_explanation: the side
            :class:`~qdrant_explain.explainers.result.Explanation` (order 1), else None.
        encoder_seconds: wall time spent inside the encoder.
        extra: free-form notes (read-only dict), e.g. what the heatmaps show.
        method, budget, encoder_passes, seconds, encoder, seed: provenance (:class:`Result`).
    """

    query_image: np.ndarray | None
    base_value: float
    full_value: float
    hit_image: np.ndarray | None = None
    query_labels: np.ndarray | None = None
    hit_labels: np.ndarray | None = None
    query_values: np.ndarray | None = None
    hit_values: np.ndarray | None = None
    cross: np.ndarray | None = None
    query_values_stderr: np.ndarray | None = None
    hit_values_stderr: np.ndarray | None = None
    cross_stderr: np.ndarray | None = None
    stderr_dof: Mapping = field(default_factory=dict)
    order: int = 1
    metric: str = "cosine"
    score: float | None = None
    hit_id: Any = None
    hit_payload: Mapping = field(default_factory=dict)
    baseline: str | None = None
    side: str = "both"
    estimated: bool = True
    query_name: str | None = None
    query_heatmap: np.ndarray | None = None
    hit_heatmap: np.ndarray | None = None
    vector_check: Mapping | None = None
    query_players: Players | None = None
    hit_players: Players | None = None
    joint: JointExplanation | None = None
    query_explanation: Explanation | None = None
    hit_explanation: Explanation | None = None
    encoder_seconds: float = 0.0
    extra: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise ValueError(f"PairExplanation(order=...) must be 1 or 2; got {self.order!r}.")
        if self.side not in ("query", "hit", "both"):
            raise ValueError(f"PairExplanation(side=...) must be 'query', 'hit' or 'both'; got {self.side!r}.")
        float_arrays(self, ("query_values", "hit_values", "cross", *STDERR_ARRAYS))
        _set(self, "stderr_dof", _dof_map(self.stderr_dof))
        coerce_explained_hit(self)
        if self.query_heatmap is None and self.query_labels is not None and self.query_values is not None:
            _set(self, "query_heatmap", _paint(self.query_labels, self.query_values))
        if self.hit_heatmap is None and self.hit_labels is not None and self.hit_values is not None:
            _set(self, "hit_heatmap", _paint(self.hit_labels, self.hit_values))
        super().__post_init__()

    # -- reading -----------------------------------------------------------------------
    @property
    def n_query_players(self) -> int | None:
        """Number of query regions, or None when the query side has no players."""
        if self.query_values is not None:
            return int(len(self.query_values))
        if self.cross is not None:
            return int(self.cross.shape[0])
        return None

    def _need_cross(self) -> np.ndarray:
        if self.cross is None:
            raise ValueError(
                f"correspondence maps need an order-2 (joint) explanation; this one has order={self.order}. "
                f"Call explain_pair(..., order=2)."
            )
        return self.cross

    def hit_heatmap_for(self, query_region: object) -> np.ndarray:
        """Heatmap over the hit (original pixels) of what matches a query pixel or region (order 2).

        Args:
            query_region: a query player index, a ``(y, x)`` pixel of the original query, or an
                (H0, W0) bool mask (players weighted by the share of their visible pixels inside it).

        Returns:
            (H1, W1) float: sum_i w_i cross[i, j] on hit region j; NaN where cropped.

        Raises:
            ValueError: an order-1 explanation, or a region outside the query / in the cropped part.
        """
        cross = self._need_cross()
        if self.hit_labels is None:
            raise ValueError("hit_heatmap_for needs the hit's label map; this explanation has none.")
        w = _region_weights(query_region, self.query_labels, "query")
        return _paint(self.hit_labels, w @ cross)

    def query_heatmap_for(self, hit_region: object) -> np.ndarray:
        """Heatmap over the query of what matches a hit pixel or region (the reverse of :meth:`hit_heatmap_for`).

        Args:
            hit_region: a hit player index, a ``(y, x)`` pixel of the original hit or an (H1, W1) bool mask.

        Returns:
            (H0, W0) float: sum_j cross[i, j] w_j on query region i; NaN where cropped.
        """
        cross = self._need_cross()
        w = _region_weights(hit_region, self.hit_labels, "hit")
        return _paint(self.query_labels, cross @ w)

    def hit_heatmap_for_query_region(self, region: int) -> np.ndarray:
        """(H1, W1) heatmap over the hit: ``cross[region, :]`` painted on the hit regions (order 2 only)."""
        return self.hit_heatmap_for(int(region))

    def summary_text(self, *, warn: bool = True) -> str:
        """:attr:`summary`; ``warn=False`` leaves out the baseline warning."""
        from qdrant_explain.summary import summary_sentence

        return summary_sentence(warn=warn,
            query_values=self.query_values, hit_values=self.hit_values, cross=self.cross,
            base_value=self.base_value, full_value=self.full_value, query_labels=self.query_labels,
            hit_labels=self.hit_labels, higher_is_better=self.higher_is_better, baseline=self.baseline,
            hit_base_value=(self.extra or {}).get("hit_base_value"))

    def interval(self, which: str = "query", *, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray] | None:
        """``(low, high)``: the ``level`` interval of ``query_values``, ``hit_values`` or ``cross`` (``which`` =
        ``"query"``, ``"hit"``, ``"cross"``); None when those values or their standard errors are missing."""
        return _interval(self, which, level)

    def covers_zero(self, which: str = "query", *, level: float = LEVEL) -> np.ndarray | None:
        """Bool array: True where the ``level`` interval of the values contains 0 (their sign is not
        established by this budget); None without standard errors."""
        ci = self.interval(which, level=level)
        return None if ci is None else (ci[0] <= 0.0) & (ci[1] >= 0.0)

    def top_pairs(self, k: int = 5) -> list[tuple[int, int, float]]:
        """The ``k`` largest positive cross entries as (query region, hit region, value); [] at order 1."""
        if self.cross is None:
            return []
        flat = np.argsort(-self.cross, axis=None)[:k]
        return [(int(i), int(j), float(self.cross[i, j])) for i, j in zip(*np.unravel_index(flat, self.cross.shape))]

    # -- JSON --------------------------------------------------------------------------
    def _fields(self, arrays: bool) -> dict:
        """The documented JSON fields of an explanation, then the rest, then (``arrays``) the encoded arrays.

        Documented (README): ``method``, ``order``, ``encoder``, ``seed``, ``players``
        ({"query": nq, "hit": nh}), ``query_values``, ``hit_values``, ``cross`` (order 2, else
        null), ``query_values_stderr``, ``hit_values_stderr``, ``cross_stderr`` (zeros when exact, null
        when unknown), ``stderr_dof`` ({"query", "hit", "cross"}: Student-t degrees of freedom, null =
        normal), ``base_value``, ``full_value``, ``score`` (Qdrant's, or null), ``encoder_passes``,
        ``seconds``, ``summary`` (one sentence: why the hit matched, with shares of the score); then ``result``, ``format``, ``metric``, ``higher_is_better``, ``budget``,
        ``baseline``, ``side``, ``estimated``, ``hit_id``, ``hit_payload``, ``query_name``,
        ``vector_check``, ``encoder_seconds``, ``extra``, ``query_players`` / ``hit_players``,
        ``joint``, ``query_explanation`` / ``hit_explanation``.
        """
        out: dict = {
            "method": self.method,
            "order": self.order,
            "encoder": self.encoder,
            "seed": self.seed,
            "players": {"query": self.n_query_players, "hit": self.n_hit_players},
            "query_values": self.query_values,
            "hit_values": self.hit_values,
            "cross": self.cross,
            "query_values_stderr": self.query_values_stderr,
            "hit_values_stderr": self.hit_values_stderr,
            "cross_stderr": self.cross_stderr,
            "stderr_dof": self.stderr_dof,
            "base_value": self.base_value,
            "full_value": self.full_value,
            "score": self.score,
            "encoder_passes": self.encoder_passes,
            "seconds": self.seconds,
            "summary": self.summary,
            "result": type(self).__name__,
            "format": JSON_FORMAT,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "budget": self.budget,
            "baseline": self.baseline,
            "side": self.side,
            "estimated": bool(self.estimated),
            "hit_id": _point_id(self.hit_id),
            "hit_payload": self.hit_payload,
            "query_name": self.query_name,
            "vector_check": self.vector_check,
            "encoder_seconds": self.encoder_seconds,
            "extra": self.extra,
            "query_players": _players_json(self.query_players, arrays),
            "hit_players": _players_json(self.hit_players, arrays),
            "joint": _joint_json(self.joint),
            "query_explanation": None if self.query_explanation is None else self.query_explanation.to_dict(),
            "hit_explanation": None if self.hit_explanation is None else self.hit_explanation.to_dict(),
        }
        if arrays:
            for name in ("query_image", "hit_image", "query_labels", "hit_labels", "query_heatmap", "hit_heatmap"):
                out[name] = _Raw.of(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "PairExplanation":
        """Rebuild a :class:`PairExplanation` from :meth:`to_dict` output (a lean one gives no images)."""
        arr = {name: decode_array(data.get(name), name=name)
               for name in ("query_image", "hit_image", "query_labels", "hit_labels", "query_heatmap", "hit_heatmap")}
        joint, qe, he = data.get("joint"), data.get("query_explanation"), data.get("hit_explanation")
        return cls(
            **arr,
            query_values=_vector(data.get("query_values")),
            hit_values=_vector(data.get("hit_values")),
            cross=_matrix(data.get("cross")),
            query_values_stderr=_vector(data.get("query_values_stderr")),
            hit_values_stderr=_vector(data.get("hit_values_stderr")),
            cross_stderr=_matrix(data.get("cross_stderr")),
            stderr_dof=dict(data.get("stderr_dof") or {}),
            base_value=float("nan") if data.get("base_value") is None else data["base_value"],
            full_value=float("nan") if data.get("full_value") is None else data["full_value"],
            order=data.get("order", 1),
            metric=data.get("metric", "cosine"),
            score=data.get("score"),
            hit_id=data.get("hit_id"),
            hit_payload=dict(data.get("hit_payload") or {}),
            baseline=data.get("baseline"),
            side=data.get("side", "both"),
            estimated=bool(data.get("estimated", True)),
            query_name=data.get("query_name"),
            vector_check=data.get("vector_check"),
            query_players=_players_from(data.get("query_players"), "query_players"),
            hit_players=_players_from(data.get("hit_players"), "hit_players"),
            joint=_joint_from(joint),
            query_explanation=None if qe is None else Explanation.from_dict(qe),
            hit_explanation=None if he is None else Explanation.from_dict(he),
            encoder_seconds=data.get("encoder_seconds") or 0.0,
            extra=dict(data.get("extra") or {}),
            **cls._provenance_from(data),
        )

    # -- pictures ----------------------------------------------------------------------
    def _png(self, max_side: int) -> np.ndarray:
        scale = _images.symmetric_scale(self.query_heatmap, self.hit_heatmap)
        panels = []
        for img, hm in ((_need_image(self.query_image, "this explanation"), self.query_heatmap),
                        (self.hit_image, self.hit_heatmap)):
            if img is None:
                continue
            thumb = _images.thumbnail(img, max_side)
            panels.append(thumb if hm is None else _images.overlay(thumb, _images.resize_nearest(hm, thumb.shape[:2]), scale=scale))
        panels.append(_images.colorbar(panels[0].shape[0], scale))
        return _images.side_by_side(panels)

    def report_sections(self) -> tuple[_sec.Section, ...]:
        """The query, then one explanation card (interactive at order 2)."""
        return (_sec.QuerySection(image=self.query_image, name=self.query_name),
                _sec.CardsSection(heading="Explanations", cards=(_sec.PairCard(explanation=self),)))

    def report_layout(self) -> _sec.Layout:
        """"Why this hit matched": the query and the explanation card."""
        return _sec.Layout(title="qdrant-explain: why this hit matched",
                           subtitle=f"encoder {self.encoder} · {self.method} · order {self.order}",
                           sections=self.report_sections())


# ----------------------------------------------------------------------------- SearchResults


def _card_of(explanation: Any, rank: int) -> _sec.Card:
    """The report card of an explained hit: its own ``report_card`` (a text query's), else a :class:`PairCard`."""
    own = getattr(explanation, "report_card", None)
    return own(rank=rank) if callable(own) else _sec.PairCard(explanation=explanation, rank=rank)


def _result_class(data: Mapping) -> type:
    """The result class named by ``data["result"]`` (PairExplanation when absent), importing built-in modules."""
    kind = data.get("result", "PairExplanation")
    if kind not in RESULT_TYPES and kind in _BUILTIN_RESULT_MODULES:
        import importlib

        importlib.import_module(_BUILTIN_RESULT_MODULES[kind])
    return RESULT_TYPES.get(kind, PairExplanation)


@dataclass(frozen=True, kw_only=True, eq=False)
class SearchResults(Result):
    """The hits of one search, in rank order, optionally each with an explanation.

    Attributes:
        query_image: (H, W, 3) uint8 query (None only when read from a lean JSON).
        hits: tuple of :class:`Hit`, best first.
        explanations: one :class:`PairExplanation` (or None) per hit; empty when not explained.
        query_name: label for reports.
        collection: the collection name.
        query_vector: the query's (d,) embedding, when the search encoded it.
        heading: the report's heading for the hits (default ``"Hits"``).
        method, budget, encoder_passes, seconds, encoder, seed: provenance; ``encoder_passes`` counts
            distinct masked images encoded for all explanations together (shared query masks once).
    """

    query_image: np.ndarray | None
    hits: Sequence[Hit] = ()
    explanations: Sequence[PairExplanation | None] = ()
    query_name: str | None = None
    collection: str | None = None
    query_vector: np.ndarray | None = None
    heading: str | None = None

    def __post_init__(self) -> None:
        hits = tuple(Hit.from_connector(h) for h in self.hits)
        expl = tuple(self.explanations or ())
        if expl and len(expl) != len(hits):
            raise ValueError(f"SearchResults needs one explanation (or None) per hit: {len(hits)} hits, "
                             f"{len(expl)} explanations.")
        _set(self, "hits", hits)
        _set(self, "explanations", expl)
        if self.query_vector is not None:
            _set(self, "query_vector", np.asarray(self.query_vector, dtype=np.float64))
        super().__post_init__()

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    def explanation_of(self, i: int) -> PairExplanation | None:
        """The explanation of hit ``i``, or None when that hit is not explained."""
        return self.explanations[i] if self.explanations else None

    def _fields(self, arrays: bool) -> dict:
        """``{"query", "collection", "encoder", provenance, "hits": [...]}``; each hit as :meth:`Hit.to_dict`
        plus ``"explanation"`` when explained; then (``arrays``) ``query_image`` and ``query_vector`` encoded."""
        hits = []
        for i, h in enumerate(self.hits):
            d = h._fields(arrays)
            e = self.explanation_of(i)
            if e is not None:
                d["explanation"] = e._fields(arrays)
            hits.append(d)
        out: dict = {"result": type(self).__name__, "format": JSON_FORMAT, "query": self.query_name,
                     "collection": self.collection, **self._provenance_json(), "heading": self.heading,
                     "explained": bool(self.explanations), "hits": hits}
        if arrays:
            out["query_image"] = _Raw.of(self.query_image)
            out["query_vector"] = _Raw.of(self.query_vector)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "SearchResults":
        """Rebuild :class:`SearchResults` from :meth:`to_dict` output."""
        hits = data.get("hits") or []
        explained = data.get("explained", any("explanation" in h for h in hits))
        expl = tuple(None if h.get("explanation") is None else _result_class(h["explanation"]).from_dict(h["explanation"])
                     for h in hits) if explained else ()
        return cls(query_image=decode_array(data.get("query_image"), name="query_image"),
                   hits=tuple(Hit.from_dict(h) for h in hits), explanations=expl, query_name=data.get("query"),
                   collection=data.get("collection"), heading=data.get("heading"),
                   query_vector=decode_array(data.get("query_vector"), name="query_vector"),
                   **cls._provenance_from(data))

    def _png(self, max_side: int) -> np.ndarray:
        rows = [e._png(max_side) for e in self.explanations if e is not None]
        if not rows:
            thumbs = [_images.thumbnail(_need_image(self.query_image, "these search results"), max_side)]
            thumbs += [_images.thumbnail(h.image, max_side) for h in self.hits if h.image is not None]
            return _images.side_by_side(thumbs)
        return _images.stack_rows(rows)

    def report_sections(self) -> tuple[_sec.Section, ...]:
        """The query, then one card per hit (explanation card when explained, else the hit's card)."""
        cards = tuple(_sec.HitCard(hit=h, rank=i + 1) if self.explanation_of(i) is None
                      else _card_of(self.explanation_of(i), i + 1) for i, h in enumerate(self.hits))
        note = None
        if self.encoder_passes is not None:
            seconds = "–" if self.seconds is None else f"{self.seconds:.2f}"
            note = f"({self.encoder_passes} encoder passes, {seconds} s for all hits)"
        return (_sec.QuerySection(image=self.query_image, name=self.query_name),
                _sec.CardsSection(heading=self.heading or "Hits", cards=cards, note=note))

    def report_layout(self) -> _sec.Layout:
        """"Search results": the query and the hit cards."""
        sub = " · ".join(x for x in (f"collection {self.collection}" if self.collection else "",
                                     f"encoder {self.encoder}" if self.encoder else "") if x)
        return _sec.Layout(title="qdrant-explain: search results", subtitle=sub, sections=self.report_sections())


# ----------------------------------------------------------------------------- Comparison


@dataclass(frozen=True, kw_only=True, eq=False)
class Comparison(Result):
    """Why ``hit_a`` scores above ``hit_b`` for the query: the relative game score(q, A) − score(q, B).

    Attributes:
        query_image: (H, W, 3) uint8 query (None only when read from a lean JSON).
        query_labels: (H, W) label map of the query players.
        query_values: (nq,) Shapley values of the relative game (positive = the region favours A over B).
        query_values_stderr: (nq,) their standard errors (zeros when exact, None when unknown).
        stderr_dof: ``{"query": dof}`` for the Student-t intervals (None: normal).
        hit_a, hit_b: the two :class:`Hit` (with images when resolved); ``hit_a.score`` and
            ``hit_b.score`` are Qdrant's scores.
        base_value: relative value with the whole query removed.
        full_value: score(q, A) − score(q, B).
        metric: Qdrant distance of the two scores.
        query_name: label for reports.
        query_heatmap: (H, W) heatmap (painted from labels and values when not given).
        query_players: the query :class:`~qdrant_explain.explainers.players.Players`, when known.
        explanation: the game's :class:`~qdrant_explain.explainers.result.Explanation`, when kept.
        baseline: how removed regions were filled.
        estimated: False when exact.
        method, budget, encoder_passes, seconds, encoder, seed: provenance.
    """

    query_image: np.ndarray | None
    query_labels: np.ndarray | None
    query_values: np.ndarray
    hit_a: Hit
    hit_b: Hit
    base_value: float
    full_value: float
    metric: str = "cosine"
    query_name: str | None = None
    query_heatmap: np.ndarray | None = None
    query_players: Players | None = None
    explanation: Explanation | None = None
    baseline: str | None = None
    estimated: bool = True
    query_values_stderr: np.ndarray | None = None
    stderr_dof: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        _set(self, "query_values", np.asarray(self.query_values, dtype=np.float64))
        if self.query_values_stderr is not None:
            _set(self, "query_values_stderr", np.asarray(self.query_values_stderr, dtype=np.float64))
        _set(self, "stderr_dof", _dof_map(self.stderr_dof))
        _set(self, "hit_a", Hit.from_connector(self.hit_a))
        _set(self, "hit_b", Hit.from_connector(self.hit_b))
        _set(self, "base_value", float(self.base_value))
        _set(self, "full_value", float(self.full_value))
        if self.query_heatmap is None and self.query_labels is not None:
            _set(self, "query_heatmap", _paint(self.query_labels, self.query_values))
        super().__post_init__()

    @property
    def higher_is_better(self) -> bool:
        """True for cosine/dot, False for distances."""
        return _higher_is_better(self.metric)

    def interval(self, which: str = "query", *, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray] | None:
        """``(low, high)`` of ``query_values`` at ``level``; None without standard errors."""
        return _interval(self, which, level)

    def covers_zero(self, which: str = "query", *, level: float = LEVEL) -> np.ndarray | None:
        """True where the interval of ``query_values`` contains 0; None without standard errors."""
        ci = self.interval(which, level=level)
        return None if ci is None else (ci[0] <= 0.0) & (ci[1] >= 0.0)

    def _fields(self, arrays: bool) -> dict:
        """Documented: ``method``, ``encoder``, ``seed``, ``players``, ``a``, ``b`` (each ``{"id", "score"}``),
        ``query_values``, ``query_values_stderr``, ``stderr_dof``, ``base_value``, ``full_value`` (= score A − score B), ``encoder_passes``, ``seconds``;
        then ``result``, ``format``, ``metric``, ``budget``, ``baseline``, ``estimated``, ``query_name``,
        ``hit_a``/``hit_b`` (full hits), ``query_players``, ``explanation`` and the encoded arrays."""
        out: dict = {
            "method": self.method,
            "encoder": self.encoder,
            "seed": self.seed,
            "players": {"query": int(len(self.query_values))},
            "a": {"id": _point_id(self.hit_a.id), "score": self.hit_a.score},
            "b": {"id": _point_id(self.hit_b.id), "score": self.hit_b.score},
            "query_values": self.query_values,
            "query_values_stderr": self.query_values_stderr,
            "stderr_dof": self.stderr_dof,
            "base_value": self.base_value,
            "full_value": self.full_value,
            "encoder_passes": self.encoder_passes,
            "seconds": self.seconds,
            "result": type(self).__name__,
            "format": JSON_FORMAT,
            "metric": self.metric,
            "budget": self.budget,
            "baseline": self.baseline,
            "estimated": bool(self.estimated),
            "query_name": self.query_name,
            "hit_a": self.hit_a._fields(arrays),
            "hit_b": self.hit_b._fields(arrays),
            "query_players": _players_json(self.query_players, arrays),
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
        }
        if arrays:
            for name in ("query_image", "query_labels", "query_heatmap"):
                out[name] = _Raw.of(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "Comparison":
        """Rebuild a :class:`Comparison` from :meth:`to_dict` output."""
        expl = data.get("explanation")
        return cls(query_image=decode_array(data.get("query_image"), name="query_image"),
                   query_labels=decode_array(data.get("query_labels"), name="query_labels"),
                   query_heatmap=decode_array(data.get("query_heatmap"), name="query_heatmap"),
                   query_values=_vector(data["query_values"]),
                   query_values_stderr=_vector(data.get("query_values_stderr")),
                   stderr_dof=dict(data.get("stderr_dof") or {}),
                   hit_a=Hit.from_dict(data.get("hit_a") or data["a"]),
                   hit_b=Hit.from_dict(data.get("hit_b") or data["b"]),
                   base_value=data["base_value"], full_value=data["full_value"], metric=data.get("metric", "cosine"),
                   query_name=data.get("query_name"), baseline=data.get("baseline"),
                   estimated=bool(data.get("estimated", True)),
                   query_players=_players_from(data.get("query_players"), "query_players"),
                   explanation=None if expl is None else Explanation.from_dict(expl),
                   **cls._provenance_from(data))

    def _png(self, max_side: int) -> np.ndarray:
        thumb = _images.thumbnail(_need_image(self.query_image, "this comparison"), max_side)
        scale = _images.symmetric_scale(self.query_heatmap)
        panels = [thumb if self.query_heatmap is None else
                  _images.overlay(thumb, _images.resize_nearest(self.query_heatmap, thumb.shape[:2]), scale=scale)]
        for h in (self.hit_a, self.hit_b):
            if h.image is not None:
                panels.append(_images.thumbnail(h.image, max_side))
        panels.append(_images.colorbar(panels[0].shape[0], scale))
        return _images.side_by_side(panels)

    def report_sections(self) -> tuple[_sec.Section, ...]:
        """The query, then the relative heatmap with both hits."""
        return (_sec.QuerySection(image=self.query_image, name=self.query_name),
                _sec.ComparisonSection(comparison=self))

    def report_layout(self) -> _sec.Layout:
        """"Why A ranks above B"."""
        return _sec.Layout(title="qdrant-explain: why A ranks above B", subtitle=f"encoder {self.encoder}",
                           sections=self.report_sections())


# ----------------------------------------------------------------------------- AuditReport


@dataclass(frozen=True, kw_only=True, eq=False)
class AuditReport(Result):
    """Where similarity comes from across many queries' top hits.

    Attributes:
        searches: tuple of :class:`SearchResults` (with explanations), one per query.
        summary: aggregate numbers (read-only dict): ``border_share`` / ``centre_share`` (mean
            share of the positive attribution on the image border vs the centre, query and hit
            sides), ``top_regions`` (most-attributed regions), ``vector_mismatches`` (hits whose
            stored vector disagrees with a fresh encode), counts and timing.
        collection: the collection audited.
        method, budget, encoder_passes, seconds, encoder, seed: provenance.
    """

    searches: Sequence[SearchResults] = ()
    summary: Mapping = field(default_factory=dict)
    collection: str | None = None

    def __post_init__(self) -> None:
        _set(self, "searches", tuple(self.searches))
        super().__post_init__()

    def _fields(self, arrays: bool) -> dict:
        """``summary`` plus ``queries`` (one :meth:`SearchResults.to_dict` each, with ``query`` and ``hits``), provenance."""
        return {"summary": self.summary, "queries": [s._fields(arrays) for s in self.searches],
                "result": type(self).__name__, "format": JSON_FORMAT, "collection": self.collection,
                **self._provenance_json()}

    @classmethod
    def from_dict(cls, data: Mapping) -> "AuditReport":
        """Rebuild an :class:`AuditReport` from :meth:`to_dict` output."""
        return cls(searches=tuple(SearchResults.from_dict(s) for s in data.get("queries") or []),
                   summary=dict(data.get("summary") or {}), collection=data.get("collection"),
                   **cls._provenance_from(data))

    def _png(self, max_side: int) -> np.ndarray:
        rows = [s._png(max_side // 2) for s in self.searches[:6]]
        if not rows:
            raise ValueError("this audit holds no searches to draw.")
        return _images.stack_rows(rows)

    def report_sections(self) -> tuple[_sec.Section, ...]:
        """The summary tables, then every query with its explained hits (a scale audit adds its
        intervals, histograms, recurring regions and drill-down list: report/audit_sections.py)."""
        from .report.audit_sections import audit_sections

        searched: list[_sec.Section] = []
        for s in self.searches:
            searched.extend(s.report_sections())
        return tuple(audit_sections(self.summary, _sec.SummarySection(summary=self.summary), self.searches, searched))

    def report_layout(self) -> _sec.Layout:
        """"Audit": summary first."""
        return _sec.Layout(title="qdrant-explain: audit", subtitle=str(self.summary.get("encoder", self.encoder or "")),
                           sections=self.report_sections())


RESULT_TYPES: dict[str, type[Result]] = {c.__name__: c for c in (Hit, PairExplanation, SearchResults, Comparison, AuditReport)}
"""Result class by the ``"result"`` field of its JSON."""

_BUILTIN_RESULT_MODULES: dict[str, str] = {"TextExplanation": "qdrant_explain.text_results",
                                           "ShapeExplanation": "qdrant_explain.shapes"}
"""Result types defined in other modules (which add themselves with :func:`register_result_type`),
imported on first lookup by :func:`load_result`, as encoder families are."""


def register_result_type(cls: type[Result]) -> type[Result]:
    """Add a :class:`Result` subclass to :data:`RESULT_TYPES` (its JSON's ``"result"`` field is its name)."""
    if not (isinstance(cls, type) and issubclass(cls, Result)):
        raise TypeError(f"register_result_type takes a Result subclass; got {cls!r}.")
    RESULT_TYPES[cls.__name__] = cls
    return cls


def load_result(source: Any) -> Result:
    """Read any result from its JSON (text, ``pathlib.Path`` or parsed dict), picking the class by ``"result"``.

    Raises:
        ValueError: the JSON names no known result type.
    """
    data = _resolve_arrays(_read_json(source))
    kind = data.get("result") if isinstance(data, Mapping) else None
    if kind in _BUILTIN_RESULT_MODULES:
        _result_class(data)
    if kind not in RESULT_TYPES:
        raise ValueError(f"load_result: the JSON's 'result' field must be one of {sorted(set(RESULT_TYPES) | set(_BUILTIN_RESULT_MODULES))}; got {kind!r}.")
    return RESULT_TYPES[kind].from_dict(data)


__all__ = ["AuditReport", "Comparison", "ExplainedHitReading", "FrozenDict", "Hit", "JSON_FORMAT", "PairExplanation", "RESULT_TYPES",
           "Result", "STDERR_ARRAYS", "SearchResults", "decode_array", "encode_array", "load_result", "pool_arrays",
           "register_result_type", "same", "stderr_dof_of", "unpool_arrays"]
