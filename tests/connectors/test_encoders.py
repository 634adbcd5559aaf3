"""Encoders: EfficientNet-Lite0 (real weights), open_clip (random weights), callables, specs and errors."""

from __future__ import annotations

import json
import sys
import time
import types

import numpy as np
import pytest

from qdrant_explain.connectors import (
    CallableEncoder,
    EncoderSpecError,
    WeightsUnavailableError,
    list_encoders,
    load_encoder,
    register_encoder,
)
from qdrant_explain.connectors import encoders as encoders_mod
from qdrant_explain.explainers.encoder import Encoder

TINY_CFG = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip_name(tmp_path_factory):
    import open_clip

    folder = tmp_path_factory.mktemp("clipcfg")
    (folder / "qe-tiny-vit.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / "qe-tiny-vit.json")
    return "qe-tiny-vit"


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_name):
    import torch

    torch.manual_seed(0)
    return load_encoder(f"clip:{tiny_clip_name}@none", device="cpu", threads=1)


# ----------------------------------------------------------------------------- EfficientNet-Lite0


def test_effnet_implements_the_protocol(effnet, photo):
    assert isinstance(effnet, Encoder)
    assert effnet.name == "efficientnet-lite0" and effnet.input_size == (224, 224) and effnet.dim == 1280
    prepared = effnet.prepare(photo("coffee"))
    assert prepared.pixels.shape == (224, 224, 3) and prepared.pixels.dtype == np.uint8
    assert prepared.geometry.original_size == (400, 600)
    out = effnet.encode(prepared.pixels[None])
    assert out.shape == (1, 1280) and out.dtype == np.float64 and np.isfinite(out).all()
    assert (out >= -0.3).all()  # pooled swish features: (almost) non-negative


def test_effnet_is_deterministic_and_batch_size_invariant(effnet, photo):
    batch = np.stack([effnet.prepare(photo(n)).pixels for n in ("coffee", "chelsea", "rocket")])
    a = effnet.encode(batch)
    old = effnet.batch_size
    try:
        effnet.batch_size = 1
        b = effnet.encode(batch)
    finally:
        effnet.batch_size = old
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(a, effnet.encode(batch))


def test_effnet_pretrained_weights_classify_coffee(effnet, photo):
    import torch

    x = effnet.to_tensor(effnet.prepare(photo("coffee")).pixels[None])
    with torch.inference_mode():
        logits = effnet.model.net(x)
    assert int(logits.argmax()) == 967  # ImageNet "espresso": the real weights are loaded


def test_effnet_finds_the_other_view_of_the_same_scene(effnet, photo, tmp_path):
    """Two overlapping crops of one scene rank each other first among other photos."""
    from PIL import Image

    from qdrant_explain.connectors import index_folder, open_collection

    ast, cof = photo("astronaut"), photo("coffee")
    views = {
        "astro_a": ast[0:380, 0:380], "astro_b": ast[120:500, 120:500],
        "coffee_a": cof[:, :400], "coffee_b": cof[:, 200:],
        "chelsea": photo("chelsea"), "rocket": photo("rocket"), "camera": photo("camera"),
        "hubble": photo("hubble_deep_field"),
    }
    from sklearn.datasets import load_sample_images

    for i, img in enumerate(load_sample_images().images):
        views[f"sklearn_{i}"] = img
    for name, arr in views.items():
        Image.fromarray(arr).save(tmp_path / f"{name}.png")
    index_folder(tmp_path, "views", encoder=effnet, path=":memory:", progress=False)
    col = open_collection("views", path=":memory:")
    for a, b in [("astro_a", "astro_b"), ("astro_b", "astro_a"), ("coffee_a", "coffee_b"), ("coffee_b", "coffee_a")]:
        _, hits = col.search_image(effnet, views[a], limit=2)
        assert [h.payload["path"] for h in hits] == [f"{a}.png", f"{b}.png"]


def test_bf16_is_close_to_fp32(effnet, photo):
    enc16 = load_encoder("efficientnet-lite0", device="cpu", dtype="bf16")
    assert enc16.dtype_name == "bf16" and enc16.name == effnet.name
    px = effnet.prepare(photo("chelsea")).pixels[None]
    a, b = effnet.encode(px)[0], enc16.encode(px)[0]
    assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.98


