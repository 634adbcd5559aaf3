"""Qdrant collections on three backends: index -> search -> stored vectors -> score parity, and the faults."""

from __future__ import annotations

import base64
import http.server
import shutil
import socket
import threading
import time
import uuid

import numpy as np
import pytest
from PIL import Image
from qdrant_client import QdrantClient, models

from qdrant_explain.connectors import (
    CallableEncoder,
    Collection,
    CollectionNotFoundError,
    DimensionMismatchError,
    EncoderMismatchError,
    ImageLoadError,
    ImageResolveError,
    PointNotFoundError,
    QdrantAuthError,
    QdrantConnectionError,
    ReadOnlyError,
    check_score_parity,
    check_stored_vector,
    create_collection,
    index_folder,
    open_collection,
    point_id_for_bytes,
)
from qdrant_explain.connectors.parity import compare_vectors, qdrant_score

BACKENDS = ("memory", "path", "edge")
DISTANCES = ("cosine", "dot", "euclid", "manhattan")


def where(backend: str, tmp_path) -> dict:
    """open_collection/index_folder keywords for a backend."""
    return {"memory": {"path": ":memory:"}, "path": {"path": str(tmp_path / "db")},
            "edge": {"path": str(tmp_path / "edge"), "backend": "edge"}}[backend]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def query_image(photo) -> np.ndarray:
    """A query that is none of the indexed images: chelsea, mirrored and darkened."""
    return (photo("chelsea")[:, ::-1] * 0.8).astype(np.uint8)


@pytest.fixture(autouse=True)
def _close_edge_shards():
    yield
    from qdrant_explain.connectors.edge import close_shards

    close_shards()


# ----------------------------------------------------------------------------- index -> search -> parity


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_index_search_vectors_parity(backend, distance, effnet, photo_dir, photo, tmp_path):
    loc = where(backend, tmp_path)
    name = unique(distance)
    report = index_folder(photo_dir, name, encoder=effnet, distance=distance, batch_size=2, progress=False, **loc)
    assert (report.added, report.skipped, report.total, report.failed) == (5, 0, 5, ())

    col = open_collection(name, **loc)
    assert isinstance(col, Collection) and col.read_only and col.info.distance == distance and col.info.vector_size == 1280
    assert col.info.encoder == "efficientnet-lite0" and col.count() == 5
    qv, hits = col.search_image(effnet, query_image(photo), limit=5)
    assert len(hits) == 5 and hits[0].payload["path"] == "chelsea.png"
    paths = {h.payload["path"] for h in hits}
    assert paths == {"coffee.png", "chelsea.png", "astronaut.png", "rocket.png", "sub/camera.png"}
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=distance in ("cosine", "dot"))

    for hit in hits:
        parity = check_score_parity(hit, qv, distance)
        assert parity.ok and parity.rel_error <= 1e-4, (hit.payload, parity)
        stored = col.retrieve([hit.id])[0]
        np.testing.assert_array_equal(stored.vector, hit.vector)
        assert stored.payload == hit.payload
        assert set(stored.payload) == {"path", "width", "height", "sha256"}
        if distance == "cosine":
            assert abs(np.linalg.norm(hit.vector) - 1) < 1e-5  # Qdrant normalised it at insert
        agreement = check_stored_vector(col, hit, effnet)
        assert agreement.agrees and agreement.rel_diff < 1e-5 and agreement.cosine > 0.99999

    again = index_folder(photo_dir, name, encoder=effnet, distance=distance, progress=False, **loc)
    assert (again.added, again.skipped) == (0, 5)


def test_scores_agree_across_backends(effnet, photo_dir, photo, tmp_path):
    """The same calls on memory, path and Edge give the same ids, order and scores (congruence)."""
    results = []
    for backend in BACKENDS:
        loc = where(backend, tmp_path)
        name = unique("same")
        index_folder(photo_dir, name, encoder=effnet, distance="dot", progress=False, **loc)
        _, hits = open_collection(name, **loc).search_image(effnet, query_image(photo), limit=5)
        results.append(hits)
    for other in results[1:]:
        assert [h.id for h in other] == [h.id for h in results[0]]
        np.testing.assert_allclose([h.score for h in other], [h.score for h in results[0]], rtol=1e-5)


def test_point_ids_are_content_hashes(effnet, photo_dir, tmp_path):
    name = unique("ids")
    index_folder(photo_dir, name, encoder=effnet, progress=False, path=":memory:")
    col = open_collection(name, path=":memory:")
    pid = point_id_for_bytes((photo_dir / "coffee.png").read_bytes())
    hit = col.retrieve([pid])[0]
    assert hit.payload["path"] == "coffee.png" and hit.payload["width"] == 128


