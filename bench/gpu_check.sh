#!/usr/bin/env bash
# Every GPU check of issue #6 in one run, most valuable first, each step under its own time limit
# so a slow one cannot take the others' time; everything lands in $OUT (default ./gpu-check).
#
#   1. env: the card, driver, torch;
#   2. the real CLI on CUDA: `crossglg train` (+CrossGLG, bf16, torch.compile) then `eval` and
#      `export` on synthetic NTU-25 actions: the CUDA code paths of the trainer end to end;
#   3. bench/gpu_train.py: base, +CrossGLG and the reference-layout InfoGCN at NTU scale (batch 128,
#      64 frames, 2 persons), eager then compiled: samples/s, peak memory, CrossGLG/base step time,
#      data-wait share, the speed-bar ratios. Its JSON is rewritten after every variant.
#
# Inputs made here, before the GPU is held (both are git-ignored; carry them):
#   .gpu-inputs/cache.db  text with MiniLM vectors for the synthetic base classes, e.g.
#       crossglg-text generate --protocol synthetic --cache .gpu-inputs/cache.db
#       crossglg-text embed --cache .gpu-inputs/cache.db
#   .whl/                 wheels of the pure-Python packages the GPU image lacks
#                         (sqlite-utils, sqlite-fts4, click-default-group, tomli-w, python-ulid)
# Without the cache, step 2 trains --no-text. Budget: about 7 minutes on an H100/H200.
# A CPU smoke run of the script itself (what the test does):
#   DEVICE=cpu COMPILE=--no-compile BENCH_ARGS=--quick OUT=/tmp/gc \
#     TRAIN_ARGS="--set model.encoder.base_channels=8 --set frames=16" bash bench/gpu_check.sh
set -u
OUT=${OUT:-gpu-check}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
COMPILE=${COMPILE:---compile}
BENCH_ARGS=${BENCH_ARGS:---steps 200 --compile both}
TRAIN_ARGS=${TRAIN_ARGS:-}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
step() {  # step NAME SECONDS COMMAND...: run, log, time, keep going on failure
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc ${limit}s-limit took=$((SECONDS - t0))s" | tee -a "$OUT/steps.txt"
  tail -n 25 "$OUT/$name.log"
}

step env 60 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  $PY -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())'"

work=$(mktemp -d)
text=(--no-text)
[ -f .gpu-inputs/cache.db ] && cp .gpu-inputs/cache.db "$work/" && text=(--text-cache "$work/cache.db")
step cli 150 bash -c "set -e
  $PY -m crossglg.cli data synth --out $work/data --per-class 12 --seed 0
  $PY -m crossglg.cli train --data $work/data --protocol synthetic ${text[*]} --epochs 3 --batch-size 64 \
    --device $DEVICE --amp bf16 $COMPILE --set lr_steps=[2] --set warmup_epochs=1 $TRAIN_ARGS --out $work/run
  $PY -m crossglg.cli eval $work/run/best.pt --device $DEVICE --json
  $PY -m crossglg.cli export $work/run/best.pt --json"
mkdir -p "$OUT/run"  # the small files only: checkpoints and exports stay behind
(cd "$work/run" 2>/dev/null && find . \( -name '*.json' -o -name '*.csv' -o -name '*.png' -o -name '*.toml' \) \
  -exec cp --parents {} "$OUT/run" \;)

# shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
step gpu_train 330 $PY bench/gpu_train.py $BENCH_ARGS --json "$OUT/gpu.json"
cat "$OUT/steps.txt"
