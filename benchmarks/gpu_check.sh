#!/usr/bin/env bash
# The GPU checks in one run, for a session that has a CUDA machine (see docs/benchmarks.md, "GPU").
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # OUT_DIR defaults to $OUT, else ./out
#
# Needs what the GPU machines' image has (torch with CUDA, Triton, numba, OpenCV, safetensors, pytest):
# the first steps exercise cuda_ops and models only; the whole-clip steps need the project installed (PyAV,
# pydicom: `pip install -e .`).
# Writes into OUT_DIR: env.txt (GPU, driver, versions), tests.log (the GPU tests of cuda_ops and models,
# CUDA tests no longer skipped), count.json (python -m cuda_ops.bench: every backend on CPU and GPU with
# the device-to-device copy ceiling measured in the same run), segment_predict.json and
# segment_network.json (TendonSegmenter at batch 64 with float16 autocast: whole predict calls, and the
# network alone), pipeline_cuda.json and pipeline_cpu.json (benchmarks/pipeline.py: whole clips graded on
# each device) and pipeline_same.txt (their counts compared row by row). Each step's failure is recorded and the next step still runs; the exit code is 1 if any
# step failed.
set -uo pipefail
out="${1:-${OUT:-out}}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
status=0
step() {  # step NAME FILE COMMAND...: run COMMAND, its stdout into FILE, stderr shown
    local name="$1" file="$2"
    shift 2
    echo "== $name" >&2
    if ! "$@" >"$out/$file"; then
        echo "== $name FAILED" >&2
        status=1
    fi
}
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch, triton, numba; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'triton', triton.__version__, 'numba', numba.__version__, torch.cuda.get_device_name(0))"
} >"$out/env.txt" 2>&1 || status=1
step "GPU tests" tests.log python3 -m pytest -q -p no:cacheprovider tests/cuda_ops tests/models -rs
step "counting benchmark" count.json python3 -m cuda_ops.bench --json --coverage 0.2,1 --repeats 7
step "segmentation, whole predict" segment_predict.json \
    python3 benchmarks/segment.py --device cuda --batch 64 --repeats 10 --threads 8 --json
step "segmentation, network only" segment_network.json \
    python3 benchmarks/segment.py --device cuda --batch 64 --repeats 50 --threads 8 --network-only --json
# The whole pipeline (decode, screen, segmentation, counting, grading) on CUDA and on the CPU of the same machine,
# same clips: with a drawn region the Doppler pixel counts must be identical, with the model (float16 on CUDA) the
# colour fractions within 0.005.
step "whole clips on CUDA" pipeline_cuda.json \
    python3 benchmarks/pipeline.py --device cuda --frames 240 --size 1080x1920 --repeats 3 --json
step "whole clips on the CPU" pipeline_cpu.json \
    python3 benchmarks/pipeline.py --device cpu --frames 240 --size 1080x1920 --repeats 3 --json
step "CUDA and CPU give the same numbers" pipeline_same.txt python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
cuda, cpu = (json.load(open(f"{out}/pipeline_{d}.json"))["results"] for d in ("cuda", "cpu"))
keys = ("clip", "region", "doppler_px", "colour_fraction")
ok = True
for a, b in zip(cuda, cpu, strict=True):
    a, b = {k: a[k] for k in keys}, {k: b[k] for k in keys}
    if a["region"] == "rectangle":  # the counters must agree exactly
        same = a == b
    else:  # the model's outline in float16 on CUDA: colour fractions within half a percentage point
        same = abs((a["colour_fraction"] or 0.0) - (b["colour_fraction"] or 0.0)) <= 0.005
    ok &= same
    print("same" if same else "DIFFERENT", a, b)
sys.exit(0 if ok else 1)
PY
cat "$out/env.txt" >&2
exit "$status"
