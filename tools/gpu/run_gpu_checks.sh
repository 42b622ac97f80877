#!/usr/bin/env bash
# The GPU checks of stmixer_mm (docs/en/gpu.md), on one CUDA machine.
#
#   bash tools/gpu/run_gpu_checks.sh STAGE [STAGE ...]
#
# Stages (run in the order given; `build` is implied by every other one):
#   build       install the OpenMMLab stack beside the machine's own torch
#               and build mmcv 2.1.0 with its CUDA ops from the sdist
#   tests       the project's CUDA tests (and tests/test_models/test_layers)
#   suite       the whole test suite with pytest-xdist (what fails is listed)
#   parity      sample_4d impl='mmcv' against the PyTorch paths, fwd + bwd,
#               fp32 / bf16 / fp16, with the timing table (B = 1 and 8)
#   throughput  the five official configs: B = 1 and 8, fp32 / bf16 / fp16
#               autocast, clips/s and peak memory
#   train       one training iteration per official config at its per-GPU
#               batch size (TRAIN_CONFIGS, default the five; TRAIN_CP: off
#               on, TRAIN_AMP: none bf16; TRAIN_COMPILE=1: torch.compile of
#               train_step, as mmengine's compile=True), with the GPU
#               utilisation of an iteration (--timeline) and the
#               synchronisations CUDA reports
#   data        the training loop as a whole: the official configs' training
#               dataloaders (DATA_CONFIGS, default SlowFast-R50 and ViT-B)
#               over synthetic AVA rawframes of DATA_FRAME_SIZE (1280 720)
#               with DATA_WORKERS (0 8 16), the step alone and fed by them
#               (DATA_AMP: none bf16)
#   profile     operators and host synchronisations of predict and one
#               training step (four official configs, B = PROFILE_BATCH,
#               default 1), with the synchronisations CUDA itself reports
#               (set_sync_debug_mode('warn')) and where predict's time goes
#               (--timeline: wall vs GPU busy time, kernels, launches)
#   vsofficial  ours against the official stack (stock backbone + reference
#               sampling) on the same weights and clips, interleaved: the
#               five official configs (or VS_CONFIGS), B = VS_BATCHES
#               (1 8), VS_DTYPES (fp32 bf16)
#   captured    the same comparison with our captured path added
#               (compile_cfg mode reduce-overhead: CUDA graphs), CAPTURED_*
#               configs / batches / dtypes
#   decoder     issue 33: the decoder alone (fast path vs reference
#               sampling), SlowOnly-R50 and ViT-B settings, fp32 + bf16
#   compile     issue 33: compile_cfg=dict(mode='reduce-overhead') (CUDA
#               graphs) against eager at B = 1, SlowOnly-R50 and ViT-B,
#               each variant twice, interleaved
#   online      issue 33: the online demo on the GPU with the SlowOnly-R50
#               and ViT-B official models (or ONLINE_CONFIGS; random
#               weights): keyframes/s, lag, memory
#   core        issue 82: the custom operator stmixer_mm::msda on CUDA, one
#               training iteration eager and with compiled stages + fused
#               AdamW (CORE_TRAIN_CONFIGS, default SlowFast-R50 and ViT-B,
#               fp32, with --timeline), the captured predict against the
#               official stack at B = 1 fp32 with its graph breaks
#   replay      issues 103 and 111: the replayed training step
#               (graph_train_cfg), one call of at most 8 minutes, the
#               headline first: SlowFast-R50 B = 2 at 32x256x320, fused
#               AdamW, fp32: eager, the official stack's step (its
#               criterion), replayed (REPLAY_COMPILE_TIMEOUT, 300 s, for
#               its compilation and probe; the warm-up printed per step),
#               then its CUDA tests (AdamW steps against eager,
#               accumulation, NCCL DDP); each row's JSON written when
#               measured, all within REPLAY_BUDGET_S (450) of the script's
#               start, the build included; then one table
#               (replay_table_replay.md: ms, x official, GPU busy,
#               launches, steps replayed, skips, recompiles, graph breaks,
#               peak memory allocated and reserved).
#               STMIXER_GPU_DRY_RUN=1: the same jobs on the CPU, tiny
#               config, no build (the test suite runs it)
#   replay2     the second call (same budget): ViT-B B = 1 as configured
#               eager / official / replayed, SlowFast-R50 bf16 replayed
#               (replay_table_replay2.md); STMIXER_GPU_DRY_RUN=1 as above
#   heads       issue 63: the tubelet, mask and forecast heads' added cost:
#               the four ViT-B JHMDB configs (plain, tubelet, mask,
#               forecast) at B = 1, fp32 + bf16, eager
#
# Environment:
#   STMIXER_GPU_WHEELS  folder of wheels (cp312) and the mmcv-2.1.0 sdist
#                       (default: <repo>/.gpu_wheels); nothing is downloaded
#   STMIXER_GPU_SITE    where the packages go (pip --target, default
#                       /tmp/stmixer_gpu_site); the machine's torch is kept
#   STMIXER_GPU_OUT     results folder (default: $OUT, else ./gpu_results)
#   MAX_JOBS            compiler jobs of the mmcv build (default: nproc)
#   TORCH_CUDA_ARCH_LIST  default: the GPU's compute capability, e.g. 9.0
#
# Why --target and not a venv: the machine's python3 is itself a virtual
# environment, and `venv --system-site-packages` of a venv sees the base
# interpreter's packages, not that venv's torch. Installing into a separate
# folder on PYTHONPATH keeps the machine's torch, numpy and OpenCV (4.x or
# 5.x: the dependency check accepts both, so no OpenCV wheel is carried).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WHEELS="${STMIXER_GPU_WHEELS:-$REPO/.gpu_wheels}"
SITE="${STMIXER_GPU_SITE:-/tmp/stmixer_gpu_site}"
RES="${STMIXER_GPU_OUT:-${OUT:-$REPO/gpu_results}}"
PY="${STMIXER_GPU_PYTHON:-python3}"
mkdir -p "$RES"
T0=$(date +%s)
log() { printf '[gpu %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
cd "$REPO"

mmcv_ops_ok() {
  "$PY" -X faulthandler - <<'PYEOF'
import torch  # noqa: F401  (first: mmcv._ext links against it)
import mmcv
import mmcv.ops
assert mmcv.__version__ == '2.1.0', mmcv.__version__
# not mmcv.ops.get_compiling_cuda_version(): it segfaults in this build
# (docs/en/gpu.md); one call of the multi-scale deformable attention kernel
from stmixer_mm.ops.multi_scale_deform_attn import msda_cuda_function
assert msda_cuda_function() is not None, 'no CUDA kernel in mmcv._ext'
print(f'mmcv {mmcv.__version__}: the CUDA kernel runs', flush=True)
PYEOF
}

stage_build() {
  log "python $("$PY" -c 'import sys; print(sys.version.split()[0])'), torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))')"
  nvcc --version | tail -2
  mkdir -p "$SITE"
  # the pure-python stack and the few compiled packages the machine lacks
  local whls=( "$WHEELS"/*.whl )
  "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --disable-pip-version-check --upgrade --target "$SITE" "${whls[@]}" \
      || { log "ERROR: installing the wheels of $WHEELS failed"; return 1; }
  # mmaction2 1.2.0 imports its VindLU models whenever transformers is
  # installed; transformers 5 (on the GPU image) lacks what they import
  # (apply_chunking_to_forward). STMixer needs none of them.
  if ! "$PY" -c "from transformers.modeling_utils import apply_chunking_to_forward" 2>/dev/null; then
    sed -i 's/^WITH_MULTIMODAL = all(/WITH_MULTIMODAL = False and all(/' \
        "$SITE/mmaction/utils/dependency.py"
    log "mmaction2: multimodal models off (transformers without apply_chunking_to_forward)"
  fi
  if mmcv_ops_ok; then
    log "mmcv 2.1.0 with CUDA ops already importable"
    return 0
  fi
  if [ "${STMIXER_GPU_NO_BUILD:-0}" = 1 ]; then
    log "ERROR: no working mmcv with CUDA ops and STMIXER_GPU_NO_BUILD=1"
    return 1
  fi
  local SRC=/tmp/stmixer_mmcv_src
  rm -rf "$SRC"; mkdir -p "$SRC"
  tar -xzf "$WHEELS/mmcv-2.1.0.tar.gz" -C "$SRC" \
      || { log "ERROR: $WHEELS/mmcv-2.1.0.tar.gz missing"; return 1; }
  # PyTorch >= 2.? has no THC/ headers any more; THCAtomics.cuh was a shim
  # of ATen/cuda/Atomic.cuh (atomicAdd for half/bf16/double).
  grep -rl 'THC/THCAtomics.cuh' "$SRC/mmcv-2.1.0/mmcv/ops/csrc" | xargs -r \
      sed -i 's#<THC/THCAtomics.cuh>#<ATen/cuda/Atomic.cuh>#'
  local ARCH
  ARCH="${TORCH_CUDA_ARCH_LIST:-$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability(0))')}"
  local JOBS="${MAX_JOBS:-$(nproc)}"
  log "building mmcv 2.1.0 with CUDA ops: MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$ARCH MAX_JOBS=$JOBS pip wheel --no-build-isolation --no-deps"
  local B0=$(date +%s)
  ( cd "$SRC/mmcv-2.1.0" && MMCV_WITH_OPS=1 FORCE_CUDA=1 \
      TORCH_CUDA_ARCH_LIST="$ARCH" MAX_JOBS="$JOBS" \
      "$PY" -m pip wheel -v --no-index --no-build-isolation --no-deps \
      --disable-pip-version-check -w "$SRC/dist" . ) \
      > "$RES/mmcv_build.log" 2>&1
  local rc=$?
  local BT=$(( $(date +%s) - B0 ))
  echo "{\"mmcv_build_s\": $BT, \"rc\": $rc, \"arch\": \"$ARCH\", \"jobs\": $JOBS}" > "$RES/mmcv_build.json"
  log "mmcv build rc=$rc in ${BT} s"
  if [ $rc -ne 0 ]; then
    grep -m 20 -B 2 -A 6 'error' "$RES/mmcv_build.log" | head -80
    return 1
  fi
  local WHL
  WHL=$(ls "$SRC"/dist/mmcv-2.1.0-*.whl)
  "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --disable-pip-version-check --upgrade --target "$SITE" "$WHL"
  ls -la "$WHL"
  # bring the wheel back (files of at most 16 MiB come back: split it)
  mkdir -p "$RES/mmcv_wheel"
  split -b 15M -d "$WHL" "$RES/mmcv_wheel/$(basename "$WHL")."
  mmcv_ops_ok || { log "ERROR: mmcv built but mmcv._ext with CUDA ops does not load"; "$PY" -c "import mmcv.ops"; return 1; }
  log "mmcv OK"
}

stage_tests() {
  log "CUDA tests"
  "$PY" - <<'PYEOF'
import stmixer_mm  # noqa: F401  (mmaction2 packaging fix)
from stmixer_mm.utils import check_dependencies
check_dependencies(strict=False)
import mmcv.ops, mmdet.models, mmaction.models  # noqa: F401,E401
from stmixer_mm.ops.multi_scale_deform_attn import msda_cuda_function
print('mmcv msda CUDA function:', msda_cuda_function())
PYEOF
  "$PY" -m pytest -q -rs -p no:cacheprovider \
      ${TEST_PATHS:-tests/test_models/test_layers tests/test_deployment/test_benchmark_onnx.py} \
      2>&1 | tee "$RES/tests_layers.log" | tail -25
  if [ "${CUDA_K:-1}" = 1 ]; then
    "$PY" -m pytest -q -rs -p no:cacheprovider -k 'cuda or CUDA or gpu' \
        tests 2>&1 | tee "$RES/tests_cuda_k.log" | tail -25
  fi
}

stage_suite() {
  log "whole suite, xdist"
  timeout "${SUITE_TIMEOUT:-420}" "$PY" -m pytest -q -p no:cacheprovider \
      -n "${SUITE_WORKERS:-12}" -rfEs tests 2>&1 | tee "$RES/suite.log" \
      | grep -E '^(FAILED|ERROR)|passed|failed' | tail -60
}

stage_parity() {
  log "sampler parity and timing"
  "$PY" tools/analysis_tools/benchmark_sampling.py --device cuda \
      --batch-sizes 1 8 --repeats "${REPEATS:-10}" --warmup 3 \
      --dtypes fp32 bf16 fp16 --json "$RES/sampling.json" \
      2>&1 | tee "$RES/sampling.txt"
}

stage_throughput() {
  log "detector throughput"
  local bs
  for bs in ${THROUGHPUT_BATCHES:-1 8}; do
    timeout "${THROUGHPUT_TIMEOUT:-280}" "$PY" \
        tools/analysis_tools/benchmark_model.py --official --device cuda \
        --batch-size "$bs" --repeats "${REPEATS:-10}" --warmup 3 \
        --dtypes fp32 bf16 fp16 --no-flops \
        --json "$RES/throughput_b$bs.json" \
        2>&1 | tee "$RES/throughput_b$bs.txt"
  done
}

stage_train() {
  log "training iteration"
  # shellcheck disable=SC2086  (TRAIN_CONFIGS: several words)
  timeout "${TRAIN_TIMEOUT:-300}" "$PY" tools/gpu/bench_train_step.py \
      ${TRAIN_CONFIGS:---official} --repeats "${REPEATS:-5}" \
      --warmup "${TRAIN_WARMUP:-2}" ${TRAIN_COMPILE:+--compile} \
      --cp ${TRAIN_CP:-off on} --amp ${TRAIN_AMP:-none bf16} --timeline \
      --json "$RES/train.json" 2>&1 | tee "$RES/train.txt"
}

# the five official settings (issue 33's configs)
OFFICIAL_CONFIGS=(
  configs/stmixer/stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw_ava22-rgb.py
  configs/stmixer/stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py
  configs/stmixer/stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py
  configs/stmixer/stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py
  configs/stmixer/stmixer_vit-base-p16_videomaev2-k710-k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py
)
SLOWONLY="${OFFICIAL_CONFIGS[0]}"
SFR50="${OFFICIAL_CONFIGS[1]}"
VITB="${OFFICIAL_CONFIGS[3]}"

stage_data() {
  log "the training loop: data pipeline against the training step"
  # shellcheck disable=SC2086  (several words each)
  timeout "${DATA_TIMEOUT:-300}" "$PY" \
      tools/analysis_tools/benchmark_data_pipeline.py \
      ${DATA_CONFIGS:-$SFR50 $VITB} --frame-size ${DATA_FRAME_SIZE:-1280 720} \
      --videos "${DATA_VIDEOS:-4}" --seconds "${DATA_SECONDS:-10}" \
      --workers ${DATA_WORKERS:-0 8 16} --batches "${DATA_BATCHES:-30}" \
      --train --amp ${DATA_AMP:-none bf16} --work-dir /tmp/stmixer_data \
      --json "$RES/data.json" 2>&1 | tee "$RES/data.txt"
}

stage_profile() {
  log "operators and synchronisations (profile_model.py --device cuda)"
  timeout "${PROFILE_TIMEOUT:-300}" "$PY" tools/analysis_tools/profile_model.py \
      --device cuda --batch-size "${PROFILE_BATCH:-1}" --timeline \
      --json "$RES/profile.json" \
      "${OFFICIAL_CONFIGS[@]:0:4}" 2>&1 | tee "$RES/profile.txt"
}

stage_vsofficial() {
  log "ours against the official stack"
  local bs rc=0
  for bs in ${VS_BATCHES:-1 8}; do
    # shellcheck disable=SC2086  (VS_CONFIGS: several words)
    timeout "${VS_TIMEOUT:-420}" "$PY" tools/analysis_tools/benchmark_model.py \
        ${VS_CONFIGS:---official} --vs-official --device cuda \
        --batch-size "$bs" --repeats "${REPEATS:-10}" --warmup 3 \
        --dtypes ${VS_DTYPES:-fp32 bf16} \
        --json "$RES/vs_official_b$bs.json" \
        2>&1 | tee "$RES/vs_official_b$bs.txt" || rc=1
  done
  return $rc
}

stage_captured() {
  log "ours eager and captured (reduce-overhead) against the official stack"
  local bs rc=0
  for bs in ${CAPTURED_BATCHES:-1 8}; do
    # shellcheck disable=SC2086
    timeout "${CAPTURED_TIMEOUT:-500}" "$PY" \
        tools/analysis_tools/benchmark_model.py \
        ${CAPTURED_CONFIGS:-$SLOWONLY $VITB} --vs-official --compile \
        --device cuda --batch-size "$bs" --repeats "${REPEATS:-10}" \
        --warmup 3 --dtypes ${CAPTURED_DTYPES:-fp32 bf16} \
        --json "$RES/captured_b$bs.json" \
        2>&1 | tee "$RES/captured_b$bs.txt" || rc=1
  done
  return $rc
}

stage_decoder() {
  log "decoder alone"
  local cfg rc=0
  for cfg in "$SLOWONLY" "$VITB"; do
    timeout "${DECODER_TIMEOUT:-240}" "$PY" tools/analysis_tools/benchmark_decoder.py \
        "$cfg" --device cuda --batch 1 --repeats "${REPEATS:-10}" \
        --warmup 3 --bf16 --profile-rows 15 \
        2>&1 | tee "$RES/decoder_$(basename "$cfg" .py).txt" || rc=1
  done
  return $rc
}

stage_compile() {
  log "captured path (reduce-overhead) against eager, B = 1"
  local cfg round variant rc=0
  for cfg in "$SLOWONLY" "$VITB"; do
    for round in 1 2; do
      for variant in eager reduce-overhead; do
        local opts=()
        [ "$variant" = eager ] || opts=(--cfg-options model.compile_cfg.mode=reduce-overhead)
        timeout "${COMPILE_TIMEOUT:-300}" "$PY" tools/analysis_tools/benchmark_model.py \
            "$cfg" --device cuda --batch-size 1 --repeats "${REPEATS:-10}" \
            --warmup 5 "${opts[@]}" 2>&1 \
            | tee "$RES/compile_$(basename "$cfg" .py)_${variant}_$round.txt" \
            | { grep -E 'forward|throughput|warn|Warn|fall' || true; } || rc=1
      done
    done
  done
  return $rc
}

stage_online() {
  log "online demo on the GPU"
  local cfg rc=0
  # shellcheck disable=SC2086  (ONLINE_CONFIGS: several words)
  for cfg in ${ONLINE_CONFIGS:-$SLOWONLY $VITB}; do
    timeout "${ONLINE_TIMEOUT:-420}" "$PY" tools/analysis_tools/benchmark_online.py \
        --models official --official-config "$cfg" --device cuda \
        --modes model online realtime --work-dir /tmp/stmixer_online_work \
        --official-frames "${ONLINE_FRAMES:-1000}" \
        --threads "${ONLINE_THREADS:-4}" \
        --out "$RES/online_$(basename "$cfg" .py).json" \
        2>&1 | tee "$RES/online_$(basename "$cfg" .py).txt" || rc=1
  done
  return $rc
}

stage_heads() {
  log "the heads' added cost (ViT-B, JHMDB configs)"
  local T=configs/stmixer_tubes
  local J=vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_jhmdb21-rgb.py
  timeout "${HEADS_TIMEOUT:-240}" "$PY" tools/analysis_tools/benchmark_model.py \
      "$T/stmixer_$J" "$T/stmixer-tubelet_$J" \
      "projects/actor_masks/configs/stmixer-mask_$J" \
      "projects/forecasting/configs/stmixer-forecast_$J" --device cuda --batch-size 1 \
      --repeats "${REPEATS:-10}" --warmup 3 --dtypes fp32 bf16 --no-flops \
      --json "$RES/heads_b1.json" 2>&1 | tee "$RES/heads_b1.txt"
}

stage_core() {
  log "issue 82: the sampling operator, the training step, the captured predict"
  "$PY" -m pytest -q -rs -p no:cacheprovider \
      tests/test_models/test_layers/test_sampling_cuda.py -k 'msda or mmcv' \
      2>&1 | tee "$RES/core_tests.log" | tail -6
  local cfg variant tag rc=0
  # shellcheck disable=SC2086  (several words each)
  for cfg in ${CORE_TRAIN_CONFIGS:-$SFR50 $VITB}; do
    for variant in eager compiled; do
      local opts=()
      opts=(--graph-train off)
      [ "$variant" = eager ] || opts+=(--fused --compile-stages)
      tag="$(basename "$cfg" .py)_$variant"
      timeout "${CORE_TRAIN_TIMEOUT:-200}" "$PY" tools/gpu/bench_train_step.py \
          "$cfg" --repeats "${REPEATS:-5}" --warmup "${TRAIN_WARMUP:-2}" \
          --cp off --amp none --timeline "${opts[@]}" \
          --json "$RES/core_train_$tag.json" > "$RES/core_train_$tag.txt" 2>&1 \
          || rc=1
      grep -E 'median|busy|launches|Error' "$RES/core_train_$tag.txt" | head -8
    done
  done
  # the anchor: the official training step (its criterion) beside ours,
  # SlowFast-R50 at B = 2, ViT-B at B = 1 (docs/en/benchmarks.md)
  local pair
  for pair in "$SFR50:2" "$VITB:1"; do
    tag="$(basename "${pair%:*}" .py)"
    timeout "${CORE_ANCHOR_TIMEOUT:-240}" "$PY" \
        tools/analysis_tools/profile_model.py "${pair%:*}" --vs-official \
        --device cuda --batch-size "${pair##*:}" --repeats "${REPEATS:-5}" \
        --warmup 2 --json "$RES/core_anchor_$tag.json" \
        > "$RES/core_anchor_$tag.txt" 2>&1 || rc=1
    tail -3 "$RES/core_anchor_$tag.txt"
  done
  # shellcheck disable=SC2086
  timeout "${CORE_CAPTURED_TIMEOUT:-300}" "$PY" \
      tools/analysis_tools/benchmark_model.py \
      ${CORE_CAPTURED_CONFIGS:-$SFR50 $VITB} --vs-official --compile \
      --device cuda --batch-size 1 --repeats "${REPEATS:-10}" --warmup 3 \
      --dtypes fp32 --json "$RES/core_captured_b1.json" \
      > "$RES/core_captured_b1.txt" 2>&1 || rc=1
  tail -25 "$RES/core_captured_b1.txt"
  return $rc
}

# one row of the replay stages: a job of its own under the time left of
# REPLAY_BUDGET_S (counted from the script's start, the build included),
# its output in $RES/replay_NAME.txt and its row in $RES/replay_NAME.json
# as soon as it is measured (a job cut by the limit leaves the others')
replay_job() {
  local name=$1 limit=$2; shift 2
  local left=$(( ${REPLAY_BUDGET_S:-450} - ($(date +%s) - T0) ))
  if [ "$left" -lt 40 ]; then
    log "replay: $name not run ($left s left of REPLAY_BUDGET_S)"
    return 1
  fi
  [ "$limit" -le "$left" ] || limit=$left
  log "replay: $name (at most $limit s)"
  timeout "$limit" "$@" > "$RES/replay_$name.txt" 2>&1
  local rc=$?
  grep -E 'median|warm-up steps|passed|failed|skipped|Error' \
      "$RES/replay_$name.txt" | grep -v '^[|]' | tail -4
  [ $rc -eq 0 ] || log "replay: $name exit $rc"
  return $rc
}

# the settings of both replay stages: REPLAY_SF, REPLAY_VIT, REPLAY_BF16,
# REPLAY_DEV (the bench's device options), REPLAY_BENCH
replay_settings() {
  REPLAY_SF="$SFR50"; REPLAY_VIT="$VITB"; REPLAY_BF16=bf16
  REPLAY_DEV=(--fused --timeline --repeats "${REPEATS:-10}"
              --warmup "${TRAIN_WARMUP:-3}")
  if [ "${STMIXER_GPU_DRY_RUN:-0}" = 1 ]; then  # the CPU, tiny shapes
    REPLAY_SF=tests/data/configs/tiny_stmixer_tiny-ava.py
    REPLAY_VIT=$REPLAY_SF
    REPLAY_DEV=(--device cpu --shape 4 64 64 --repeats 1 --warmup 0)
    REPLAY_BF16=none  # (mmengine's AmpOptimWrapper refuses the CPU)
  fi
  REPLAY_BENCH=("$PY" tools/gpu/bench_train_step.py)
}

# the closing table of the rows NAME... ($RES/replay_table_STAGE.md)
replay_table() {
  local stage=$1 name files=(); shift
  for name in "$@"; do files+=("$RES/replay_$name.json"); done
  "${REPLAY_BENCH[@]}" --table "${files[@]}" | tee "$RES/replay_table_$stage.md"
}

stage_replay() {
  log "issue 103/111: the replayed training step, the headline first"
  replay_settings
  local rc=0 compile="${REPLAY_COMPILE_TIMEOUT:-300}"
  # SlowFast-R50 B = 2 at 32x256x320, fused AdamW, fp32: eager, the
  # official stack's step (its criterion), replayed (the compilation,
  # CUDA-graph warm-up, recording and first replay inside its limit); each
  # row a process of its own
  replay_job sf_eager "${REPLAY_ROW_TIMEOUT:-90}" "${REPLAY_BENCH[@]}" \
      "$REPLAY_SF" --graph-train off --cp off --amp none "${REPLAY_DEV[@]}" \
      --json "$RES/replay_sf_eager.json" || rc=1
  replay_job sf_official "${REPLAY_ROW_TIMEOUT:-90}" "${REPLAY_BENCH[@]}" \
      "$REPLAY_SF" --stack official --cp off --amp none "${REPLAY_DEV[@]}" \
      --json "$RES/replay_sf_official.json" || rc=1
  replay_job sf_replayed "$compile" "${REPLAY_BENCH[@]}" "$REPLAY_SF" \
      --graph-train on --cp off --amp none "${REPLAY_DEV[@]}" \
      --json "$RES/replay_sf_replayed.json" || rc=1
  # then the CUDA tests (six AdamW steps of two shapes against eager with
  # and without accumulation, 1-process NCCL DDP; skipped without CUDA)
  replay_job tests "${REPLAY_TESTS_TIMEOUT:-150}" "$PY" -m pytest -q -rs \
      -p no:cacheprovider \
      tests/test_models/test_detectors/test_stmixer_graph_train.py \
      -k 'cuda or gpu' || rc=1
  replay_table replay sf_eager sf_official sf_replayed
  return $rc
}

stage_replay2() {
  log "issue 111: the replayed training step, ViT-B as configured and bf16"
  replay_settings
  local rc=0 compile="${REPLAY_COMPILE_TIMEOUT:-300}"
  # ViT-B B = 1 at 16x256x320 as configured (its activation checkpointing)
  replay_job vit_eager "${REPLAY_ROW_TIMEOUT:-90}" "${REPLAY_BENCH[@]}" \
      "$REPLAY_VIT" --graph-train off --cp config --amp none \
      "${REPLAY_DEV[@]}" --json "$RES/replay_vit_eager.json" || rc=1
  replay_job vit_official "${REPLAY_ROW_TIMEOUT:-90}" "${REPLAY_BENCH[@]}" \
      "$REPLAY_VIT" --stack official --cp config --amp none \
      "${REPLAY_DEV[@]}" --json "$RES/replay_vit_official.json" || rc=1
  replay_job vit_replayed "$compile" "${REPLAY_BENCH[@]}" "$REPLAY_VIT" \
      --graph-train on --cp config --amp none "${REPLAY_DEV[@]}" \
      --json "$RES/replay_vit_replayed.json" || rc=1
  # SlowFast-R50 replayed under bf16 autocast (against the stage replay's
  # official fp32 step where both stages' results are in one folder)
  replay_job sf_bf16_replayed "$compile" "${REPLAY_BENCH[@]}" "$REPLAY_SF" \
      --graph-train on --cp off --amp "$REPLAY_BF16" "${REPLAY_DEV[@]}" \
      --json "$RES/replay_sf_bf16_replayed.json" || rc=1
  replay_table replay2 vit_eager vit_official vit_replayed sf_official \
      sf_bf16_replayed
  return $rc
}

[ $# -ge 1 ] || { echo "usage: $0 build|tests|suite|parity|throughput|train|data|profile|vsofficial|captured|decoder|compile|online|heads|core|replay|replay2 ..." >&2; exit 2; }
if [ "${STMIXER_GPU_DRY_RUN:-0}" = 1 ]; then
  # on the CPU, without the build: a replay stage's jobs on the tiny
  # config (tests/test_tools/test_gpu_checks_script.py)
  case "$*" in
    replay|replay2) ;;
    *) echo "STMIXER_GPU_DRY_RUN=1: one of the stages replay, replay2" >&2; exit 2 ;;
  esac
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  stage_build || exit 1
fi
status=0
for s in "$@"; do
  case "$s" in
    build) ;;
    tests|suite|parity|throughput|train|data|profile|vsofficial|captured|decoder|compile|online|heads|core|replay|replay2)
      "stage_$s" || status=1 ;;
    *) echo "unknown stage $s" >&2; exit 2 ;;
  esac
done
log "done (status $status)"
exit $status
