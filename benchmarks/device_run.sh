#!/usr/bin/env bash
# GPU benchmark run (device machine): overhead outside the encoder (issue 3, must-show 4) and multi-hit cost on
# CUDA, fp32 and bf16. The machine has torch but not open_clip / qdrant-client / this package: their wheels travel in
# .whl/ (made here: `pip download` of open_clip_torch ftfy wcwidth qdrant-client pydantic pydantic-core
# annotated-types typing-inspection typing-extensions h2 hpack hyperframe orjson for cp312 manylinux, and
# `pip wheel --no-deps -w .whl .` of this package). Results: benchmarks/RESULTS.md, "On a GPU".
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site || exit 1
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, open_clip, numpy; print('torch', torch.__version__, 'open_clip', open_clip.__version__, 'numpy', numpy.__version__, 'cpus', __import__('os').cpu_count())" | tee -a "$OUT/gpu.txt"
cd benchmarks
python3 device_check.py cuda 2>&1 | tee -a "$OUT/gpu.txt"
O="--device cuda --dtypes fp32,bf16 --threads 8"
{
  for m in off on; do python3 overhead.py $O --budget 1000 --batch-size 250 --repeats 3 --device-masking $m; done
  python3 overhead.py $O --budget 1000 --batch-size 250 --repeats 3 --players grid:7x7
  python3 overhead.py $O --budget 10000 --batch-size 500 --repeats 2
} 2>&1 | tee "$OUT/overhead.txt"
for d in bf16 fp32; do
  python3 multihit.py --device cuda --dtype $d --budget 1000 --batch-size 250 --repeats 5 --threads 8 2>&1
done | tee "$OUT/multihit.txt"
python3 overhead.py --device cuda --dtypes bf16 --budget 10000 --batch-size 500 --threads 8 --profile > "$OUT/profile_bf16.txt" 2>&1
