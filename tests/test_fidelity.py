"""Fast fidelity subset: the trained digits CNN, a few scenes, exact Shapley on 3 x 3 cell grids.

The full benchmark is ``benchmarks/fidelity/run.py`` (results in benchmarks/RESULTS.md,
section "Fidelity"). Here, on screened scenes: the shipped weights load, retrieval works, and exact
explanations credit the shared digits (ranking) and link same-class digits
(correspondence) — and stop doing so when the weights are random.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qdrant_explain.datasets import digits  # noqa: E402
from qdrant_explain.explainers import (  # noqa: E402
    HitGame,
    ImageSide,
    QueryGame,
    explain_game,
    explain_joint,
    make_baseline,
)
from qdrant_explain.explainers import metrics as M  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_protocol():
    """The benchmark's protocol helpers (benchmarks/fidelity/protocol.py), loaded by path."""
    spec = importlib.util.spec_from_file_location("fidelity_protocol", ROOT / "benchmarks" / "fidelity" / "protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


P = _load_protocol()

# (query classes, hit classes): shared and unshared digits on both sides
CLASS_PAIRS = [
    ([1, 3, 5], [3, 5, 7]),
    ([0, 2, 4, 6], [2, 8, 9]),
    ([7, 8, 9], [9, 0, 8, 1]),
    ([2, 5], [5, 6, 3]),
    ([4, 1, 6], [4, 9]),
    ([3, 9, 0, 7], [0, 3, 4]),
]


@pytest.fixture(scope="module")
def encoder():
    torch.set_num_threads(2)
    return digits.load_digits_encoder(threads=2)


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(2024)
    return [
        (digits.make_scene(rng, k=len(a), classes=a, split="test"), digits.make_scene(rng, k=len(b), classes=b, split="test"))
        for a, b in CLASS_PAIRS
    ]


class _Dedup:
    """Encode each distinct image once (masking an empty cell leaves the image unchanged)."""

    def __init__(self, encoder):
        self.encoder = encoder

    def encode(self, batch):
        index: dict[bytes, int] = {}
        inverse = np.array([index.setdefault(hashlib.blake2b(img.tobytes()).digest(), len(index)) for img in batch])
        first = np.unique(inverse, return_index=True)[1]
        return self.encoder.encode(batch[first])[inverse]


def _side(encoder, scene, name):
    pixels = scene.image
    return ImageSide(pixels, make_baseline("constant:0,0,0", pixels), scene.cell_labels(), _Dedup(encoder).encode,
                     batch_size=512, progress=False, name=name)


def _explain(encoder, q, h):
    """Exact order-1 maps of both sides and the exact joint cross matrix, from one set of 2 x 512 encodes."""
    qs, hs = _side(encoder, q, "query"), _side(encoder, h, "hit")
    joint = explain_joint(qs, hs, 9, 9, score="cosine", method="exact")
    eq, eh = encoder.encode(np.stack([q.image, h.image]))
    vq = explain_game(QueryGame(qs, eh, "cosine"), 9, method="exact").values
    vh = explain_game(HitGame(hs, eq, "cosine"), 9, method="exact").values
    return vq, vh, joint


def test_loads_as_registered_encoder_and_retrieves(encoder):
    from qdrant_explain.connectors.encoders import list_encoders, load_encoder

    assert "digits-cnn" in list_encoders()
    enc = load_encoder("digits-cnn", threads=2)
    assert enc.name == "digits-cnn" and enc.input_size == (96, 96)
    queries = digits.make_scenes(20, seed=5, split="test")
    database = digits.make_scenes(200, seed=6, split="test")
    eq = enc.encode(np.stack([s.image for s in queries]))
    ed = enc.encode(np.stack([s.image for s in database]))
    eq /= np.linalg.norm(eq, axis=1, keepdims=True)
    ed /= np.linalg.norm(ed, axis=1, keepdims=True)
    truth = np.array([[digits.overlap(a, b) for b in database] for a in queries])
    report = M.retrieval_metrics(eq @ ed.T, truth)
    # shipped CNN here: r1_any 1.0, spearman 0.82
    assert report.r1_any >= 0.95
    assert report.spearman >= 0.7


def test_exact_maps_rank_shared_digits_first_and_link_same_classes(encoder, pairs):
    ok = total = corr_ok = corr_n = 0
    for q, h in pairs:
        vq, vh, joint = _explain(encoder, q, h)
        assert abs(joint.efficiency_gap()) < 1e-6
        for values, (shared, unshared) in ((vq, P.truth(q, h)), (vh, P.truth(h, q))):
            a, b = M.ranking_pairs(values, shared, unshared)
            ok, total = ok + a, total + b
        for cell, hit_cell in P.matches(q, h).items():
            corr_ok += M.correspondence_accuracy(joint.cross, {cell: hit_cell})
            corr_n += 1
    assert total >= 20 and corr_n >= 9
    # the targets, on scenes of screened digits (labels no independent reader disputes)
    assert ok / total >= 0.99, f"shared-object ranking {ok}/{total}"
    assert corr_ok / corr_n >= 0.95, f"correspondence {corr_ok}/{corr_n}"


def test_random_weights_change_the_maps(encoder, pairs):
    random_encoder = digits.load_digits_encoder("random", seed=1, threads=2)
    rhos = []
    for q, h in pairs[:3]:
        cross = _explain(encoder, q, h)[2].cross
        cross_rnd = _explain(random_encoder, q, h)[2].cross
        dq, dh = sorted(q.cells), sorted(h.cells)
        rhos.append(M.map_rank_correlation(cross[np.ix_(dq, dh)], cross_rnd[np.ix_(dq, dh)]))
    assert np.mean(rhos) < 0.3


def test_recognised_cells_reads_clean_digits_and_rejects_bad_split(encoder):
    centroids = P.class_centroids(encoder, per_class=40)
    assert centroids.shape == (10, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0)
    scene = digits.make_scene(np.random.default_rng(3), k=3, classes=[0, 1, 7], split="train")
    read = P.recognised_cells(encoder, scene, centroids)
    assert read.shape == (9,) and not read[[c for c in range(9) if c not in scene.cells]].any()
    assert read[list(scene.cells)].all()  # training digits: read as their class
    with pytest.raises(ValueError, match="split"):
        P.class_centroids(encoder, split="validation")


def test_screening_drops_disputed_digits_only():
    from sklearn.datasets import load_digits

    flagged = digits.ambiguous_digits()
    target = load_digits().target
    assert flagged.shape == target.shape and flagged.dtype == bool
    assert 0.01 < flagged.mean() < 0.06  # a few percent of the 1797 digits
    assert flagged[5]  # the "5" that every reader (and the CNN) takes for a 9
    assert np.array_equal(flagged, digits.screen_digits())  # the shipped list is what the screen computes
    # every class keeps most of its digits in both splits
    for cls in range(10):
        assert flagged[target == cls].mean() < 0.15
    # a screened scene never shows a flagged image; an unscreened one draws from all of them
    bank, labels, which = digits.digit_bank(digits.DIGIT_SCALE)
    fives = np.flatnonzero((labels == 5) & (which == 1))
    bad = fives[flagged[fives]]
    assert bad.size
    rng = np.random.default_rng(0)
    for screened, expect_bad in ((True, False), (False, True)):
        seen_bad = False
        for _ in range(300):
            scene = digits.make_scene(rng, k=1, classes=[5], split="test", canvas=32, grid=1, screened=screened)
            top, left, bottom, right = scene.boxes[0]
            crop = scene.image[top:bottom, left:right, 0].astype(float)
            # brightness scales the image: compare shapes by normalised correlation with the flagged fives
            ref = bank[bad].reshape(bad.size, -1).astype(float)
            x = crop.ravel()
            cos = ref @ x / (np.linalg.norm(ref, axis=1) * np.linalg.norm(x) + 1e-12)
            seen_bad |= bool(cos.max() > 0.9999)
        assert seen_bad == expect_bad


def test_digits_cnn_loads_by_name_in_a_fresh_process():
    """``load_encoder("digits-cnn")`` finds the datasets package without it being imported first."""
    code = (
        "import sys\n"
        "from qdrant_explain.connectors.encoders import list_encoders, load_encoder\n"
        "assert 'qdrant_explain.datasets.digits' not in sys.modules\n"
        "enc = load_encoder('digits-cnn', threads=1)\n"
        "print(enc.name, enc.input_size, 'digits-cnn' in list_encoders())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["digits-cnn", "(96,", "96)", "True"]
    assert "warn" not in out.stderr.lower()


def test_the_dataset_lives_in_the_datasets_package_with_its_files():
    import qdrant_explain.connectors as connectors

    here = pathlib.Path(digits.__file__).parent
    assert here == ROOT / "plugin" / "datasets" / "digits"
    assert digits.WEIGHTS_PATH.parent == here and digits.WEIGHTS_PATH.is_file()
    assert digits.AMBIGUOUS_PATH.parent == here and digits.AMBIGUOUS_PATH.is_file()
    assert not (pathlib.Path(connectors.__file__).parent / "digits.py").exists()
    assert not hasattr(digits, "class_centroids")  # protocol helpers live in benchmarks/fidelity/protocol.py


def test_make_scene_checks_forced_classes():
    rng = np.random.default_rng(0)
    for bad in ([1, 2], [1, 1, 2], [1, 2, 10]):
        with pytest.raises(ValueError, match=r"make_scene\(classes=...\) must list k=3 distinct classes"):
            digits.make_scene(rng, k=3, classes=bad)
    with pytest.raises(ValueError, match=r"make_scene\(split=...\) must be 'train' or 'test'; got 'val'"):
        digits.make_scene(rng, k=1, split="val")
    scene = digits.make_scene(rng, k=3, classes=(4, 0, 9))
    assert scene.classes == (4, 0, 9) and sorted(scene.cell_classes()[list(scene.cells)]) == [0, 4, 9]


def test_protocol_truth_and_matches_follow_the_classes():
    rng = np.random.default_rng(7)
    q = digits.make_scene(rng, k=3, classes=[1, 3, 5], split="test")
    h = digits.make_scene(rng, k=3, classes=[3, 5, 7], split="test")
    shared, unshared = P.truth(q, h)
    cell_of = dict(zip(q.classes, q.cells))
    assert sorted(shared) == sorted([cell_of[3], cell_of[5]]) and unshared == [cell_of[1]]
    hit_cell = dict(zip(h.classes, h.cells))
    assert P.matches(q, h) == {cell_of[3]: hit_cell[3], cell_of[5]: hit_cell[5]}


def test_digit_bank_is_read_only():
    bank, labels, which = digits.digit_bank(digits.DIGIT_SCALE)
    assert bank.shape == (digits.N_DIGITS, 24, 24) and set(np.unique(which)) == {0, 1}
    with pytest.raises(ValueError, match="read-only"):
        labels[0] = 3


# ----------------------------------------------------------------------------- truth by construction (issue 17)
# Tasks whose attributions are known in closed form (datasets.digits.constructed), run through the
# real pipeline of sides: exact must match the truth to 1e-8, and the trivial baselines must fail
# exactly where the construction says they must (so the tasks separate methods).


def _load_sibling(name: str):
    """A benchmarks/fidelity module, loaded by path (its folder on sys.path for its own sibling imports)."""
    folder = ROOT / "benchmarks" / "fidelity"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"fidelity_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


B = _load_sibling("baselines")
TT = _load_sibling("truth_tasks")


def _share(task, index: int) -> float:
    """w_k / W of feature ``index``: the by-hand unit of every closed form below."""
    w = task.encoder.weights if hasattr(task, "encoder") else task.query_encoder.weights
    return float(w[index] / w.sum())


def _exact_side(task, metric: str):
    from qdrant_explain.sides import ImageSide as PipelineSide
    from qdrant_explain.sides import VectorSide, explain_sides

    side = PipelineSide(task.scene.image, task.encoder, players=task.scene.cell_labels(), baseline="constant:0,0,0")
    return explain_sides(side, [VectorSide(task.vector)], method="exact", metric=metric, side="query",
                         batch_size=512)[0].query_explanation


@pytest.mark.parametrize("metric", ["cosine", "dot"])
@pytest.mark.parametrize("kind", digits.SIDE_TASKS)
def test_exact_shapley_matches_the_constructed_truth(kind, metric):
    task = digits.make_side_task(kind, np.random.default_rng(11))
    res = _exact_side(task, metric)
    truth = task.shapley()
    np.testing.assert_allclose(res.values, truth, atol=1e-8, rtol=0)
    assert res.n_evaluations == 512 and not res.estimated
    # the closed form against the construction by hand (not by the same helper)
    r = task.roles
    if kind in ("co-occurrence", "redundancy"):
        a, b = r["together" if kind == "co-occurrence" else "redundant"]
        (c,) = r["alone"]
        hand = np.zeros(9)
        hand[[a, b]] = _share(task, 0) / 2
        hand[c] = _share(task, 1)
        np.testing.assert_allclose(truth, hand, atol=1e-12)
    assert truth.sum() == pytest.approx(res.full_value - res.base_value, abs=1e-12) == pytest.approx(1.0)
    empty = [c for c in range(9) if c not in task.scene.cells]
    assert np.all(truth[empty] == 0)


def test_trivial_baselines_fail_where_the_construction_says():
    rng = np.random.default_rng(5)
    for kind in ("additive", "co-occurrence", "redundancy"):
        task = digits.make_side_task(kind, rng)
        game = TT._game(task, "cosine")
        truth = task.shapley()
        single, n_single = B.singleton_values(game, 9)
        loo, _ = B.leave_one_out_values(game, 9)
        assert n_single == 10 and game.side.encoder_passes <= 20
        if kind == "additive":  # control: additive games are where trivial methods are right
            np.testing.assert_allclose(single, truth, atol=1e-12)
            np.testing.assert_allclose(loo, truth, atol=1e-12)
            continue
        pair = task.roles["together" if kind == "co-occurrence" else "redundant"]
        w = _share(task, 0)
        if kind == "co-occurrence":  # needs both: alone each scores 0, removing either loses everything
            np.testing.assert_allclose(single[list(pair)], 0.0, atol=1e-12)
            np.testing.assert_allclose(loo[list(pair)], w, atol=1e-12)
        else:  # either suffices: alone each scores all of it, removing one loses nothing
            np.testing.assert_allclose(single[list(pair)], w, atol=1e-12)
            np.testing.assert_allclose(loo[list(pair)], 0.0, atol=1e-12)
        np.testing.assert_allclose(truth[list(pair)], w / 2, atol=1e-12)
        assert TT.relative_error(single, truth) > 0.3 and TT.relative_error(loo, truth) > 0.3
        assert TT.relative_error(_exact_side(task, "cosine").values, truth) < 1e-8
        # the package's leave-one-out estimator is the same baseline
        np.testing.assert_allclose(explain_game(game, 9, method="occlusion").values, loo, atol=1e-12)


@pytest.mark.parametrize("kind", ["co-occurrence", "redundancy", "mixed"])
def test_joint_exact_matches_the_constructed_truth_and_pair_baselines_fail(kind):
    from qdrant_explain.sides import explain_sides

    task = digits.make_joint_task(kind, np.random.default_rng(23))
    q, h = TT._joint_sides(task)
    joint = explain_sides(q, [h], order=2, method="exact", metric="cosine", batch_size=512)[0].joint
    truth = task.truth()
    for name in ("cross", "query_values", "hit_values", "query_interactions", "hit_interactions",
                 "query_side_values", "hit_side_values"):
        np.testing.assert_allclose(getattr(joint, name), getattr(truth, name), atol=1e-8, rtol=0, err_msg=name)
    assert joint.full_value == pytest.approx(truth.full_value, abs=1e-12) == pytest.approx(1.0)
    game = TT._joint_game(task, "cosine")
    single = B.pair_singleton_cross(game, 9, 9)
    sbsm = explain_game(game, 18, method="sbsm", order=2).interactions[:9, 9:]
    w = _share(task, 0)
    if kind == "co-occurrence":  # hit digit b1 matches query digits a1 and a2 only together
        (a1, a2), b1 = task.roles["together"]
        np.testing.assert_allclose(truth.cross[[a1, a2], b1], w / 3, atol=1e-12)
        np.testing.assert_allclose(truth.query_interactions[a1, a2], w / 3, atol=1e-12)
        np.testing.assert_allclose(single[[a1, a2], b1], 0.0, atol=1e-12)
        np.testing.assert_allclose(sbsm[[a1, a2], b1], w, atol=1e-12)
    elif kind == "redundancy":  # query digit a1 matches either of the hit digits b1, b2
        a1, (b1, b2) = task.roles["redundant"]
        np.testing.assert_allclose(truth.cross[a1, [b1, b2]], 2 * w / 3, atol=1e-12)
        np.testing.assert_allclose(truth.hit_interactions[b1, b2], -w / 3, atol=1e-12)
        np.testing.assert_allclose(single[a1, [b1, b2]], w, atol=1e-12)
        np.testing.assert_allclose(sbsm[a1, [b1, b2]], 0.0, atol=1e-12)
    assert TT.relative_error(single, truth.cross) > 0.2 and TT.relative_error(sbsm, truth.cross) > 0.2


@pytest.mark.parametrize("kind", digits.SIDE_TASKS)
def test_pure_logic_games_match_exact_at_orders_1_and_2(kind):
    game = digits.make_logic_game(kind, np.random.default_rng(2), n_players=8)
    np.testing.assert_allclose(explain_game(game, 8, method="exact").values, game.shapley(), atol=1e-8, rtol=0)
    res = explain_game(game, 8, method="exact", order=2)
    single, pairs = game.shapley_taylor2()
    np.testing.assert_allclose(res.values, single, atol=1e-8, rtol=0)
    np.testing.assert_allclose(res.interactions, pairs, atol=1e-8, rtol=0)


def test_cell_logic_encoder_reads_cells_and_has_unit_norm():
    task = digits.make_side_task("mixed", np.random.default_rng(4))
    enc, scene = task.encoder, task.scene
    labels = scene.cell_labels()
    rng = np.random.default_rng(0)
    masks = rng.random((40, 9)) < 0.5
    images = np.stack([scene.image * m[labels][:, :, None] for m in masks]).astype(np.uint8)
    occupied = np.zeros(9, dtype=bool)
    occupied[list(scene.cells)] = True
    np.testing.assert_array_equal(enc.presence(images), masks & occupied)
    emb = enc.encode(images)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(emb @ task.vector, task.value(masks), atol=1e-12)
    assert enc.dim == emb.shape[1] == len(enc.features) + 2 and enc.name.startswith("cell-logic[")


def test_baselines_cost_what_they_say_and_random_is_seeded_and_efficient():
    game = digits.make_logic_game("mixed", np.random.default_rng(1), n_players=10)
    a, passes = B.random_values(game, 10, seed=3)
    b, _ = B.random_values(game, 10, seed=3)
    c, _ = B.random_values(game, 10, seed=4)
    assert passes == 2 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"singleton_values needs n_players, an integer >= 1; got 0"):
        B.singleton_values(game, 0)


def test_constructed_tasks_refuse_bad_inputs():
    with pytest.raises(ValueError, match=r"CellFeature\(kind=...\) must be one of \('and', 'or'\); got 'xor'"):
        digits.CellFeature("xor", (0, 1))
    with pytest.raises(ValueError, match=r"CellFeature\(cells=...\) must list one or more distinct"):
        digits.CellFeature("and", (1, 1))
    with pytest.raises(ValueError, match=r"CellFeature\(cells=...\)"):
        digits.CellFeature("or", ())
    feats = [digits.CellFeature("and", (0, 1))]
    with pytest.raises(ValueError, match=r"slot=...\) must be 0 \(query\) or 1 \(hit\); got 2"):
        digits.CellLogicEncoder(feats, slot=2)
    with pytest.raises(ValueError, match=r"cell 9 is outside the 3 x 3 grid"):
        digits.CellLogicEncoder([digits.CellFeature("or", (2, 9))])
    with pytest.raises(ValueError, match=r"needs one positive finite weight per feature \(1\); got \[-1.0\]"):
        digits.CellLogicEncoder(feats, [-1.0])
    with pytest.raises(ValueError, match=r"expects an \(m, 96, 96, 3\) uint8 batch; got shape \(2, 32, 32, 3\)"):
        digits.CellLogicEncoder(feats).encode(np.zeros((2, 32, 32, 3), np.uint8))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"make_side_task\(kind=...\) must be one of .*; got 'xor'"):
        digits.make_side_task("xor", rng)
    with pytest.raises(ValueError, match=r"make_joint_task\(digits=...\) needs 4 to 9 digits per scene; got 3"):
        digits.make_joint_task("redundancy", rng, digits=3)
    with pytest.raises(ValueError, match=r"make_logic_game needs n_players >= \d+ for 3 groups; got 3"):
        digits.make_logic_game("co-occurrence", rng, n_players=3)


def test_truth_tasks_benchmark_smoke(tmp_path, capsys):
    """A tiny run of benchmarks/fidelity/truth_tasks.py: the tables separate exact from the trivial baselines."""
    out = tmp_path / "tt.json"
    result = TT.main(["--instances", "1", "--pure-instances", "2", "--seeds", "1", "--parts", "side,pure",
                      "--pure-players", "8", "--pure-budgets", "64", "--out", str(out)])
    assert out.is_file() and "A. Order 1" in capsys.readouterr().out
    side, pure = result["side"]["tasks"], result["pure"]["tasks"]
    assert result["side"]["exact_max_abs_error"] < 1e-8 and result["pure"]["exact_max_abs_error"] < 1e-8
    for kind in ("co-occurrence", "redundancy"):
        assert side[kind]["exact"]["passes_task"] and pure[f"{kind}/64"]["exact"]["passes_task"]
        for trivial in ("singleton", "occlusion", "random"):
            assert not side[kind][trivial]["passes_task"], (kind, trivial)
            assert not pure[f"{kind}/64"][trivial]["passes_task"], (kind, trivial)
    assert side["additive"]["singleton"]["passes_task"] and side["additive"]["occlusion"]["passes_task"]
