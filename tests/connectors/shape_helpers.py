"""Collections of random vectors for the query-shape tests: a dense named vector ``img`` and a MaxSim
multivector ``tok``, on the embedded qdrant-client and on Qdrant Edge."""

from __future__ import annotations

import os
import uuid

import numpy as np

D, N, T = 8, 30, 3
DISTANCES = ("cosine", "dot", "euclid", "manhattan")


def random_points(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) dense vectors and (N, T, D) multivectors."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, D)).astype(np.float32), rng.normal(size=(N, T, D)).astype(np.float32)


def make_collection(backend: str, distance: str, where, *, quantized: bool = False, seed: int = 0,
                    client=None, vector_name: str = "img"):
    """Create the collection on ``backend`` ("client": a fresh embedded client unless ``client``; "edge": a shard
    under ``where``) and open it with qdrant-explain on ``vector_name``."""
    from qdrant_explain.connectors import open_collection

    dense, multi = random_points(seed)
    name = f"shapes_{distance}_{uuid.uuid4().hex[:8]}"
    if backend == "client":
        from qdrant_client import QdrantClient, models

        cl = client or QdrantClient(":memory:")
        dist = getattr(models.Distance, distance.upper())
        quant = (models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8))
                 if quantized else None)
        cl.create_collection(name, vectors_config={
            "img": models.VectorParams(size=D, distance=dist, quantization_config=quant),
            "tok": models.VectorParams(size=D, distance=dist, multivector_config=models.MultiVectorConfig(
                comparator=models.MultiVectorComparator.MAX_SIM))})
        cl.upsert(name, points=[models.PointStruct(id=i, vector={"img": dense[i].tolist(), "tok": multi[i].tolist()},
                                                   payload={"i": i}) for i in range(N)], wait=True)
        return open_collection(name, client=cl, vector_name=vector_name), cl
    import qdrant_edge as E

    dist = getattr(E.Distance, distance.capitalize())
    quant = E.ScalarQuantizationConfig(type=E.ScalarType.Int8) if quantized else None
    config = E.EdgeConfig(vectors={
        "img": E.EdgeVectorParams(size=D, distance=dist, quantization_config=quant),
        "tok": E.EdgeVectorParams(size=D, distance=dist, multivector_config=E.MultiVectorConfig(
            comparator=E.MultiVectorComparator.MaxSim))})
    folder = os.path.join(str(where), name)
    shard = E.EdgeShard.create(folder, config)
    shard.update(E.UpdateOperation.upsert_points(
        [E.Point(i, {"img": dense[i].tolist(), "tok": multi[i].tolist()}, {"i": i}) for i in range(N)]))
    shard.flush()
    shard.close()
    return open_collection(name, backend="edge", path=str(where), vector_name=vector_name), None