def test_interrupted_run_resumes_and_duplicates_are_stored_once(effnet, photo_dir, tmp_path):
    folder = tmp_path / "imgs"
    shutil.copytree(photo_dir, folder)
    shutil.copy(folder / "coffee.png", folder / "coffee_copy.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")

    class Flaky:
        name, input_size, dim = effnet.name, effnet.input_size, effnet.dim
        calls = 0

        def prepare(self, image):
            return effnet.prepare(image)

        def encode(self, pixels):
            Flaky.calls += 1
            if Flaky.calls == 2:
                raise KeyboardInterrupt  # the user pressed Ctrl-C during the second batch
            return effnet.encode(pixels)

    loc = where("path", tmp_path)
    with pytest.raises(KeyboardInterrupt):
        index_folder(folder, "resume", encoder=Flaky(), batch_size=2, progress=False, **loc)
    col = open_collection("resume", **loc)
    assert col.count() == 2  # batches hold decodable images: batch 1 = astronaut + coffee (broken failed alone)
    report = index_folder(folder, "resume", encoder=effnet, batch_size=2, progress=False, **loc)
    assert report.total == 7 and report.added == 3 and report.skipped == 3  # 2 done before + 1 duplicate
    assert [f for f, _ in report.failed] == ["broken.png"] and "broken.png" in report.failed[0][1]
    assert col.count() == 5


def test_filters_are_passed_through(effnet, photo_dir, photo, tmp_path):
    flt = models.Filter(must=[models.FieldCondition(key="path", match=models.MatchAny(any=["coffee.png", "rocket.png"]))],
                        must_not=[models.FieldCondition(key="path", match=models.MatchValue(value="rocket.png"))])
    for backend in BACKENDS:
        loc = where(backend, tmp_path)
        name = unique("flt")
        index_folder(photo_dir, name, encoder=effnet, progress=False, **loc)
        _, hits = open_collection(name, **loc).search_image(effnet, query_image(photo), limit=5, query_filter=flt)
        assert [h.payload["path"] for h in hits] == ["coffee.png"], backend
        ranged = models.Filter(must=[models.FieldCondition(key="width", range=models.Range(gte=200))])
        _, none = open_collection(name, **loc).search_image(effnet, query_image(photo), query_filter=ranged)
        assert none == [], backend


# ----------------------------------------------------------------------------- explaining never writes


@pytest.mark.parametrize("backend", BACKENDS)
def test_reading_leaves_the_collection_unchanged(backend, effnet, photo_dir, photo, tmp_path):
    loc = where(backend, tmp_path)
    name = unique("ro")
    index_folder(photo_dir, name, encoder=effnet, progress=False, **loc)
    col = open_collection(name, **loc)
    ids = [h.id for h in col.search(np.ones(1280), limit=10)]
    before = {h.id: (h.vector.copy(), dict(h.payload)) for h in col.retrieve(ids)}

    qv, hits = col.search_image(effnet, query_image(photo), limit=3)
    col.retrieve([h.id for h in hits])
    for h in hits:
        col.resolve_image(h)
        check_stored_vector(col, h, effnet)
    with pytest.raises(ReadOnlyError, match="read-only"):
        col.upsert([hits[0].id], np.zeros((1, 1280)), [{}])
    with pytest.raises(ReadOnlyError):
        col.record_metadata(encoder="other")

    assert col.count() == 5
    after = {h.id: h for h in col.retrieve(ids)}
    for pid, (vec, payload) in before.items():
        np.testing.assert_array_equal(after[pid].vector, vec)
        assert after[pid].payload == payload
    assert open_collection(name, **loc).info.encoder == "efficientnet-lite0"


# ----------------------------------------------------------------------------- resolving a hit's image


@pytest.fixture()
def resolver_setup(tmp_path):
    """A client collection whose payloads point in all the ways a payload can."""
    root = tmp_path / "root"
    root.mkdir()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(root / "ok.png")
    Image.new("RGB", (5, 5), (9, 9, 9)).save(tmp_path / "secret.png")
    (root / "link_out.png").symlink_to(tmp_path / "secret.png")
    (root / "link_in.png").symlink_to(root / "ok.png")
    (root / "bad.png").write_bytes(b"not an image at all")
    b64 = base64.b64encode((root / "ok.png").read_bytes()).decode()
    payloads = [
        {"path": "ok.png"}, {"path": "../secret.png"}, {"path": str(tmp_path / "secret.png")},
        {"path": "link_out.png"}, {"path": "link_in.png"}, {"label": "no image here"},
        {"image_base64": b64}, {"url": "http://127.0.0.1:9/x.png"}, {"path": "bad.png"}, {"path": "missing.png"},
    ]
    client = QdrantClient(":memory:")
    col = create_collection("res", vector_size=2, distance="dot", client=client, image_root=str(root))
    col.upsert(list(range(len(payloads))), np.ones((len(payloads), 2)), payloads)
    return client, root


