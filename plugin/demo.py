"""The offline demo: photos shipped inside installed packages, indexed, searched and explained.

:func:`write_demo_photos` writes scikit-image's and scikit-learn's bundled photos (plus
crops and flips, so that near-duplicates exist) into a folder; :func:`run_demo` indexes
them into an embedded Qdrant with EfficientNet-Lite0, searches with a held-out query
photo (a crop of one of them), explains the top hits at order 1 (query and hit
saliency maps, the masked-query encodes shared across hits) and order 2 (exact joint
Shapley-Taylor on a small grid) and writes one self-contained ``report.html``.
Nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

DEMO_COLLECTION = "qe-demo"
DEFAULT_ENCODER = "efficientnet-lite0"

# order-1 and order-2 settings sized for ~1-2 minutes on 2 CPU cores with EfficientNet-Lite0
ORDER1 = {"players": "slic:20", "budget": 96, "method": "auto"}
ORDER2 = {"players": "grid:2x3", "method": "exact"}
TOP_K = 5
EXPLAIN_FIRST = 3  # order 1 for the best 3 hits (query side shared), hit side for all of them
EXPLAIN_JOINT = 2  # order 2 for the best 2 hits


def _skimage_photos() -> dict[str, np.ndarray]:
    from skimage import data

    out = {}
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
                 "motorcycle_left", "motorcycle_right", "camera", "coins", "colorwheel"):
        loader = getattr(data, name, None)
        if loader is None and name.startswith("motorcycle"):
            pair = getattr(data, "stereo_motorcycle", None)
            if pair is not None:
                try:
                    left, right, _ = pair()
                    out["motorcycle_left"], out["motorcycle_right"] = left, right
                except Exception:  # noqa: BLE001 - a missing sample is skipped, the demo goes on
                    pass
            continue
        if loader is None:
            continue
        try:
            img = np.asarray(loader())
        except Exception:  # noqa: BLE001 - e.g. a sample that would need a download
            continue
        out[name] = img
    return out


def _sklearn_photos() -> dict[str, np.ndarray]:
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return {}
    try:
        bunch = load_sample_images()
    except Exception:  # noqa: BLE001
        return {}
    return {pathlib.Path(f).stem: np.asarray(img) for f, img in zip(bunch.filenames, bunch.images)}


def _rgb(img: np.ndarray) -> np.ndarray:
    from qdrant_explain.explainers.encoder import to_rgb_array

    return to_rgb_array(img)


def _shrink(img: np.ndarray, max_side: int = 640) -> np.ndarray:
    h, w = img.shape[:2]
    f = max_side / max(h, w)
    if f >= 1:
        return img
    return np.asarray(Image.fromarray(img).resize((max(1, round(w * f)), max(1, round(h * f))), Image.LANCZOS))


def _crop(img: np.ndarray, top: float, left: float, height: float, width: float) -> np.ndarray:
    h, w = img.shape[:2]
    return img[int(h * top) : int(h * (top + height)), int(w * left) : int(w * (left + width))]


@dataclass
class DemoPhotos:
    """Where :func:`write_demo_photos` put things."""

    folder: pathlib.Path
    query: pathlib.Path
    files: list[pathlib.Path] = field(default_factory=list)


def write_demo_photos(folder: str | pathlib.Path, query_folder: str | pathlib.Path | None = None) -> DemoPhotos:
    """Write the bundled photos, crops and flips to ``folder`` and a query photo beside it.

    Args:
        folder: where the photos to index go (created).
        query_folder: where ``query_cat.png`` (a held-out crop of scikit-image's cat) goes;
            default ``folder/../queries``.

    Returns:
        :class:`DemoPhotos`.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    qfolder = pathlib.Path(query_folder) if query_folder is not None else folder.parent / "queries"
    qfolder.mkdir(parents=True, exist_ok=True)
    photos = {k: _shrink(_rgb(v)) for k, v in {**_skimage_photos(), **_sklearn_photos()}.items()}
    if not photos:
        raise RuntimeError("No bundled sample photos found: install scikit-image (and scikit-learn) to run the demo.")
    variants: dict[str, np.ndarray] = dict(photos)
    if "chelsea" in photos:
        variants["chelsea_flipped"] = photos["chelsea"][:, ::-1]
        variants["chelsea_face_crop"] = _crop(photos["chelsea"], 0.0, 0.25, 0.85, 0.6)
    if "coffee" in photos:
        variants["coffee_crop"] = _crop(photos["coffee"], 0.05, 0.15, 0.9, 0.7)
    if "astronaut" in photos:
        variants["astronaut_flipped"] = photos["astronaut"][:, ::-1]
        variants["astronaut_crop"] = _crop(photos["astronaut"], 0.0, 0.1, 0.7, 0.6)
    if "rocket" in photos:
        variants["rocket_flipped"] = photos["rocket"][:, ::-1]
    if "china" in photos:
        variants["china_crop"] = _crop(photos["china"], 0.1, 0.3, 0.8, 0.6)
    files = []
    for name, img in sorted(variants.items()):
        path = folder / f"{name}.png"
        Image.fromarray(np.ascontiguousarray(img)).save(path)
        files.append(path)
    base = photos.get("chelsea", next(iter(photos.values())))
    query_img = _crop(base, 0.1, 0.05, 0.85, 0.75)  # a held-out crop, slightly brightened
    query_img = np.clip(query_img.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    query = qfolder / "query_cat.png"
    Image.fromarray(np.ascontiguousarray(query_img)).save(query)
    return DemoPhotos(folder=folder, query=query, files=files)


def run_demo(out: str | pathlib.Path = "qe-demo", *, encoder: str | None = None,
             log: Callable[[str], None] | None = None, progress: bool | None = None) -> pathlib.Path:
    """Index bundled photos, search with a query photo, explain the top hits, write ``out/report.html``.

    Args:
        out: output folder (photos, the embedded Qdrant in ``out/db``, ``report.html``, ``results.json``).
        encoder: encoder spec (None: :data:`DEFAULT_ENCODER`, EfficientNet-Lite0, packaged weights: offline).
        log: called with one line per step (e.g. ``click.echo``); None is silent.
        progress: tqdm bars (None: automatic on a TTY; False: never).

    Returns:
        Path of the report.
    """
    from qdrant_explain.connectors import index_folder, load_encoder

    from .explainer import SearchExplainer
    from .report import render_report

    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    photos = write_demo_photos(out / "photos", out / "queries")
    say(f"wrote {len(photos.files)} photos to {photos.folder} and the query {photos.query}")
    enc = load_encoder(encoder or DEFAULT_ENCODER)
    db = out / "db"
    report = index_folder(photos.folder, DEMO_COLLECTION, encoder=enc, path=str(db), progress=bool(progress))
    say(f"indexed into {db} (collection {DEMO_COLLECTION!r}): {report.added} added, {report.skipped} already there")
    ex = SearchExplainer.open(DEMO_COLLECTION, path=str(db), encoder=enc, progress=progress)
    hits = ex.search(photos.query, limit=TOP_K)
    say("top hits: " + ", ".join(f"{h.payload.get('path')} ({h.score:.3f})" for h in hits))
    t1 = time.perf_counter()
    first = ex.explain_hits(photos.query, hits.hits[:EXPLAIN_FIRST], order=1, side="both", **ORDER1)
    say(f"order 1: {len(first.explanations)} hits, {first.encoder_passes} encoder passes, {time.perf_counter() - t1:.1f} s")
    t2 = time.perf_counter()
    joint = ex.explain_hits(photos.query, hits.hits[:EXPLAIN_JOINT], order=2, **ORDER2)
    say(f"order 2 (joint, exact): {len(joint.explanations)} hits, {joint.encoder_passes} encoder passes, "
        f"{time.perf_counter() - t2:.1f} s")
    rest, _unresolved = ex.resolve_images(hits.hits[EXPLAIN_FIRST:])  # shown in the report, not explained
    first = dataclasses.replace(first, hits=list(first.hits) + rest,
                                explanations=list(first.explanations) + [None] * len(rest),
                                query_name=photos.query.name)
    joint = dataclasses.replace(joint, query_name=photos.query.name)
    html_text = render_report(
        title="qdrant-explain demo: why these photos came back",
        subtitle=f"collection {DEMO_COLLECTION} · encoder {ex.encoder_name} · {len(photos.files)} photos · "
                 f"{time.perf_counter() - t0:.0f} s in all",
        query_image=hits.query_image, query_name=photos.query.name,
        searches=[_titled(joint, "Joint explanations (order 2): hover a region to see its matches"),
                  _titled(first, "Saliency maps (order 1): query and hit sides")],
    )
    path = out / "report.html"
    path.write_text(html_text, encoding="utf-8")
    (out / "results.json").write_text(
        '{"joint": ' + joint.to_json() + ', "first_order": ' + first.to_json() + "}\n", encoding="utf-8")
    say(f"done in {time.perf_counter() - t0:.1f} s")
    return path


def _titled(s, heading: str):
    return dataclasses.replace(s, heading=heading)  # the report's heading for these hits


__all__ = ["DEMO_COLLECTION", "DemoPhotos", "run_demo", "write_demo_photos"]
