"""Must-show 2 and the second half of issue 14: a multivector (MaxSim) encoder mode, indexing a folder into a
MaxSim collection on the embedded client and on Qdrant Edge, the per-token split with the matched patch of every
token, and the region game over pixels on a multivector collection (query side, hit side, joint) exact at full
budget against brute force; the joint correspondence of a recommend hit with its driving example."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plugin_helpers import TINY, _smooth_image

from qdrant_explain.connectors import CallableEncoder, index_folder, load_encoder, open_collection
from qdrant_explain.connectors import shapes as S
from qdrant_explain.explainers import query_scores as qs
from qdrant_explain.explainers.exact import shapley_taylor_order2, shapley_values
from qdrant_explain.explainers.masking import make_baseline
from qdrant_explain.explainers.maxsim import MaxSimScore
from qdrant_explain.explainers.players import make_players
from qdrant_explain.results import load_result
from qdrant_explain.shapes import ShapeExplanation, SlotScore, explain_shape

TINY_VIT = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tokens_encoder(tmp_path_factory):
    """``clip-tokens:`` on a tiny random ViT: 4 x 4 patch tokens of 24 dims."""
    open_clip = pytest.importorskip("open_clip")
    import torch

    folder = tmp_path_factory.mktemp("mvcfg")
    (folder / "qe-tiny-mv-vit.json").write_text(json.dumps(TINY_VIT))
    open_clip.add_model_config(folder / "qe-tiny-mv-vit.json")
    torch.manual_seed(0)
    return load_encoder("clip-tokens:qe-tiny-mv-vit@none", device="cpu", threads=1)


@pytest.fixture(scope="module")
def mv_collections(tokens_encoder, tmp_path_factory):
    """Five smooth images indexed by ``index_folder`` into a MaxSim collection on each backend."""
    from PIL import Image

    root = tmp_path_factory.mktemp("mv_photos")
    rng = np.random.default_rng(11)
    for i in range(5):
        Image.fromarray(_smooth_image(rng)).save(root / f"m{i}.png")
    out = {}
    for backend in ("client", "edge"):
        if backend == "edge":
            pytest.importorskip("qdrant_edge")
        db = tmp_path_factory.mktemp(f"mv_{backend}")
        report = index_folder(root, "mv", encoder=tokens_encoder, backend=backend, path=str(db), progress=False)
        assert report.added == 5 and not report.failed
        out[backend] = open_collection("mv", backend=backend, path=str(db))
    return out, root


def _query(tokens_encoder, root):
    from PIL import Image

    img = np.asarray(Image.open(root / "m0.png").convert("RGB")).copy()
    img[:, : img.shape[1] // 2] = 255 - img[:, : img.shape[1] // 2]  # half of it changed: not a duplicate
    return img, tokens_encoder.encode(tokens_encoder.prepare(img).pixels[None])[0]


def _masked_table(enc, image, spec: str) -> np.ndarray:
    """Brute force: every coalition's masked image encoded on its own, (2^n, t, d) in bitmask order."""
    prepared = enc.prepare(image)
    players = make_players(spec, prepared, name="query", seed=0)
    base = make_baseline("gray", prepared.pixels)
    n = players.n_players
    out = []
    for s in range(2**n):
        keep = np.array([(s >> i) & 1 for i in range(n)], dtype=bool)[players.labels]
        out.append(enc.encode(np.where(keep[..., None], prepared.pixels, base)[None])[0])
    return np.stack(out)


def test_tokens_encoder_and_callable_multivectors(tokens_encoder):
    assert tokens_encoder.multivector and tokens_encoder.dim == 24
    assert tokens_encoder.name == "clip-tokens:qe-tiny-mv-vit@none"
    out = tokens_encoder.encode(np.zeros((2, 64, 64, 3), np.uint8))
    assert out.shape == (2, 16, 24) and np.isfinite(out).all()
    from qdrant_explain.connectors.encoders import is_trusted_spec

    assert is_trusted_spec("clip-tokens:ViT-B-32@laion2b_s34b_b79k")  # a tag may be loaded from metadata
    assert not is_trusted_spec("clip-tokens:ViT-B-32@/tmp/ckpt.pt")  # a checkpoint path is not
    enc = CallableEncoder(lambda x: x.reshape(len(x), 4, -1)[:, :, :6].astype(float), input_size=(8, 8), multivector=True)
    assert enc.dim == 6 and enc.encode(np.zeros((3, 8, 8, 3), np.uint8)).shape == (3, 4, 6)
    flat = CallableEncoder(lambda x: x.reshape(len(x), 4, -1).astype(float), input_size=(8, 8))
    with pytest.raises(ValueError, match=r"needs CallableEncoder\(fn, multivector=True\)"):
        flat.encode(np.zeros((1, 8, 8, 3), np.uint8))


