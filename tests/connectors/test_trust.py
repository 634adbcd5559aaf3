"""Connectors' trust boundaries and registries: encoder families, backends, image roots, transport, storage."""

from __future__ import annotations

import sys
import uuid
import warnings

import numpy as np
import pytest
from PIL import Image

from qdrant_explain.connectors import (
    CollectionBase,
    CollectionInfo,
    CorruptStorageError,
    EmptyCollectionError,
    EncoderMismatchError,
    Hit,
    ImageResolveError,
    InsecureConnectionError,
    InsecureConnectionWarning,
    NotADatabaseError,
    UntrustedEncoderError,
    check_trusted_spec,
    create_collection,
    is_trusted_spec,
    list_backends,
    list_encoder_families,
    list_encoders,
    load_encoder,
    open_collection,
    record_image_root,
    recorded_image_root,
    register_backend,
    register_encoder_family,
)
from qdrant_explain.connectors import encoders as encoders_mod
from qdrant_explain.connectors import qdrant as qdrant_mod
from qdrant_explain.connectors.client import check_transport, connect
from qdrant_explain.connectors.collection import OpenRequest, normalize_id


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------- encoder trust


@pytest.mark.parametrize("spec,trusted", [
    ("efficientnet-lite0", True),
    ("clip:ViT-B-32@laion2b_s34b_b79k", True),
    ("open_clip:ViT-B-32@openai", True),
    ("clip:ViT-B-32@none", True),
    ("clip:ViT-B-32@/home/me/ckpt.pt", False),
    ("clip:ViT-B-32@ckpt.safetensors", False),
    ("clip:ViT-B-32@~/ckpt", False),
    ("os:system", False),
    ("module:os:system", False),
    ("builtins:exec", False),
    ("no-such-family", False),
])
def test_which_specs_are_trusted_from_metadata(spec, trusted):
    assert is_trusted_spec(spec) is trusted
    if not trusted:
        with pytest.raises(UntrustedEncoderError, match="encoder=") as err:
            check_trusted_spec(spec, source="collection 'c'")
        assert isinstance(err.value, ValueError) and "--encoder SPEC" in str(err.value)


