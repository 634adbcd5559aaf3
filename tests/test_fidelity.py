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
