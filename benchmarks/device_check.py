"""Device masking equals numpy masking: the same explanation both ways on the encoder's device (run on a GPU)."""

import sys

import numpy as np
from skimage import data

from qdrant_explain import explain_pair
from qdrant_explain.connectors.encoders import load_encoder

device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
for dtype in ("fp32", "bf16"):
    enc = load_encoder("clip:ViT-B-32@none", device=device, dtype=dtype)
    stored = enc.encode(enc.prepare(data.coffee()).pixels[None])[0]
    kw = dict(order=1, method="kernel-shap", players="slic:50", budget=200, hit_embedding=stored, progress=False,
              batch_size=50)
    out = {}
    for flag in (False, True):
        enc.device_masking = flag
        out[flag] = explain_pair(data.astronaut(), None, enc, **kw)
    a, b = out[False], out[True]
    diff = float(np.abs(a.query_values - b.query_values).max())
    scale = float(np.abs(a.query_values).max())
    print(f"{device} {dtype}: passes {a.encoder_passes}/{b.encoder_passes}, max |numpy - device| = {diff:.3g} "
          f"(max |value| {scale:.3g}), full value {a.full_value:.6f} / {b.full_value:.6f}")