def test_recorded_module_spec_is_refused_and_nothing_is_imported(tmp_path, monkeypatch):
    (tmp_path / "qe_evil_lib.py").write_text("import sys\nsys.exit(7)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    col = create_collection(unique("evil"), vector_size=4, path=":memory:", encoder="qe_evil_lib:make")
    ro = open_collection(col.name, path=":memory:")
    assert ro.info.encoder == "qe_evil_lib:make"
    with pytest.raises(UntrustedEncoderError, match="would import and run that module"):
        ro.load_encoder()
    assert "qe_evil_lib" not in sys.modules
    from qdrant_explain import SearchExplainer

    with pytest.raises(UntrustedEncoderError):
        SearchExplainer.open(col.name, path=":memory:")
    assert "qe_evil_lib" not in sys.modules


def test_recorded_checkpoint_path_is_refused(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"not read")
    col = create_collection(unique("ckpt"), vector_size=4, path=":memory:", encoder=f"clip:ViT-B-32@{ckpt}")
    with pytest.raises(UntrustedEncoderError, match="not marked trusted"):
        open_collection(col.name, path=":memory:").load_encoder()


def test_corrupt_metadata_is_reported_when_the_encoder_is_needed():
    from qdrant_explain.connectors.client import connect

    name = unique("corrupt")
    client, _ = connect(OpenRequest(name=name, path=":memory:"))
    from qdrant_client import models

    client.create_collection(name, vectors_config=models.VectorParams(size=4, distance="Cosine"),
                             metadata={"qdrant_explain": {"encoder": 42}})
    col = open_collection(name, path=":memory:")
    assert col.info.encoder is None and "corrupt" in col.info.metadata_problem
    with pytest.raises(EncoderMismatchError, match="corrupt.*--encoder SPEC"):
        col.load_encoder()


def test_third_party_encoder_family_by_prefix(monkeypatch):
    monkeypatch.setattr(encoders_mod, "_REGISTRY", dict(encoders_mod._REGISTRY))
    made = []

    def factory(spec, **options):
        made.append((spec, options))
        return encoders_mod.CallableEncoder(lambda x: x.reshape(len(x), -1)[:, :3].astype(float),
                                            input_size=(8, 8), name=spec)

    register_encoder_family("acme:", factory, forms=("acme:MODEL",))
    enc = load_encoder("acme:tiny", batch_size=2)
    assert enc.name == "acme:tiny" and made == [("acme:tiny", {"batch_size": 2})]
    assert "acme:MODEL" in list_encoders()
    assert any(f.prefix == "acme:" and not f.exact for f in list_encoder_families())
    assert not is_trusted_spec("acme:tiny")  # the default: not trusted
    register_encoder_family("acme:", factory, trusted=lambda s: s == "acme:tiny", overwrite=True)
    assert is_trusted_spec("acme:tiny") and not is_trusted_spec("acme:other")
    with pytest.raises(ValueError, match="already registered"):
        register_encoder_family("acme:", lambda spec, **o: None)
    # a longer prefix wins over the generic module:function family
    register_encoder_family("acme:special:", lambda spec, **o: ("special", spec))
    assert load_encoder("acme:special:x") == ("special", "acme:special:x")


def test_built_in_families_are_listed_with_their_trust():
    fams = {f.prefix: f for f in list_encoder_families()}
    assert fams["efficientnet-"].is_trusted("efficientnet-lite0")
    assert fams["clip:"].is_trusted("clip:RN50@openai") and not fams["clip:"].is_trusted("clip:RN50@/x.pt")
    assert not fams["module:"].is_trusted("a:b")
    with pytest.raises(encoders_mod.EncoderSpecError, match="efficientnet-lite0"):
        load_encoder("efficientnet-b7")


# ----------------------------------------------------------------------------- backends


class NumpyCollection(CollectionBase):
    """A third-party backend: points in numpy arrays (cosine), written outside the package's backends."""

    STORE: dict = {}

    def __init__(self, request: OpenRequest, *, size: int) -> None:
        self.read_only = request.read_only
        self.points = self.STORE.setdefault(request.name, {})
        self.info = CollectionInfo(name=request.name, backend="numpy-test", location="numpy", vector_size=size,
                                   distance="cosine", vector_name=None, vector_names=("",), encoder="efficientnet-lite0")
        self._setup_resolver(request)

    def count(self):
        return len(self.points)

    def _search(self, vector, *, limit, query_filter, with_vectors, with_payload, score_threshold):
        q = np.asarray(vector) / np.linalg.norm(vector)
        scored = sorted(((float(q @ (v / np.linalg.norm(v))), i) for i, (v, _) in self.points.items()), reverse=True)
        return [Hit(i, s, dict(self.points[i][1]), self.points[i][0]) for s, i in scored[:limit]]

    def retrieve(self, ids, *, with_vectors=True, with_payload=True):
        asked = [normalize_id(i) for i in ids]
        self._missing(asked, self.points)
        return [Hit(i, float("nan"), dict(self.points[i][1]), self.points[i][0]) for i in asked]

    def existing_ids(self, ids):
        return {normalize_id(i) for i in ids} & set(self.points)

    def upsert(self, ids, vectors, payloads):
        self._check_writable("upsert")
        for i, v, p in zip(ids, vectors, payloads):
            self.points[normalize_id(i)] = (np.asarray(v, float), p)

    def close(self):
        pass


def test_a_third_party_backend_works_through_open_collection(tmp_path, monkeypatch):
    monkeypatch.setattr(qdrant_mod, "_BACKENDS", dict(qdrant_mod._BACKENDS))
    register_backend("numpy-test", lambda r: NumpyCollection(r, size=3),
                     creator=lambda r, spec: NumpyCollection(r, size=spec.vector_size), description="test")
    assert "numpy-test" in list_backends()
    name = unique("np")
    col = create_collection(name, vector_size=3, backend="numpy-test", image_root=str(tmp_path))
    Image.new("RGB", (4, 4), (9, 9, 9)).save(tmp_path / "a.png")
    col.upsert([1, 2], np.array([[1.0, 0, 0], [0, 1.0, 0]]), [{"path": "a.png"}, {"path": "../x.png"}])
    ro = open_collection(name, backend="numpy-test")
    assert ro.read_only and ro.info.image_root == str(tmp_path.resolve())  # recorded by create_collection
    hits = ro.search([1.0, 0.1, 0])
    assert [h.id for h in hits] == [1, 2] and ro.resolve_image(hits[0]).size == (4, 4)
    with pytest.raises(ImageResolveError, match="outside the image root"):
        ro.resolve_image(hits[1])
    with pytest.raises(ValueError, match="register_backend"):
        open_collection(name, backend="nope")


def test_backends_are_registered_and_share_no_private_base():
    from qdrant_explain.connectors.client import ClientCollection
    from qdrant_explain.connectors.edge import EdgeCollection

    assert {"client", "edge"} <= set(list_backends())
    assert issubclass(ClientCollection, CollectionBase) and issubclass(EdgeCollection, CollectionBase)
    assert not hasattr(qdrant_mod, "_CollectionBase")


# ----------------------------------------------------------------------------- image roots


def test_image_root_records_live_on_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("QDRANT_EXPLAIN_HOME", str(tmp_path / "home"))
    assert recorded_image_root("client", "/db", "c") is None
    assert record_image_root("client", "/db", "c", tmp_path) == str(tmp_path.resolve())
    assert recorded_image_root("client", "/db", "c") == str(tmp_path.resolve())
    assert recorded_image_root("client", "/other", "c") is None and recorded_image_root("edge", "/db", "c") is None
    record_image_root("client", ":memory:", "m", tmp_path)
    assert not (tmp_path / "home" / "image_roots.json").read_text().count(":memory:")


def test_metadata_root_is_a_hint_only(tmp_path, monkeypatch):
    monkeypatch.setenv("QDRANT_EXPLAIN_HOME", str(tmp_path / "home"))
    db = tmp_path / "db"
    col = create_collection(unique("hint"), vector_size=2, path=str(db))
    col.client.update_collection(col.name, metadata={"qdrant_explain": {"image_root": "/"}})
    col.upsert([1], np.ones((1, 2)), [{"path": "/etc/hostname"}])
    ro = open_collection(col.name, path=str(db))
    assert ro.info.image_root is None and ro.info.metadata_root == "/"
    with pytest.raises(ImageResolveError, match="metadata says '/'"):
        ro.resolve_image(ro.retrieve([1])[0])


def test_create_refuses_to_mix_two_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("QDRANT_EXPLAIN_HOME", str(tmp_path / "home"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    db = str(tmp_path / "db")
    col = create_collection("mix", vector_size=2, path=db, image_root=str(tmp_path / "a"))
    col.upsert([1], np.ones((1, 2)), [{"path": "x.png"}])
    with pytest.raises(ValueError, match="mix payload paths"):
        create_collection("mix", vector_size=2, path=db, image_root=str(tmp_path / "b"))


# ----------------------------------------------------------------------------- transport, storage, messages


def test_api_key_over_http_to_another_machine_is_refused():
    with pytest.raises(InsecureConnectionError, match="insecure=True"):
        open_collection("c", url="http://192.0.2.1:6333", api_key="k")
    check_transport("https://192.0.2.1:6333", "k", insecure=False)  # fine
    check_transport("192.0.2.1:6333", "k", insecure=False)  # qdrant-client uses https with a key
    check_transport("http://192.0.2.1:6333", None, insecure=False)  # no key, nothing to leak


@pytest.mark.parametrize("url,insecure", [("http://localhost:6333", False), ("http://127.0.0.2:6333", False),
                                          ("http://[::1]:6333", False), ("http://192.0.2.1:6333", True)])
def test_our_warning_replaces_qdrant_clients(url, insecure):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        connect(OpenRequest(name="c", url=url, api_key="k", insecure=insecure))
    kinds = [(w.category, str(w.message)) for w in got]
    assert any(c is InsecureConnectionWarning for c, _ in kinds), kinds
    assert not any("Api key is used with an insecure connection" in m for _, m in kinds), kinds


def test_a_folder_that_is_not_a_database_is_refused_untouched(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (4, 4)).save(photos / "cat.png")
    for call in (lambda: open_collection("c", path=str(photos)),
                 lambda: create_collection("c", vector_size=2, path=str(photos))):
        with pytest.raises(NotADatabaseError, match="not an embedded Qdrant database"):
            call()
        assert sorted(p.name for p in photos.iterdir()) == ["cat.png"]


def test_an_edge_shard_is_not_created_inside_a_photo_folder(tmp_path):
    pytest.importorskip("qdrant_edge")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (4, 4)).save(photos / "cat.png")
    with pytest.raises(NotADatabaseError, match="not a folder of Qdrant Edge shards"):
        create_collection("c", vector_size=2, path=str(photos), backend="edge")
    assert sorted(p.name for p in photos.iterdir()) == ["cat.png"]


def test_corrupt_meta_json_is_named(tmp_path):
    db = tmp_path / "db"
    db.mkdir()
    (db / "meta.json").write_text("[1, 2]")
    with pytest.raises(CorruptStorageError, match="meta.json is not Qdrant's"):
        open_collection("c", path=str(db))


def test_empty_collection_search_is_named():
    col = create_collection(unique("empty"), vector_size=2, path=":memory:")
    with pytest.raises(EmptyCollectionError, match="is empty"):
        col.search([1.0, 0.0])
    assert col.search([1.0, 0.0], query_filter={"must": [{"has_id": [1]}]}) == []  # a filter may match nothing


@pytest.mark.parametrize("raw", ["6F1C1D2E8A575B0E9A432F7E4A6B9C10", "6F1C1D2E-8A57-5B0E-9A43-2F7E4A6B9C10",
                                 "{6f1c1d2e-8a57-5b0e-9a43-2f7e4a6b9c10}", "urn:uuid:6f1c1d2e-8a57-5b0e-9a43-2f7e4a6b9c10",
                                 " 6f1c1d2e8a575b0e9a432f7e4a6b9c10 "])
def test_uuid_forms_are_normalised(raw):
    assert normalize_id(raw) == "6f1c1d2e-8a57-5b0e-9a43-2f7e4a6b9c10"


def test_bad_ids_say_which_forms_work():
    for bad in ("-1", "١٢٣", "abc", -3, True):
        with pytest.raises(ValueError, match="without dashes or in upper case"):
            normalize_id(bad)


def test_edge_sidecar_corruption_is_reported(tmp_path):
    pytest.importorskip("qdrant_edge")
    from qdrant_explain.connectors.edge import SIDECAR_NAME, close_shards

    col = create_collection("e", vector_size=2, path=str(tmp_path), backend="edge", encoder="efficientnet-lite0")
    (tmp_path / "e" / SIDECAR_NAME).write_text("{broken")
    try:
        ro = open_collection("e", path=str(tmp_path), backend="edge")
        assert ro.info.encoder is None and "corrupt" in ro.info.metadata_problem
        with pytest.raises(EncoderMismatchError, match="corrupt"):
            ro.load_encoder()
    finally:
        col.close()
        close_shards()


def test_a_third_party_backend_works_through_search_explainer_and_the_cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from qdrant_explain import SearchExplainer
    from qdrant_explain._testing import SPEC, TinyEncoder
    from qdrant_explain.cli import main

    monkeypatch.setattr(qdrant_mod, "_BACKENDS", dict(qdrant_mod._BACKENDS))

    class TinyNumpy(NumpyCollection):
        def __init__(self, request, *, size):
            super().__init__(request, size=size)
            import dataclasses

            self.info = dataclasses.replace(self.info, encoder=SPEC)

    register_backend("numpy-tiny", lambda r: TinyNumpy(r, size=128),
                     creator=lambda r, spec: TinyNumpy(r, size=spec.vector_size))
    enc = TinyEncoder()
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    for i, img in enumerate(images):
        Image.fromarray(img).save(tmp_path / f"p{i}.png")
    name = unique("tiny")
    col = create_collection(name, vector_size=128, backend="numpy-tiny", image_root=str(tmp_path))
    col.upsert([1, 2, 3], enc.encode(np.stack([enc.prepare(im).pixels for im in images])),
               [{"path": f"p{i}.png"} for i in range(3)])
    ex = SearchExplainer.open(name, backend="numpy-tiny")  # the recorded (trusted) test encoder
    assert [h.id for h in ex.search(tmp_path / "p1.png", limit=2).hits][0] == 2
    out = CliRunner().invoke(main, ["explain", str(tmp_path / "p1.png"), "--point-id", "2", "--collection", name,
                                    "--backend", "numpy-tiny", "--players", "grid:2x2", "--quiet"])
    assert out.exit_code == 0, out.output
    assert "full value" in out.stdout