@pytest.mark.parametrize("backend", ["client", "edge"])
def test_maxsim_split_and_parity_on_an_indexed_folder(mv_collections, tokens_encoder, backend):
    cols, root = mv_collections
    col = cols[backend]
    assert S.is_multivector(col, None) and col.info.encoder == tokens_encoder.name
    img, qv = _query(tokens_encoder, root)
    shape = S.Nearest(qv)
    hits = S.run_shape(col, shape, limit=3)
    why = explain_shape(col, shape, hit=hits[1].id, encoder=tokens_encoder, query_image=img, players="grid:2x2",
                        method="exact", baseline="gray")
    assert why.detail == "maxsim" and len(why.values) == 16 and len(why.matched) == 16
    assert abs(why.total - why.exact_score) <= 1e-5 * max(1.0, abs(why.exact_score))
    assert abs(why.score - why.exact_score) <= 1e-4 * max(1.0, abs(why.exact_score))
    # each token's value is its similarity with the patch it matched
    stored = np.asarray(why.hit.vector, dtype=np.float64)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    sims = unit(qv) @ unit(stored).T
    np.testing.assert_array_equal(why.matched, sims.argmax(axis=1))
    np.testing.assert_allclose(why.values, sims.max(axis=1), atol=1e-5)
    # the region game's full value is a fresh encode of the query image against the stored multivector
    assert why.parity["fresh_ok"] is True and abs(why.parity["fresh_gap"]) <= 1e-4
    (pe,) = why.regions
    assert pe.encoder_passes == 16 and pe.method == "exact"
    assert abs(pe.full_value - why.score) <= 1e-4 * max(1.0, abs(why.score))


def test_multivector_region_games_are_exact_against_brute_force(mv_collections, tokens_encoder):
    cols, root = mv_collections
    col = cols["client"]
    img, qv = _query(tokens_encoder, root)
    shape = S.Nearest(qv)
    hit = S.run_shape(col, shape, limit=2)[1]
    hit_img = np.asarray(col.resolve_image(hit).convert("RGB"))
    kw = dict(hit=hit.id, encoder=tokens_encoder, players="grid:2x2", method="exact", baseline="gray")
    tq, th = _masked_table(tokens_encoder, img, "grid:2x2"), _masked_table(tokens_encoder, hit_img, "grid:2x2")
    stored = np.asarray(hit.vector)

    # query side: masked query multivectors against the stored document
    q1 = explain_shape(col, shape, query_image=img, **kw).regions[0]
    brute_q = qs.maxsim_scores(tq, stored, metric="cosine")
    np.testing.assert_allclose(q1.query_values, shapley_values(brute_q), atol=1e-5)
    # hit side: the query multivector that was sent against masked documents (no query image needed)
    h1 = explain_shape(col, shape, side="hit", **kw)
    brute_h = np.array([qs.maxsim_scores(qv, doc, metric="cosine")[0] for doc in th])
    np.testing.assert_allclose(h1.regions[0].hit_values, shapley_values(brute_h), atol=1e-5)
    assert h1.regions[0].encoder_passes == 16 and h1.parity["fresh_ok"] is True
    # joint: every (query mask, hit mask) MaxSim from the two cached tables, vs Shapley-Taylor of the 8-player game
    j = explain_shape(col, shape, query_image=img, order=2, **kw)
    pe = j.regions[0]
    assert pe.encoder_passes == 16 + 16 and pe.order == 2
    game = np.zeros(2**8)
    for a in range(16):
        for b in range(16):
            game[a | (b << 4)] = qs.maxsim_scores(tq[a], th[b], metric="cosine")[0]
    _, pairs = shapley_taylor_order2(game)
    np.testing.assert_allclose(pe.cross, pairs[:4, 4:], atol=1e-5)
    assert abs(pe.full_value - j.score) <= 1e-4 * max(1.0, abs(j.score))
    back = load_result(j.to_json())
    assert isinstance(back, ShapeExplanation) and back == j and "MaxSim" in back.regions[0].extra["game"]


