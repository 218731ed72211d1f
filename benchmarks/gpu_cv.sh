#!/usr/bin/env bash
# The usgra-seg five-fold cross-validation trained on one CUDA GPU, for a session that has one
# (crossval/README.md; on two CPU cores the five folds take 45 minutes to five hours, by machine).
#
#   bash benchmarks/gpu_cv.sh [OUT_DIR]        # OUT_DIR defaults to $OUT, else ./out
#
# The data: ../shared/realdata/usgra-seg, or a copy in .data/usgra-seg (git-ignored; name `.data` in the
# device tool's `carry`), which is then linked to ../shared/realdata/usgra-seg so that the runs record the
# same data path as on a developer's checkout and the archive can be re-scored there.
#
# The recipe is the one of crossval/usgra-seg (unet_base at 128x128, --augment affine, 40 epochs of 100
# steps, --folds 5 --fold K --seed K); EPOCHS, STEPS and EXTRA (more `neovasc train` flags) change it,
# SEED_OFFSET=S trains fold K with seed K+S (S=5 is the recipe of crossval/usgra-seg-seed2),
# MAX_MINUTES (default 7) stops a fold after the epoch that passes it, so the script ends inside one
# 10-minute device call. The five folds train at once, one process each on the one GPU.
#
# Writes into OUT_DIR: archive/ (the fold archive: MANIFEST.json and fold0..fold4.safetensors, float16),
# scores_plain.json and scores_tta.json (python -m models.crossval on the archive, without and with flip
# averaging). The training logs go to stdout. A fold cut short by MAX_MINUTES is reported; the exit code
# is 1 if any step failed or a fold did not finish its planned steps.
set -uo pipefail
out="${1:-${OUT:-out}}"
epochs="${EPOCHS:-40}"
steps="${STEPS:-100}"
max_minutes="${MAX_MINUTES:-7}"
seed_offset="${SEED_OFFSET:-0}"
if ! [[ "$seed_offset" =~ ^[0-9]+$ ]]; then
    echo "SEED_OFFSET must be a whole number, not '$seed_offset'" >&2
    exit 2
fi
device="${DEVICE:-cuda}"
data=../shared/realdata/usgra-seg
export PYTHONUNBUFFERED=1
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

if [ ! -d "$data" ]; then
    if [ ! -d .data/usgra-seg ]; then
        echo "no usgra-seg data: neither $data nor .data/usgra-seg" >&2
        exit 1
    fi
    mkdir -p ../shared/realdata && ln -s "$PWD/.data/usgra-seg" "$data" || exit 1
fi
mkdir -p "$out" runs
status=0
pids=()
for k in 0 1 2 3 4; do
    # shellcheck disable=SC2086  # EXTRA is a list of flags
    "$python" -m models.train --data "$data" --test "$data/test" --arch unet_base --input-size 128x128 \
        --classes 2 --epochs "$epochs" --steps-per-epoch "$steps" --augment affine --tta --threads 2 \
        --folds 5 --fold "$k" --seed "$((k + seed_offset))" --device "$device" --max-minutes "$max_minutes" --quiet \
        ${EXTRA:-} --out "runs/gpu_cv_f$k" >"runs/gpu_cv_f$k.log" 2>&1 &
    pids+=($!)
done
for k in 0 1 2 3 4; do
    if ! wait "${pids[$k]}"; then
        echo "== fold $k FAILED" >&2
        status=1
    fi
    echo "== fold $k"
    tail -n 5 "runs/gpu_cv_f$k.log"
done
runs=(runs/gpu_cv_f0 runs/gpu_cv_f1 runs/gpu_cv_f2 runs/gpu_cv_f3 runs/gpu_cv_f4)
"$python" - "$((epochs * steps))" "${runs[@]}" <<'EOF' || status=1
import json, sys
planned, runs = int(sys.argv[1]), sys.argv[2:]
short = []
for run in runs:
    try:
        m = json.load(open(f"{run}/metrics.json"))
    except (OSError, ValueError) as exc:
        print(f"{run}: no metrics ({exc})")
        short.append(run)
        continue
    print(f"{run}: {m.get('steps')} of {planned} steps, {m.get('train_seconds')} s, best val {m.get('best_val')}")
    if m.get("steps") != planned:
        short.append(run)
if short:
    print("== not the planned recipe (cut short or failed): " + " ".join(short))
sys.exit(1 if short else 0)
EOF
if "$python" -m models.crossval --runs "${runs[@]}" --archive "$out/archive" --test "$data/test" --threads 8 \
    >"$out/scores_plain.json"; then
    "$python" -m models.crossval --runs "$out/archive" --test "$data/test" --tta --threads 8 \
        >"$out/scores_tta.json" || status=1
else
    status=1
fi
cat "$out"/scores_*.json
exit "$status"
