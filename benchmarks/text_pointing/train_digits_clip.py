"""Train ``digits-clip``: a small text-image contrastive model of digit mosaics and their captions.

Data: mosaics of sklearn digits (``qdrant_explain.datasets.digits``: 96 x 96 canvases, a 3 x 3
grid of cells, 1-4 digits of distinct classes, train split of the digit images) and captions
naming their digits (``"seven, two and five"``; :func:`qdrant_explain.datasets.digits.clip.caption`).

Model: the image tower is the shipped ``digits-cnn`` (its convolutions kept, its linear head
retrained); the text tower is a bag of words (one learnt vector per word of
``zero..nine, and``; a caption embeds to the sum). Loss: symmetric InfoNCE over the batch with a
learnt temperature; two mosaics with the same set of digits are both positives (soft targets).
The convolutional features are computed once, so a run takes about a minute on two cores.

Run (seeded; writes plugin/datasets/digits/digits_clip.pt and prints held-out retrieval):

    OMP_NUM_THREADS=1 python benchmarks/text_pointing/train_digits_clip.py
    python benchmarks/text_pointing/train_digits_clip.py --eval-only    # report the shipped weights
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from qdrant_explain.datasets.digits import load_digits_encoder, make_scenes, multi_hot
from qdrant_explain.datasets.digits.clip import CLIP_WEIGHTS_PATH, VOCABULARY, caption, load_digits_clip, word_ids
from qdrant_explain.datasets.digits.cnn import to_tensor


def pooled_features(model, images: np.ndarray, batch: int = 256):
    """(m, C) sum-pooled convolutional features of the digits CNN (the input of its head)."""
    import torch

    outs = []
    with torch.inference_mode():
        for s in range(0, len(images), batch):
            outs.append(model.features(to_tensor(images[s : s + batch])).sum(dim=(2, 3)))
    return torch.cat(outs)


def word_counts(texts: list[str]) -> np.ndarray:
    """(m, V) counts of each vocabulary word in each text."""
    out = np.zeros((len(texts), len(VOCABULARY)))
    for r, t in enumerate(texts):
        for i in word_ids(t):
            out[r, i] += 1
    return out


def captions_of(scenes, rng: np.random.Generator) -> list[str]:
    """A caption per scene naming its digits in a random order."""
    return [caption(s.classes, order=rng.permutation(len(s.classes))) for s in scenes]


def train(args) -> dict:
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    cnn = load_digits_encoder()
    scenes = make_scenes(args.scenes, seed=args.seed, k=(1, 4), split="train")
    t0 = time.perf_counter()
    feats = pooled_features(cnn.model, np.stack([s.image for s in scenes]))
    counts = torch.from_numpy(word_counts(captions_of(scenes, rng))).float()
    same = torch.from_numpy(multi_hot(scenes))
    head = torch.nn.Linear(feats.shape[1], cnn.dim, bias=False)
    head.load_state_dict(cnn.model.head.state_dict())
    words = torch.nn.Parameter(0.1 * torch.randn(len(VOCABULARY), cnn.dim))
    log_scale = torch.nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
    opt = torch.optim.Adam([*head.parameters(), words, log_scale], lr=args.lr)
    for step in range(args.steps):
        idx = torch.from_numpy(rng.choice(len(scenes), size=args.batch, replace=False))
        img = torch.nn.functional.normalize(head(feats[idx]), dim=1)
        txt = torch.nn.functional.normalize(counts[idx] @ words, dim=1)
        logits = log_scale.exp() * img @ txt.T
        m = same[idx].float()
        target = (m @ m.T == m.sum(1, keepdim=True)) & (m @ m.T == m.sum(1)[None, :])  # same digit sets
        target = target.float() / target.float().sum(1, keepdim=True)
        loss = 0.5 * (-(target * logits.log_softmax(1)).sum(1).mean() - (target * logits.log_softmax(0)).sum(0).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            log_scale.clamp_(0.0, np.log(100.0))
        if step % 200 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {loss.item():.4f} scale {log_scale.exp().item():.1f}", flush=True)
    state = cnn.model.state_dict()
    state["head.weight"] = head.weight.detach().clone()
    blob = {"config": {"embed_dim": cnn.dim, "width": int(state["features.0.weight"].shape[0]),
                       "canvas": cnn.input_size[0]}, "state_dict": state,
            "word_vectors": words.detach().clone(), "vocabulary": list(VOCABULARY),
            "meta": {"seed": args.seed, "scenes": args.scenes, "steps": args.steps, "batch": args.batch,
                     "lr": args.lr, "loss": float(loss.item()), "seconds": round(time.perf_counter() - t0, 1)}}
    out = pathlib.Path(args.out)
    torch.save(blob, out)
    print(f"saved {out} ({out.stat().st_size / 1024:.0f} KiB) in {blob['meta']['seconds']} s", flush=True)
    return blob["meta"]


def evaluate(weights: pathlib.Path | None, n: int = 1000, seed: int = 7) -> dict:
    """Held-out text -> image retrieval: mosaics from the test split of the digits, one caption each."""
    enc = load_digits_clip(weights)
    scenes = make_scenes(n, seed=seed, k=(1, 4), split="test")
    img = enc.encode(np.stack([s.image for s in scenes]))
    txt = enc.text_encoder().encode_text(captions_of(scenes, np.random.default_rng(seed)))
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    sim = txt @ img.T
    sets = [frozenset(s.classes) for s in scenes]
    top = sim.argmax(1)
    r1 = float(np.mean([sets[top[i]] == sets[i] for i in range(n)]))
    diag = np.diag(sim)
    matched = np.array([[sets[i] == sets[j] for j in range(n)] for i in range(n)])
    rank_ok = float(np.mean([(sim[i][~matched[i]] < diag[i]).mean() for i in range(n)]))
    one = [i for i in range(n) if len(sets[i]) == 1]
    report = {"test_mosaics": n, "text_to_image_R@1_same_digit_set": round(r1, 4),
              "share_of_other_sets_ranked_below_own_image": round(rank_ok, 4),
              "one_digit_captions": len(one)}
    print(json.dumps(report), flush=True)
    return report


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=6000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(CLIP_WEIGHTS_PATH))
    ap.add_argument("--eval-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.eval_only:
        train(args)
    evaluate(pathlib.Path(args.out) if args.out != str(CLIP_WEIGHTS_PATH) else None)


if __name__ == "__main__":
    main()
