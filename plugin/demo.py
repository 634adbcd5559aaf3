"""The offline demo: photos shipped inside installed packages, indexed, searched and explained.

:func:`write_demo_photos` writes scikit-image's and scikit-learn's bundled photos (plus crops and
flips, so that near-duplicates exist) into a folder, and two held-out query photos beside it (a
brightened crop of the cat, the left view of scikit-image's stereo motorcycle pair). :func:`run_demo`
indexes them into an embedded Qdrant with EfficientNet-Lite0 and explains four cases, each with an
order-1 view (Shapley saliency maps of both images) and a joint view (query x hit correspondences,
SLIC with 20-30 regions per side through the stratified sampler):

1. a near-duplicate (the cat crop and the photo it was cut from),
2. the same object in a different photo (the two views of the motorcycle),
3. a wrong hit (the best-ranked hit for the cat that is not the cat: why is it here?),
4. the search itself (the top hits, shown without explanation).

It writes one self-contained ``report.html`` and ``results.json``. Nothing is downloaded.
"""

from __future__ import annotations

import json
import pathlib
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

DEMO_COLLECTION = "qe-demo"
DEFAULT_ENCODER = "efficientnet-lite0"

# sized for under 3 minutes on 2 CPU cores with EfficientNet-Lite0 (benchmarks/RESULTS.md, "The demo")
BASELINE = "gray"
"""How the demo fills removed regions (the blur baseline scores a near-duplicate above the full pair)."""
ORDER1 = {"players": "slic:32", "budget": 48, "method": "kernel-shap"}
"""Order-1 settings: 48 encoder passes per explained side."""
ORDER2 = {"players": "slic:32", "budget": 352, "method": "stratified"}
"""Joint settings: 352 encoder passes per pair (SLIC asks for 32 and keeps about 20-30 regions per side)."""
TOP_K = 5


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
    queries: list[pathlib.Path] = field(default_factory=list)


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
    held_out = variants.pop("motorcycle_left", None)  # the other view of the motorcycle is the second query
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
    queries = [query]
    if held_out is not None:
        queries.append(qfolder / "query_motorcycle.png")
        Image.fromarray(np.ascontiguousarray(held_out)).save(queries[-1])
    return DemoPhotos(folder=folder, query=query, files=files, queries=queries)