def test_maxsim_score_object_matches_qdrants_formula():
    rng = np.random.default_rng(2)
    q, h = rng.normal(size=(3, 5, 4)), rng.normal(size=(2, 7, 4))
    for metric in ("cosine", "dot", "euclid", "manhattan"):
        m = MaxSimScore(metric, dim=4).matrix(q.reshape(3, -1), h.reshape(2, -1))
        ref = [[qs.maxsim_scores(q[i], h[k], metric=metric)[0] for k in range(2)] for i in range(3)]
        np.testing.assert_allclose(m, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="rows of tokens x 4 numbers"):
        MaxSimScore("dot", dim=4).matrix(np.ones((1, 6)), np.ones((1, 8)))


def test_multivector_bad_inputs_are_clear(mv_collections, tokens_encoder, tmp_path):
    cols, root = mv_collections
    col = cols["client"]
    img, qv = _query(tokens_encoder, root)
    why = explain_shape(col, S.Nearest(qv), encoder=TINY, query_image=img, players="grid:2x2")
    assert any("produces single vectors" in n for n in why.notes) and not why.regions
    why = explain_shape(col, S.Nearest(qv), encoder=tokens_encoder, players="grid:2x2")
    assert any("side='hit'" in n for n in why.notes)
    with pytest.raises(ValueError, match="order=...") as err:
        explain_shape(col, S.Nearest(qv), order=3)
    assert "got 3" in str(err.value)
    with pytest.raises(ValueError, match="single vector against the multivector"):
        explain_shape(col, S.Nearest(qv[0]), regions=False)
    dense = load_encoder(TINY)
    index_folder(root, "dense", encoder=dense, path=str(tmp_path / "d"), progress=False)
    multi = CallableEncoder(lambda x: np.ones((len(x), 2, dense.dim)), input_size=(16, 16), multivector=True,
                            name=dense.name)
    with pytest.raises(ValueError, match="holds dense vectors but multivector vectors were to be added"):
        index_folder(root, "dense", encoder=multi, path=str(tmp_path / "d"), progress=False)


def test_recommend_joint_correspondence_of_the_driving_example(tmp_path):
    from PIL import Image

    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(4)
    for i in range(6):
        Image.fromarray(_smooth_image(rng)).save(root / f"r{i}.png")
    index_folder(root, "rec", encoder=TINY, path=str(tmp_path / "db"), progress=False)
    col = open_collection("rec", path=str(tmp_path / "db"))
    ids = sorted((pid for pid, _ in col.scroll_payloads()), key=str)
    enc = load_encoder(TINY)
    for strategy in ("best_score", "sum_scores", "average_vector"):
        shape = S.Recommend(positive=(ids[0], ids[1]), negative=(ids[2],), strategy=strategy)
        why = explain_shape(col, shape, encoder=enc, order=2, players="grid:2x2", method="exact", baseline="gray")
        (pe,) = why.regions
        assert pe.order == 2 and pe.encoder_passes == 32 and why.driver is not None
        assert abs(pe.full_value - why.exact_score) <= 1e-4 * max(1.0, abs(why.exact_score))
        # brute force: the recommend score (Qdrant's formula) of every (example mask, hit mask) pair
        res = S.resolve_shape(col, shape)
        slot = (("positive", why.driver) if why.driver < 2 else ("negative", why.driver - 2))
        example = col.retrieve([(shape.positive + shape.negative)[why.driver]])[0]
        te = _masked_table(enc, np.asarray(col.resolve_image(example).convert("RGB")), "grid:2x2")
        th = _masked_table(enc, np.asarray(col.resolve_image(why.hit).convert("RGB")), "grid:2x2")
        score = SlotScore(res, slot)
        table = score.matrix(te, th)
        game = np.zeros(2**8)
        for a in range(16):
            for b in range(16):
                game[a | (b << 4)] = table[a, b]
        _, pairs = shapley_taylor_order2(game)
        np.testing.assert_allclose(pe.cross, pairs[:4, 4:], atol=1e-5)
        # the slot score with the stored example and hit is the exact recommend score
        exact = score.matrix(np.asarray(example.vector)[None], np.asarray(why.hit.vector)[None])[0, 0]
        assert abs(exact - why.exact_score) <= 1e-5


