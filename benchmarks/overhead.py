"""Share of wall time spent outside the encoder in a 1,000-coalition first-order explanation.

open_clip ViT-B-32 with random weights (``pretrained=None``; timing only), query
side of a pair (the hit given as a stored vector), ``players="slic:50"``,
Kernel SHAP with budget 1,000 -> 1,000 masked images encoded. "Encoder" time is
what ``encoder.encode`` takes (uint8 -> normalised tensor -> forward -> numpy);
everything else (decode/resize/crop, SLIC, blur baseline, masking, cache, Kernel
SHAP plan and solve, heatmaps) is overhead. Both fp32 and bf16.

Run:  nice -n 10 python benchmarks/overhead.py [--budget 1000] [--dtypes fp32,bf16] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def load(dtype: str, threads: int):
    try:
        from qdrant_explain.connectors.encoders import load_encoder

        return load_encoder("clip:ViT-B-32@none", dtype=dtype, threads=threads, device="cpu")
    except Exception as exc:  # connectors not ready: a minimal wrapper with the same contract
        print(f"(load_encoder failed: {exc}; using a local open_clip wrapper)")
        import open_clip
        import torch

        from qdrant_explain.explainers.encoder import prepare_image

        torch.set_num_threads(threads)
        model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
        tdtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        model = model.to(tdtype)
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

        class Enc:
            name, input_size = f"open_clip:ViT-B-32@none/{dtype}", (224, 224)

            def prepare(self, image):
                return prepare_image(image, self.input_size)

            def encode(self, pixels):
                x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div_(255.0)
                x = ((x - mean) / std).to(tdtype)
                with torch.inference_mode():
                    return model.encode_image(x).float().numpy().astype(np.float64)

        return Enc()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=50)
    args = ap.parse_args()
    from skimage import data

    from qdrant_explain import explain_pair

    query = data.astronaut()  # 512 x 512 RGB
    rows = []
    for dtype in args.dtypes.split(","):
        enc = load(dtype, args.threads)
        stored = enc.encode(enc.prepare(data.coffee()).pixels[None])[0]
        # warm-up: one-time costs (imports of skimage's SLIC, oneDNN kernel selection) are not per-explanation
        explain_pair(query, None, enc, order=1, method="kernel-shap", players="slic:50", budget=8,
                     hit_embedding=stored, batch_size=args.batch_size, progress=False)
        t0 = time.perf_counter()
        res = explain_pair(query, None, enc, order=1, method="kernel-shap", players="slic:50",
                           budget=args.budget, hit_embedding=stored, batch_size=args.batch_size, progress=False)
        wall = time.perf_counter() - t0
        inside = res.encoder_seconds
        side = res.query_explanation
        rows.append((dtype, res.encoder_passes, wall, inside, wall - inside, (wall - inside) / wall,
                     res.encoder_passes / inside))
        print(f"{dtype}: {res.encoder_passes} passes ({side.n_evaluations} coalitions, {res.query_players.n_players} "
              f"players), wall {wall:.2f}s, encoder {inside:.2f}s, outside {wall - inside:.2f}s "
              f"({100 * (wall - inside) / wall:.2f}%)", flush=True)
    print("\n| dtype | encoder passes | wall s | encoder s | outside s | outside % | img/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for d, p, w, i, o, f, r in rows:
        print(f"| {d} | {p} | {w:.2f} | {i:.2f} | {o:.2f} | {100 * f:.2f}% | {r:.1f} |")
    print(f"\nmachine: {platform.machine()}, threads={args.threads}, python {platform.python_version()}")


if __name__ == "__main__":
    main()
