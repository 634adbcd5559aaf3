"""Must-show 4 of issue 14: explaining a recommend or fusion hit down to regions costs <= 1.2x the encoder
passes of a plain nearest-neighbour explanation of the same hit.

Indexes 8 skimage photos with the packaged EfficientNet-Lite0 into an embedded Qdrant (in memory), then for
one hit explains (a) recommend x 3 strategies down to the driving example's regions, (b) RRF and DBSF fusion
of two prefetches down to the query's regions, and (c) the plain nearest explanation of the same image
against the same hit, all with the same players, method and budget. Prints encoder passes and seconds.

    OMP_NUM_THREADS=1 python benchmarks/shapes.py [--players grid:4x4] [--budget 256]

Then (d) the joint (order 2) correspondence of the recommend (best_score) hit with its driving example against
the plain nearest joint explanation of the same two images (``--joint-players``, ``--joint-budget``), and
(e) the region game on a MaxSim collection (``clip-tokens:ViT-B-32@none``: 49 patch tokens of 512 dims, random
weights: a cost measurement) against the dense ``clip:ViT-B-32@none`` collection of the same photos.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def photos(folder):
    import skimage.data as data
    from PIL import Image

    names = ("coffee", "chelsea", "astronaut", "rocket", "camera", "cat", "hubble_deep_field", "immunohistochemistry")
    for n in names:
        arr = getattr(data, n)()
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        img = Image.fromarray(np.ascontiguousarray(arr[:, :, :3]).astype(np.uint8))
        img.thumbnail((224, 224))
        img.save(f"{folder}/{n}.png")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--players", default="grid:4x4")
    ap.add_argument("--budget", type=int, default=256)
    ap.add_argument("--method", default="kernel-shap")
    ap.add_argument("--joint-players", default="grid:3x3")
    ap.add_argument("--joint-budget", type=int, default=256)
    args = ap.parse_args()
    from qdrant_explain.connectors import index_folder, load_encoder, open_collection
    from qdrant_explain.connectors import shapes as S
    from qdrant_explain.shapes import explain_shape

    folder = tempfile.mkdtemp()
    photos(folder)
    enc = load_encoder("efficientnet-lite0", device="cpu", dtype="fp32", threads=1)
    db = tempfile.mkdtemp() + "/db"
    index_folder(folder, "bench", encoder=enc, path=db, progress=False)
    col = open_collection("bench", path=db, image_root=folder)
    ids = sorted((pid for pid, _ in col.scroll_payloads()), key=str)
    kw = dict(encoder=enc, players=args.players, budget=args.budget, method=args.method, seed=0)
    rows = []
    for strategy in ("average_vector", "best_score", "sum_scores"):
        shape = S.Recommend(positive=(ids[0], ids[1]), negative=(ids[2],), strategy=strategy)
        t = time.perf_counter()
        why = explain_shape(col, shape, **kw)
        sec = time.perf_counter() - t
        example = col.retrieve([(shape.positive + shape.negative)[why.driver]])[0]
        t = time.perf_counter()
        near = explain_shape(col, S.Nearest(example.vector), hit=why.hit.id, query_image=col.resolve_image(example), **kw)
        rows.append((f"recommend {strategy}", why.encoder_passes, sec, near.encoder_passes, time.perf_counter() - t,
                     abs(why.total - why.score)))
    query = col.retrieve([ids[4]])[0]
    img = col.resolve_image(query)
    qv = col.encode_image(enc, img)
    other = col.retrieve([ids[5]])[0].vector
    for method in ("rrf", "dbsf"):
        shape = S.Fusion(prefetches=(S.Nearest(qv, limit=6), S.Nearest(other, limit=6)), method=method)
        t = time.perf_counter()
        why = explain_shape(col, shape, hit=ids[6], query_image=img, limit=8, **kw)
        sec = time.perf_counter() - t
        t = time.perf_counter()
        near = explain_shape(col, S.Nearest(qv), hit=ids[6], query_image=img, **kw)
        rows.append((f"fusion {method}", why.encoder_passes, sec, near.encoder_passes, time.perf_counter() - t,
                     abs(why.total - why.score)))
    shape = S.Recommend(positive=(ids[0], ids[1]), negative=(ids[2],), strategy="best_score")
    jkw = dict(encoder=enc, players=args.joint_players, budget=args.joint_budget, method="auto", seed=0, order=2)
    t = time.perf_counter()
    why = explain_shape(col, shape, **jkw)
    sec = time.perf_counter() - t
    example = col.retrieve([(shape.positive + shape.negative)[why.driver]])[0]
    t = time.perf_counter()
    near = explain_shape(col, S.Nearest(example.vector), hit=why.hit.id, query_image=col.resolve_image(example), **jkw)
    rows.append(("recommend best_score joint", why.encoder_passes, sec, near.encoder_passes, time.perf_counter() - t,
                 abs(why.regions[0].full_value - why.exact_score)))
    for spec in ("clip:ViT-B-32@none", "clip-tokens:ViT-B-32@none"):
        import torch

        torch.manual_seed(0)
        venc = load_encoder(spec, device="cpu", threads=1)
        vdb = tempfile.mkdtemp() + "/db"
        index_folder(folder, "v", encoder=venc, path=vdb, progress=False)
        vcol = open_collection("v", path=vdb, image_root=folder)
        vq = vcol.retrieve([ids[4]])[0]
        vimg = vcol.resolve_image(vq)
        qv = venc.encode(venc.prepare(np.asarray(vimg.convert("RGB"))).pixels[None])[0]
        hit = S.run_shape(vcol, S.Nearest(qv), limit=2)[1]
        t = time.perf_counter()
        why = explain_shape(vcol, S.Nearest(qv), hit=hit.id, query_image=vimg, **{**kw, "encoder": venc})
        rows.append((("MaxSim " if venc.multivector else "dense ") + "ViT-B-32 nearest", why.encoder_passes,
                     time.perf_counter() - t, why.encoder_passes, 0.0, abs(why.regions[0].full_value - why.score)))
    print(f"players {args.players}, method {args.method}, budget {args.budget}, EfficientNet-Lite0 fp32, 1 thread; "
          f"joint: {args.joint_players}, budget {args.joint_budget}; last two rows: open_clip ViT-B-32 (random weights)")
    print(f"{'shape':<28}{'passes':>8}{'s':>8}{'nearest passes':>16}{'s':>8}{'ratio':>8}{'|gap|':>15}")
    for name, p, s, np_, ns, gap in rows:
        print(f"{name:<28}{p:>8}{s:>8.1f}{np_:>16}{ns:>8.1f}{p / np_:>8.3f}{gap:>15.1e}")


if __name__ == "__main__":
    main()