@pytest.mark.parametrize("backend", ["client", "edge"])
def test_recommend_on_multivectors_down_to_regions(mv_collections, tokens_encoder, backend):
    cols, _ = mv_collections
    col = cols[backend]
    ids = sorted((pid for pid, _ in col.scroll_payloads()), key=str)
    shape = S.Recommend(positive=(ids[0], ids[1]), negative=(ids[2],), strategy="best_score")
    why = explain_shape(col, shape, encoder=tokens_encoder, players="grid:2x2", method="exact", baseline="gray")
    assert abs(why.total - why.exact_score) <= 1e-5 and abs(why.score - why.exact_score) <= 1e-4
    (pe,) = why.regions
    assert pe.encoder_passes == 16 and abs(pe.full_value - why.exact_score) <= 1e-4
    joint = explain_shape(col, shape, encoder=tokens_encoder, order=2, players="grid:2x2", method="exact",
                          baseline="gray").regions[0]
    assert joint.encoder_passes == 32 and abs(joint.full_value - why.exact_score) <= 1e-4
    # efficiency of the joint game: base + every index adds up to the full value
    total = joint.base_value + joint.joint.query_values.sum() + joint.joint.hit_values.sum() + joint.cross.sum()
    if joint.joint.query_interactions is not None:
        total += np.triu(joint.joint.query_interactions, 1).sum() + np.triu(joint.joint.hit_interactions, 1).sum()
    assert abs(total - joint.full_value) <= 1e-6


def test_search_explainer_shape_methods(mv_collections, tokens_encoder, tmp_path):
    from PIL import Image

    from qdrant_explain import SearchExplainer

    cols, root = mv_collections
    ex = SearchExplainer(cols["client"], tokens_encoder, players="grid:2x2", method="exact", baseline="gray")
    img, _ = _query(tokens_encoder, root)
    hits = ex.nearest(img, limit=3)
    assert len(hits) == 3 and hits[0].score >= hits[1].score
    why = ex.nearest(img, explain=True, hit=hits[1])
    assert why.detail == "maxsim" and why.hit.id == hits[1].id and why.regions[0].encoder_passes == 16
    assert abs(why.total - why.score) <= 1e-4
    # search / explain_hits on a MaxSim collection: one set of masked-query encodes scored with MaxSim
    res = ex.explain_hits(img, limit=2, side="query")
    for h, e in zip(res.hits, res.explanations):
        assert abs(e.full_value - h.score) <= 1e-4 * max(1.0, h.score)
    assert res.encoder_passes == 16
    both = ex.explain(img, res.hits[1], side="both")
    assert abs(both.full_value - res.hits[1].score) <= 1e-4 * max(1.0, res.hits[1].score)
    ids = [h.id for h in hits]
    rec = ex.recommend([ids[0]], [ids[1]], strategy="sum_scores", explain=True, order=2)
    assert rec.shape == "recommend" and rec.regions[0].order == 2 and abs(rec.total - rec.score) <= 1e-4
    disc = ex.discover(ids[0], [(ids[1], ids[2])], explain=True, regions=False)
    assert disc.shape == "discover" and abs(disc.total - disc.score) <= 1e-4
    ctx = ex.context([(ids[1], ids[2])], limit=2)
    assert len(ctx) == 2
    # dense fusion of two image prefetches on the tiny dense encoder
    dense_root = tmp_path / "dense"
    dense_root.mkdir()
    rng = np.random.default_rng(8)
    for i in range(5):
        Image.fromarray(_smooth_image(rng)).save(dense_root / f"d{i}.png")
    index_folder(dense_root, "dense", encoder=TINY, path=str(tmp_path / "db"), progress=False)
    dx = SearchExplainer.open("dense", path=str(tmp_path / "db"), players="grid:2x2", method="exact")
    fused = dx.fuse([dense_root / "d1.png", dense_root / "d2.png"], method="rrf", prefetch_limit=4, explain=True)
    assert fused.shape == "fusion" and len(fused.values) == 2 and abs(fused.total - fused.score) <= 1e-4
    assert fused.regions and fused.regions[0].extra["prefetches"] == [1]
    with pytest.raises(TypeError, match="must be an image .* a \\(d,\\) vector"):
        dx.nearest({"not": "a query"})