def test_fp16_on_cpu_is_refused():
    with pytest.raises(ValueError, match="fp16.*CUDA"):
        load_encoder("efficientnet-lite0", device="cpu", dtype="fp16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        load_encoder("efficientnet-lite0", device="cpu", dtype="int8")


def test_device_auto_picks_cpu_without_cuda():
    import torch

    from qdrant_explain.connectors.encoders import select_device

    assert select_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_encode_rejects_wrong_batches(effnet):
    with pytest.raises(ValueError, match=r"\(m, 224, 224, 3\) uint8"):
        effnet.encode(np.zeros((1, 100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        effnet.encode(np.zeros((1, 224, 224, 3), np.float32))


# ----------------------------------------------------------------------------- open_clip


def test_tiny_clip_random_weights(tiny_clip, photo):
    assert tiny_clip.name == "clip:qe-tiny-vit@none" and tiny_clip.input_size == (64, 64) and tiny_clip.dim == 24
    assert tiny_clip.resize == "shortest"
    np.testing.assert_allclose(tiny_clip.mean, (0.48145466, 0.4578275, 0.40821073))
    px = np.stack([tiny_clip.prepare(photo(n)).pixels for n in ("coffee", "rocket")])
    out = tiny_clip.encode(px)
    assert out.shape == (2, 24) and np.isfinite(out).all()


def test_clip_preprocessing_matches_open_clip_transform(tiny_clip_name, tiny_clip, photo):
    """prepare + normalise reproduces open_clip's own preprocess closely (same resize/crop/mean/std)."""
    import open_clip
    import torch
    from PIL import Image

    _, _, preprocess = open_clip.create_model_and_transforms(tiny_clip_name, pretrained=None)
    img = Image.fromarray(photo("astronaut"))
    ref = preprocess(img)[None]
    ours = tiny_clip.to_tensor(tiny_clip.prepare(img).pixels[None]).float()
    assert ours.shape == ref.shape
    assert torch.mean(torch.abs(ours - ref)).item() < 0.02  # PIL vs torchvision antialias rounding only


def test_clip_local_checkpoint_round_trip(tiny_clip, tiny_clip_name, tmp_path, photo):
    import open_clip
    import torch

    torch.manual_seed(1)
    model, _, _ = open_clip.create_model_and_transforms(tiny_clip_name, pretrained=None)
    torch.save(model.state_dict(), tmp_path / "ckpt.pt")
    enc = load_encoder(f"clip:{tiny_clip_name}@{tmp_path / 'ckpt.pt'}", device="cpu")
    assert enc.name == f"clip:{tiny_clip_name}@{tmp_path / 'ckpt.pt'}"
    px = enc.prepare(photo("rocket")).pixels[None]
    with torch.inference_mode():
        expected = model.visual(enc.to_tensor(px)).numpy()
    np.testing.assert_allclose(enc.encode(px), expected, rtol=1e-5, atol=1e-6)


def test_clip_checkpoint_that_does_not_fit(tiny_clip_name, tmp_path):
    (tmp_path / "wrong.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="local checkpoint"):
        load_encoder(f"clip:{tiny_clip_name}@{tmp_path / 'wrong.pt'}")
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_encoder(f"clip:{tiny_clip_name}@{tmp_path / 'missing.pt'}")


def test_vit_b32_random_weights(photo):
    enc = load_encoder("clip:ViT-B-32@none", device="cpu", threads=1)
    assert enc.input_size == (224, 224) and enc.dim == 512 and enc.resample == 3  # bicubic
    out = enc.encode(np.stack([enc.prepare(photo(n)).pixels for n in ("coffee", "chelsea")]))
    assert out.shape == (2, 512) and np.isfinite(out).all()


def test_unavailable_weights_fail_fast_with_a_fix(monkeypatch):
    from qdrant_explain.connectors import clip

    monkeypatch.setattr(clip, "_cached_file", lambda cfg, cache_dir: None)
    monkeypatch.setattr(clip, "_reachable", lambda host, timeout: False)
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match=r"clip:ViT-B-32@/path/to/the/file"):
        load_encoder("clip:ViT-B-32@laion2b_s34b_b79k")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE"):
        load_encoder("clip:ViT-B-32@laion2b_s34b_b79k")
    assert time.monotonic() - start < 10


def test_unknown_clip_model_and_tag():
    with pytest.raises(EncoderSpecError, match="no model 'ViT-Q-99'.*ViT-B-32"):
        load_encoder("clip:ViT-Q-99@none")
    with pytest.raises(EncoderSpecError, match="no pretrained tag 'bogus'.*laion2b_s34b_b79k"):
        load_encoder("clip:ViT-B-32@bogus")
    with pytest.raises(EncoderSpecError, match="needs a model and weights"):
        load_encoder("clip:ViT-B-32")


# ----------------------------------------------------------------------------- specs, callables, registry


def test_unknown_spec_lists_the_valid_forms():
    with pytest.raises(EncoderSpecError) as err:
        load_encoder("vit-b32")
    msg = str(err.value)
    assert "'vit-b32'" in msg and "efficientnet-lite0" in msg and "clip:MODEL@TAG" in msg and "module:function" in msg
    assert isinstance(err.value, ValueError)


def test_list_encoders():
    names = list_encoders()
    assert "efficientnet-lite0" in names and any(n.startswith("clip:") for n in names)


def _grey_mean(images):
    return images.reshape(len(images), -1, 3).mean(axis=1)


def test_module_function_spec_wraps_a_callable(monkeypatch, photo):
    mod = types.ModuleType("qe_user_models")
    mod.embed = _grey_mean
    monkeypatch.setitem(sys.modules, "qe_user_models", mod)
    enc = load_encoder("qe_user_models:embed", input_size=(32, 32))
    assert isinstance(enc, CallableEncoder) and enc.name == "qe_user_models:embed" and enc.dim == 3
    out = enc.encode(np.stack([enc.prepare(photo("coffee")).pixels]))
    assert out.shape == (1, 3)
    with pytest.raises(EncoderSpecError, match="no attribute 'nope'"):
        load_encoder("qe_user_models:nope")
    with pytest.raises(EncoderSpecError, match="cannot import module"):
        load_encoder("qe_no_such_module_xyz:embed")


def test_callable_with_a_wrong_shape_is_reported():
    enc = CallableEncoder(lambda x: np.zeros(len(x)), input_size=(8, 8), name="bad")
    with pytest.raises(ValueError, match=r"returned shape \(2,\) for 2 images"):
        enc.encode(np.zeros((2, 8, 8, 3), np.uint8))


def test_register_encoder_hook(monkeypatch):
    monkeypatch.setattr(encoders_mod, "_REGISTRY", dict(encoders_mod._REGISTRY))
    register_encoder("qe-test-mean", lambda **opts: CallableEncoder(_grey_mean, name="qe-test-mean", **opts))
    enc = load_encoder("qe-test-mean", input_size=(16, 16))
    assert enc.name == "qe-test-mean" and "qe-test-mean" in list_encoders()
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("qe-test-mean", lambda **o: None)
    with pytest.raises(ValueError, match="without ':'"):
        register_encoder("a:b", lambda **o: None)


def test_encoder_instance_passes_through(effnet):
    assert load_encoder(effnet) is effnet


def test_device_masking_equals_numpy_masking(tiny_clip, photo):
    """masked_encoder (compositing on the device; forced here on the CPU) = encode of numpy-masked images."""
    from qdrant_explain.explainers.masking import make_baseline, masked_batch
    from qdrant_explain.explainers.players import make_players

    prep = tiny_clip.prepare(photo("coffee"))
    players = make_players("grid:3x4", prep)
    base = make_baseline("blur", prep.pixels)
    assert tiny_clip.masked_encoder(prep.pixels, base, players.labels) is None  # on the CPU: numpy path
    masks = np.random.default_rng(0).random((9, players.n_players)) < 0.5
    want = tiny_clip.encode(masked_batch(prep.pixels, base, players.labels, masks))
    try:
        tiny_clip.device_masking = True
        encode_masks = tiny_clip.masked_encoder(prep.pixels, base, players.labels)
        got = encode_masks(masks)
        with pytest.raises(ValueError, match="boolean matrix"):
            encode_masks(masks[:, :3])
    finally:
        tiny_clip.device_masking = None
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def _numpy_and_device(encoder, query, hit, **kw):
    """The same explain_pair with numpy masking, then with masking forced onto the encoder's device."""
    from qdrant_explain import explain_pair

    numpy_built = explain_pair(query, hit, encoder, progress=False, batch_size=16, **kw)
    try:
        encoder.device_masking = True
        return numpy_built, explain_pair(query, hit, encoder, progress=False, batch_size=16, **kw)
    finally:
        encoder.device_masking = None


def test_explain_pair_same_with_device_masking(tiny_clip, photo):
    query, hit = photo("astronaut"), photo("chelsea")
    a, b = _numpy_and_device(tiny_clip, query, hit, order=1, method="kernel-shap", players="slic:12", budget=60)
    assert a.encoder_passes == b.encoder_passes
    np.testing.assert_allclose(b.query_values, a.query_values, atol=1e-6)
    np.testing.assert_allclose(b.hit_values, a.hit_values, atol=1e-6)
    # order 2 (joint, exact): the same cross matrix from device-built masked images
    a2, b2 = _numpy_and_device(tiny_clip, query, hit, order=2, method="exact", players="grid:2x3")
    assert a2.encoder_passes == b2.encoder_passes == 2**6 + 2**6
    np.testing.assert_allclose(b2.cross, a2.cross, atol=1e-6)