def run_demo(out: str | pathlib.Path = "qe-demo", *, encoder: str | None = None,
             log: Callable[[str], None] | None = None, progress: bool | None = None) -> pathlib.Path:
    """Index bundled photos, explain four cases (order 1 and joint each), write ``out/report.html``.

    Args:
        out: output folder (photos, the embedded Qdrant in ``out/db``, ``report.html``, ``results.json``).
        encoder: encoder spec (None: :data:`DEFAULT_ENCODER`, EfficientNet-Lite0, packaged weights: offline).
        log: called with one line per step (e.g. ``click.echo``); None is silent.
        progress: tqdm bars (None: automatic on a TTY; False: never).

    Returns:
        Path of the report.
    """
    from qdrant_explain.connectors import index_folder, load_encoder
    from qdrant_explain.explainers.joint.stratified import stratified_minimum_budget

    from .explainer import SearchExplainer
    from .report import render_layout
    from .report.sections import CardsSection, HitCard, Layout, PairCard, QuerySection

    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    photos = write_demo_photos(out / "photos", out / "queries")
    say(f"wrote {len(photos.files)} photos to {photos.folder} and the queries {', '.join(q.name for q in photos.queries)}")
    enc = load_encoder(encoder or DEFAULT_ENCODER)
    db = out / "db"
    report = index_folder(photos.folder, DEMO_COLLECTION, encoder=enc, path=str(db), progress=bool(progress))
    say(f"indexed into {db} (collection {DEMO_COLLECTION!r}): {report.added} added, {report.skipped} already there")
    ex = SearchExplainer.open(DEMO_COLLECTION, path=str(db), encoder=enc, baseline=BASELINE, progress=progress)

    cat = ex.search(photos.query, limit=TOP_K)
    say("top hits for the cat: " + ", ".join(f"{h.payload.get('path')} ({h.score:.3f})" for h in cat.hits))
    same = next((h for h in cat.hits if _stem(h).startswith("chelsea")), cat.hits[0])
    wrong = next((h for h in cat.hits if not _stem(h).startswith("chelsea")), cat.hits[-1])
    cases = [("Near-duplicate", photos.query, [same],
              f"The query is a brightened crop of {_stem(same)}: the joint view should pair each region with the "
              "same place in the hit."),
             ("Why is this wrong hit here?", photos.query, [wrong],
              f"{_stem(wrong)} is not the cat, yet it ranks among the cat's top {TOP_K}: which regions make them look alike?")]
    if len(photos.queries) > 1:
        moto = ex.search(photos.queries[1], limit=TOP_K)
        say("top hits for the motorcycle: " + ", ".join(f"{h.payload.get('path')} ({h.score:.3f})" for h in moto.hits))
        other = next((h for h in moto.hits if _stem(h).startswith("motorcycle")), moto.hits[0])
        cases.insert(1, ("Same object, different photo", photos.queries[1], [other],
                         f"The left and right views of a stereo camera: the same motorcycle seen from two places "
                         f"({_stem(other)} is the indexed view)."))
    sections: list = []
    saved: dict = {}
    done: dict = {}
    for query in dict.fromkeys(q for _t, q, _h, _n in cases):  # the cases of one query share its masked encodes
        hits = [h for _t, q, hs, _n in cases if q == query for h in hs]
        t1 = time.perf_counter()
        first = ex.explain_hits(query, hits, order=1, side="both", **ORDER1)
        # the same players as order 1 (same spec and seed): raise the budget to the sampler's minimum when needed
        nq = first.explanations[0].n_query_players or 1
        nh = max(e.n_hit_players or 1 for e in first.explanations)
        budget = max(ORDER2["budget"], stratified_minimum_budget(nq, nh))
        joint = ex.explain_hits(query, hits, order=2, **{**ORDER2, "budget": budget})
        say(f"{query.name}: {len(hits)} hits, order 1 {first.encoder_passes} passes, joint {joint.encoder_passes} "
            f"passes, {time.perf_counter() - t1:.1f} s")
        for h, e1, e2 in zip(hits, first.explanations, joint.explanations):
            done[(query, h.id)] = (e1, e2)
    for title, query, hits, note in cases:
        e1, e2 = done[(query, hits[0].id)]
        say(f"{title}: joint {e2.n_query_players}+{e2.n_hit_players} regions. {e2.summary_text(warn=False)}")
        sections += [QuerySection(image=e1.query_image, name=query.name),
                     CardsSection(heading=title, note=note, cards=(PairCard(explanation=e2),
                                                                   PairCard(explanation=e1)))]
        saved[title] = {"order1": json.loads(e1.to_json(arrays=False)), "joint": json.loads(e2.to_json(arrays=False))}
    rest, _unresolved = ex.resolve_images(cat.hits)
    sections += [QuerySection(image=cat.query_image, name=photos.query.name),
                 CardsSection(heading=f"The cat's top {TOP_K} hits", cards=tuple(HitCard(hit=h, rank=i + 1)
                                                                                for i, h in enumerate(rest)))]
    seconds = time.perf_counter() - t0
    html_text = render_layout(Layout(
        title="qdrant-explain demo: why these photos came back",
        subtitle=f"collection {DEMO_COLLECTION} · encoder {ex.encoder_name} · {len(photos.files)} photos · "
                 f"baseline {BASELINE} · {seconds:.0f} s in all", sections=tuple(sections)))
    path = out / "report.html"
    path.write_text(html_text, encoding="utf-8")
    from ._io import to_json_text

    (out / "results.json").write_text(to_json_text({"cases": saved, "seconds": seconds}, indent=1) + "\n",
                                      encoding="utf-8")
    say(f"done in {time.perf_counter() - t0:.1f} s")
    return path


def _stem(hit) -> str:
    return pathlib.Path(str((hit.payload or {}).get("path", hit.id))).stem


__all__ = ["DEMO_COLLECTION", "DemoPhotos", "run_demo", "write_demo_photos"]
