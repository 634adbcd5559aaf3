"""Must-show 1: every query shape on the embedded client and on Qdrant Edge (and a server when QDRANT_URL is
set): the exact split adds up to the exact score to 1e-5, which equals Qdrant's returned score to 1e-4, and
the hit keeps its rank under an exact re-query. Bad inputs give clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from shape_helpers import DISTANCES, make_collection, random_points

from qdrant_explain.connectors import PointNotFoundError
from qdrant_explain.connectors import shapes as S
from qdrant_explain.shapes import explain_shape

pytest.importorskip("qdrant_edge")

DENSE, MULTI = random_points()
CASES = {
    "nearest": lambda: S.Nearest(DENSE[5] + 0.1),
    "named vector": lambda: S.Nearest(DENSE[6] - 0.2, using="img"),
    "recommend average_vector": lambda: S.Recommend((0, 1), (2,), "average_vector"),
    "recommend best_score": lambda: S.Recommend((0, 1), (2,), "best_score"),
    "recommend sum_scores": lambda: S.Recommend((0, 1), (2,), "sum_scores"),
    "discovery": lambda: S.Discover(3, ((4, 5), (6, 7))),
    "context": lambda: S.Context(((4, 5), (6, 7))),
    "rrf": lambda: S.Fusion((S.Nearest(DENSE[9]), S.Nearest(DENSE[10])), "rrf"),
    "dbsf": lambda: S.Fusion((S.Nearest(DENSE[9]), S.Nearest(DENSE[10])), "dbsf"),
    "maxsim": lambda: S.Nearest(MULTI[4] + 0.05),
    "maxsim recommend best_score": lambda: S.Recommend((0, 1), (2,), "best_score"),
    "maxsim recommend sum_scores": lambda: S.Recommend((0, 1), (2,), "sum_scores"),
    "maxsim discovery": lambda: S.Discover(3, ((4, 5), (6, 7))),
    "maxsim context": lambda: S.Context(((4, 5), (6, 7))),
}
"""Cases starting with "maxsim" run on the MaxSim multivector ``tok`` (recommend, discovery and context with
MaxSim as the similarity, as Qdrant computes them)."""


def _check_case(col, case: str) -> None:
    shape = CASES[case]()
    hits = S.run_shape(col, shape, limit=4)
    assert hits
    for rank, hit in enumerate(hits[:3]):
        why = explain_shape(col, shape, hit=hit.id, regions=False, limit=4)
        r = why.parity["rank"]  # equal scores (RRF ties) may come back in either order
        assert r == rank or abs(hits[r].score - hit.score) <= 1e-7, why.parity
        assert why.parity["keeps_rank"] is True, why.parity
        assert abs(why.total - why.exact_score) <= 1e-5 * max(1.0, abs(why.exact_score)), (case, why.total, why.exact_score)
        assert abs(why.score - why.exact_score) <= 1e-4 * max(1.0, abs(why.exact_score)), (case, why.score, why.exact_score)
        if case == "maxsim":
            assert why.matched is not None and len(why.values) == MULTI.shape[1]


@pytest.mark.parametrize("backend", ["client", "edge"])
@pytest.mark.parametrize("distance", DISTANCES)
def test_every_shape_adds_up_to_qdrants_score(backend, distance, tmp_path):
    dense, _ = make_collection(backend, distance, tmp_path, vector_name="img")
    multi, _ = make_collection(backend, distance, tmp_path / "m", vector_name="tok")
    for case in CASES:
        _check_case(multi if case.startswith("maxsim") else dense, case)


def test_maxsim_split_is_exact_per_query_token(tmp_path):
    from qdrant_explain.explainers.query_scores import maxsim_terms

    col, _ = make_collection("client", "cosine", tmp_path, vector_name="tok")
    q = MULTI[2] * 0.5 + 0.1
    hit = S.run_shape(col, S.Nearest(q), limit=1)[0]
    split = maxsim_terms(q, hit.vector, metric="cosine")
    sims = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (hit.vector / np.linalg.norm(hit.vector, axis=1, keepdims=True)).T
    np.testing.assert_allclose(split.terms, sims.max(axis=1), atol=1e-6)
    np.testing.assert_array_equal(split.matched, sims.argmax(axis=1))
    assert abs(split.terms.sum() - hit.score) <= 1e-5


@pytest.mark.parametrize("backend", ["client", "edge"])
def test_quantization_settings_are_read_and_shown(backend, tmp_path):
    col, _ = make_collection(backend, "cosine", tmp_path, quantized=True)
    quant = S.quantization_settings(col)
    assert quant is not None and "int8" in str(quant).lower()
    why = explain_shape(col, S.Nearest(DENSE[3]), regions=False, rescore=False)
    assert why.parity["quantization"] == quant
    assert why.parity["rescore"] is False
    # the explanation attributes the exact score; the parity says how far Qdrant's returned one is from it
    assert abs(why.total - why.exact_score) <= 1e-5
    assert abs(why.parity["gap"] - (why.score - why.exact_score)) <= 1e-12
    assert S.quantization_settings(make_collection(backend, "cosine", tmp_path / "plain")[0]) is None


@pytest.mark.parametrize("backend", ["client", "edge"])
def test_bad_inputs(backend, tmp_path):
    col, _ = make_collection(backend, "cosine", tmp_path)
    with pytest.raises(PointNotFoundError, match="no point with id 999"):
        S.run_shape(col, S.Recommend((0, 999), (), "best_score"))
    with pytest.raises(ValueError, match="multivector query .* against the dense"):
        S.run_shape(col, S.Nearest(MULTI[0]))
    multi, _ = make_collection(backend, "cosine", tmp_path / "m", vector_name="tok")
    with pytest.raises(ValueError, match="'average_vector' on the multivector .* use strategy 'best_score'"):
        S.run_shape(multi, S.Recommend((0,), (1,), "average_vector"))
    with pytest.raises(ValueError, match=r"must be a \(tokens, 8\) multivector"):
        S.run_shape(multi, S.Recommend((np.ones(8),), (), "best_score"))
    with pytest.raises(ValueError, match="single vector against the multivector"):
        S.run_shape(multi, S.Nearest(DENSE[0]))
    with pytest.raises(ValueError, match="needs at least a positive example"):
        S.Recommend((), (1,), "average_vector")
    with pytest.raises(ValueError, match="at least one .* context pair"):
        S.Context(())
    with pytest.raises(ValueError, match="fusion method must be one of rrf, dbsf"):
        S.Fusion((S.Nearest(DENSE[0]),), "sum")


SERVER = os.environ.get("QDRANT_URL")


@pytest.mark.skipif(not SERVER, reason="QDRANT_URL is not set: no Qdrant server to run the shape cases against")
@pytest.mark.parametrize("distance", DISTANCES)
def test_every_shape_on_a_server(distance, tmp_path):
    from qdrant_client import QdrantClient

    cl = QdrantClient(url=SERVER, api_key=os.environ.get("QDRANT_API_KEY"), check_compatibility=False)
    dense, _ = make_collection("client", distance, tmp_path, client=cl, vector_name="img")
    multi, _ = make_collection("client", distance, tmp_path, client=cl, vector_name="tok")
    try:
        for case in CASES:
            _check_case(multi if case.startswith("maxsim") else dense, case)
    finally:
        cl.delete_collection(dense.name)
        cl.delete_collection(multi.name)
