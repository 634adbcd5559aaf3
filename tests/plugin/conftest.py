"""Fixtures for the product tests: synthetic explanations, a tiny encoder, an isolated home."""

from __future__ import annotations

import numpy as np
import pytest

from plugin_helpers import OTHER, TINY, _smooth_image, grid_labels, synthetic_pair  # noqa: F401  (re-exported)

from qdrant_explain.results import Hit, PairExplanation, SearchResults


@pytest.fixture
def pair2() -> PairExplanation:
    return synthetic_pair(order=2)


@pytest.fixture
def pair1() -> PairExplanation:
    return synthetic_pair(order=1)


@pytest.fixture
def search_results() -> SearchResults:
    a, b = synthetic_pair(2, seed=1), synthetic_pair(1, seed=2)
    hits = [Hit(id=7, score=0.8, payload={"path": "a.png"}), Hit(id=8, score=0.7, payload={"path": "b.png"})]
    return SearchResults(query_image=a.query_image, hits=hits, explanations=[a, b], query_name="q.png",
                         encoder="tiny-random", collection="photos")


@pytest.fixture(scope="session")
def photo_dirs(tmp_path_factory):
    """A folder of 8 small images (with a flipped near-duplicate) and a folder of 2 queries."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    photos, queries = root / "photos", root / "queries"
    photos.mkdir()
    queries.mkdir()
    rng = np.random.default_rng(0)
    imgs = [_smooth_image(rng) for _ in range(7)]
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(photos / f"img{i}.png")
    Image.fromarray(np.ascontiguousarray(imgs[0][:, ::-1])).save(photos / "img0_flipped.png")
    Image.fromarray(np.clip(imgs[0].astype(int) + 10, 0, 255).astype(np.uint8)).save(queries / "q0.png")
    Image.fromarray(imgs[3][4:, 6:]).save(queries / "q3.png")
    return photos, queries


@pytest.fixture(scope="session")
def indexed(photo_dirs, tmp_path_factory):
    """An embedded Qdrant (path) holding the photos under collection 'photos', built with the tiny encoder."""
    from click.testing import CliRunner

    from qdrant_explain.cli import main

    db = tmp_path_factory.mktemp("db") / "qdrant"
    photos, queries = photo_dirs
    out = CliRunner().invoke(main, ["index", str(photos), "--collection", "photos", "--db", str(db),
                                    "--encoder", TINY, "--quiet"])
    assert out.exit_code == 0, out.output
    return {"db": db, "photos": photos, "queries": queries, "query": queries / "q0.png"}