def test_resolve_paths_base64_and_symlinks_inside_the_root(resolver_setup):
    client, root = resolver_setup
    col = open_collection("res", client=client)
    assert col.info.image_root == str(root)
    hits = col.retrieve([0, 4, 6])
    for hit in hits:
        assert col.resolve_image(hit).size == (8, 6)


@pytest.mark.parametrize("pid,why", [(1, "'..'"), (2, "absolute"), (3, "symlink")])
def test_paths_outside_the_root_are_refused(resolver_setup, pid, why):
    client, _ = resolver_setup
    col = open_collection("res", client=client)
    with pytest.raises(ImageResolveError, match="outside the image root"):
        col.resolve_image(col.retrieve([pid])[0])


def test_hit_without_an_image_in_its_payload(resolver_setup):
    client, _ = resolver_setup
    col = open_collection("res", client=client)
    with pytest.raises(ImageResolveError, match=r"point 5 has no image in its payload \(keys: \['label'\]\)"):
        col.resolve_image(col.retrieve([5])[0])


def test_corrupt_or_missing_payload_image(resolver_setup):
    client, _ = resolver_setup
    col = open_collection("res", client=client)
    with pytest.raises(ImageLoadError, match="bad.png"):
        col.resolve_image(col.retrieve([8])[0])
    with pytest.raises(ImageLoadError, match="not found"):
        col.resolve_image(col.retrieve([9])[0])


def test_urls_only_when_enabled(resolver_setup, tmp_path):
    client, root = resolver_setup
    col = open_collection("res", client=client)
    with pytest.raises(ImageResolveError, match="allow_urls=True"):
        col.resolve_image(col.retrieve([7])[0])
    png = (root / "ok.png").read_bytes()
    with _http_server(200, png, "image/png") as port:
        col = open_collection("res", client=client, allow_urls=True)
        img = col.resolve_image({"url": f"http://127.0.0.1:{port}/ok.png"})
        assert img.size == (8, 6)


def test_user_resolver_runs_first(resolver_setup):
    client, _ = resolver_setup
    col = open_collection("res", client=client, resolver=lambda p: Image.new("RGB", (3, 3)) if "label" in p else None)
    assert col.resolve_image(col.retrieve([5])[0]).size == (3, 3)
    assert col.resolve_image(col.retrieve([0])[0]).size == (8, 6)  # None falls through to the payload keys


def test_paths_without_a_root_are_refused(tmp_path):
    client = QdrantClient(":memory:")
    col = create_collection("noroot", vector_size=2, client=client)
    col.upsert([1], np.ones((1, 2)), [{"path": "a.png"}])
    with pytest.raises(ImageResolveError, match="no image root is configured"):
        col.resolve_image(col.retrieve([1])[0])


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_collection(backend, tmp_path):
    loc = where(backend, tmp_path)
    create_collection("exists", vector_size=3, **loc)
    with pytest.raises(CollectionNotFoundError, match="'nope' not found.*exists"):
        open_collection("nope", **loc)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_point_id(backend, tmp_path):
    loc = where(backend, tmp_path)
    name = unique("pts")
    col = create_collection(name, vector_size=3, **loc)
    col.upsert([1, 2], np.eye(2, 3), [{}, {}])
    col = open_collection(name, **loc)
    assert [h.id for h in col.retrieve(["2", 1])] == [2, 1]
    missing = str(uuid.uuid4())
    with pytest.raises(PointNotFoundError, match=f"no point with id 7, '{missing}'"):
        col.retrieve([1, 7, missing])
    with pytest.raises(ValueError, match="unsigned integers or UUIDs"):
        col.retrieve(["not-an-id"])


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_server_fails_fast():
    start = time.monotonic()
    with pytest.raises(QdrantConnectionError, match=r"Cannot reach Qdrant at http://127.0.0.1:\d+"):
        open_collection("photos", url=f"http://127.0.0.1:{_closed_port()}", timeout=2)
    assert time.monotonic() - start < 10


class _http_server:
    """A tiny HTTP server on 127.0.0.1 that answers every request with one fixed response."""

    def __init__(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        outer = self
        self.requests: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                outer.requests.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.server.server_address[1]

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [401, 403])
def test_wrong_api_key(status):
    """Qdrant answers 401 (missing/invalid key) or 403 (key without rights); simulated locally."""
    body = b'{"status":{"error":"Invalid api-key"},"time":0.0}'
    server = _http_server(status, body)
    with server as port:
        with pytest.raises(QdrantAuthError, match=f"HTTP {status}.*API key"):
            open_collection("photos", url=f"http://127.0.0.1:{port}", api_key="wrong-key", timeout=2)
    assert server.requests and server.requests[0].get("api-key") == "wrong-key"


def test_dimension_mismatch_names_both(effnet, photo_dir, photo, tmp_path):
    name = unique("dim")
    index_folder(photo_dir, name, encoder=effnet, progress=False, path=":memory:")
    col = open_collection(name, path=":memory:")
    small = CallableEncoder(lambda x: x.reshape(len(x), -1)[:, :3].astype(float), input_size=(16, 16), name="rgb3")
    with pytest.raises(DimensionMismatchError, match=rf"'rgb3' produces 3-d vectors but collection '{name}' holds 1280-d"):
        col.search_image(small, photo("coffee"))
    with pytest.raises(DimensionMismatchError, match="holds 1280-d vectors but 3-d vectors"):
        index_folder(photo_dir, name, encoder=small, progress=False, path=":memory:")
    with pytest.raises(DimensionMismatchError, match="3 dimensions"):
        col.search(np.ones(3))


def test_encoder_recorded_and_mismatch_refused(effnet, photo_dir, photo, tmp_path):
    for backend in ("path", "edge"):
        loc = where(backend, tmp_path)
        name = unique("enc")
        index_folder(photo_dir, name, encoder=effnet, progress=False, **loc)
        col = open_collection(name, **loc)
        assert col.info.encoder == "efficientnet-lite0" and col.info.image_root == str(photo_dir.resolve())
        assert col.load_encoder(device="cpu", threads=1).name == "efficientnet-lite0"
        other = CallableEncoder(lambda x: np.ones((len(x), 1280)), name="clip:other@none")
        with pytest.raises(EncoderMismatchError, match="built with encoder 'efficientnet-lite0' but encoder 'clip:other@none'"):
            col.search_image(other, photo("coffee"))
        with pytest.raises(EncoderMismatchError, match="refusing to add vectors"):
            index_folder(photo_dir, name, encoder=other, progress=False, **loc)


def test_named_vectors(tmp_path):
    client = QdrantClient(":memory:")
    client.create_collection("multi", vectors_config={
        "img": models.VectorParams(size=3, distance=models.Distance.DOT),
        "txt": models.VectorParams(size=2, distance=models.Distance.COSINE)})
    client.upsert("multi", [models.PointStruct(id=1, vector={"img": [1.0, 2.0, 3.0], "txt": [1.0, 0.0]}, payload={})])
    with pytest.raises(ValueError, match=r"several named vectors \['img', 'txt'\].*vector_name"):
        open_collection("multi", client=client)
    with pytest.raises(ValueError, match="no vector named 'nope'"):
        open_collection("multi", client=client, vector_name="nope")
    col = open_collection("multi", client=client, vector_name="img")
    assert (col.info.vector_size, col.info.distance, col.info.vector_names) == (3, "dot", ("img", "txt"))
    hit = col.search([1.0, 1.0, 1.0], limit=1)[0]
    np.testing.assert_array_equal(hit.vector, [1.0, 2.0, 3.0])
    assert check_score_parity(hit, [1.0, 1.0, 1.0], "dot").ok and hit.score == pytest.approx(6.0)


def test_named_vector_on_edge(tmp_path):
    col = create_collection("nv", vector_size=2, distance="euclid", vector_name="img", backend="edge", path=str(tmp_path))
    col.upsert([3], np.array([[3.0, 4.0]]), [{"a": 1}])
    col = open_collection("nv", backend="edge", path=str(tmp_path), vector_name="img")
    hit = col.search([0.0, 0.0], limit=1)[0]
    assert hit.score == pytest.approx(5.0) and check_score_parity(hit, [0, 0], "euclid").ok


def test_parity_helpers():
    q, s = np.array([1.0, 2.0, 2.0]), np.array([2.0, 0.0, 1.0])
    assert qdrant_score(q, s, "cosine") == pytest.approx(4 / (3 * np.sqrt(5)))
    assert qdrant_score(q, s, "euclid") == pytest.approx(np.sqrt(1 + 4 + 1))
    assert qdrant_score(q, s, "manhattan") == pytest.approx(4.0)
    far = compare_vectors(s, s + 0.5, "dot")
    assert not far.agrees and "differs from a fresh encode" in far.message and far.rel_diff > 0.1
    assert compare_vectors(s / np.linalg.norm(s), 7 * s, "cosine").agrees  # cosine: scale does not matter
    assert compare_vectors(7 * s, s, "cosine").agrees  # also when the stored vector is the raw, longer one
    assert not compare_vectors(7 * s, s, "dot").agrees  # dot and the distances do see the length


def test_conflicting_locations_and_bad_backend(tmp_path):
    with pytest.raises(ValueError, match="only one of path=, url= or client="):
        open_collection("x", path=str(tmp_path), url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="backend must be 'client'"):
        open_collection("x", backend="faiss")
    with pytest.raises(ValueError, match="needs path="):
        open_collection("x", backend="edge")
