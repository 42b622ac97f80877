#!/usr/bin/env bash
# The main job on built-in data, from a fresh clone:
#   set up -> generate the synthetic AVA-format data set (reused when it is
#   already there with the same settings) -> train STMixer on CPU ->
#   evaluate with mmaction2's AVAMetric -> training curves + a grid of val
#   keyframes -> video demo.
# About 20 minutes without the set-up on a 2-core CPU, 17-19 of them
# training (measured numbers: configs/quickstart/README.md).
# Outputs: work_dirs/quickstart/<date_time>/ and
# outputs/quickstart/<date_time>/ (a new pair for every run; nothing of an
# earlier run is deleted).
# Environment, each variable checked before anything runs (exit code 2, a
# message naming it and what it expects):
#   STMIXER_VENV            see tools/setup_env.sh
#   QUICKSTART_CFG_OPTIONS  config overrides KEY=VALUE, separated by spaces
#                           (or tabs, newlines)
#                           (e.g. "train_cfg.max_epochs=2"), for training,
#                           testing and the demo; each key must be one of
#                           the config (checked with it before the data step)
#   QUICKSTART_SEED         the training seed, an int >= 0 (default 0)
# Another QUICKSTART_* variable (a misspelling) is refused.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
refuse() { echo "quickstart: $*" >&2; exit 2; }
for var in $(compgen -e); do
    case "$var" in
        QUICKSTART_CFG_OPTIONS | QUICKSTART_SEED) ;;
        QUICKSTART_*) refuse "$var is set, but the quick start reads only" \
            "QUICKSTART_CFG_OPTIONS and QUICKSTART_SEED (a misspelling?);" \
            "unset it" ;;
    esac
done
SEED="${QUICKSTART_SEED:-0}"
[[ "$SEED" =~ ^[0-9]{1,10}$ ]] && (( 10#$SEED < 2**32 )) ||
    refuse "QUICKSTART_SEED='$SEED': expected an int in [0, 2**32 - 1]" \
        "(the training seed, tools/train.py --seed)"
# split on spaces, tabs and newlines (every line read: a plain read would
# keep the first), without glob expansion (a value with * or [ ] stays)
read -r -d '' -a CFG_OPTIONS <<< "${QUICKSTART_CFG_OPTIONS:-}" || true
for item in "${CFG_OPTIONS[@]}"; do
    if [[ "$item" == -* ]]; then
        hint=""
        [[ "$item" == --seed* ]] && hint="; for the seed set QUICKSTART_SEED"
        refuse "QUICKSTART_CFG_OPTIONS='$QUICKSTART_CFG_OPTIONS': '$item'" \
            "is a command-line flag; expected config overrides only," \
            "KEY=VALUE separated by spaces (e.g. train_cfg.max_epochs=2)$hint"
    fi
done
OPTS=()  # --cfg-options of training, testing and the demo
if [ ${#CFG_OPTIONS[@]} -gt 0 ]; then
    OPTS=(--cfg-options "${CFG_OPTIONS[@]}")
fi
T0=$(date +%s)
stamp() { printf '\n[quickstart %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
STEPS=()
TS=$(date +%s)
step_done() {  # record the wall time of the step that just ended
    local now
    now=$(date +%s)
    STEPS+=("$(printf '%-12s %5s s' "$1" "$(( now - TS ))")")
    TS=$now
}

stamp "setting up the environment"
bash tools/setup_env.sh
PY="${STMIXER_VENV:-$REPO/.venv}/bin/python"
T1=$(date +%s)
step_done setup

CFG=configs/quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py
DATA=data/synthetic_ava
# every run gets its own work and output folders: the script never deletes
# or overwrites an earlier run
RUN=$(date +%Y%m%d_%H%M%S)
WORK=work_dirs/quickstart/$RUN
OUT=outputs/quickstart/$RUN
if [ -e "$WORK" ] || [ -e "$OUT" ]; then
    echo "quickstart: $WORK or $OUT exists already; not overwriting it" >&2
    exit 1
fi
# Generator settings of the quick start: more videos than the generator's
# defaults (48 train / 8 val instead of 16 / 4), plus 6 train / 3 val videos
# with nobody in them (a scene, a uniform level, a darkened scene: the
# model learns "no person here"); everything the config must match (fps,
# seconds per video, timestamps, frame size) keeps its default.
GEN_ARGS=(--out-dir "$DATA" --num-train-videos 48 --num-val-videos 8
    --num-empty-train-videos 6 --num-empty-val-videos 3)

if [ ${#CFG_OPTIONS[@]} -gt 0 ]; then
    # checked as tools/train.py checks --cfg-options and the config, before
    # the data and the training (exit code 2)
    "$PY" - "$CFG" "${CFG_OPTIONS[@]}" <<'EOF' || exit 2
import sys

from stmixer_mm.apps.cli import parse_cfg_options
from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apps.preflight import check_config

VAR = 'QUICKSTART_CFG_OPTIONS'
try:
    options = parse_cfg_options(sys.argv[2:], VAR)
    cfg = load_config(sys.argv[1])
    for key in options:  # a key the config lacks would be ignored
        top = key.split('.')[0]
        if top == 'randomness':
            raise ValueError(
                f"{VAR} '{key}=...': the seed is QUICKSTART_SEED "
                '(tools/train.py --seed, which wins over randomness.seed)')
        if top not in cfg:
            raise ValueError(
                f"{VAR} '{key}=...': {sys.argv[1]} has no {top!r}, so it "
                'would be ignored; expected keys of the config (e.g. '
                'train_cfg.max_epochs=2; tools/misc/print_config.py '
                'prints them)')
    cfg.merge_from_dict(options)
    check_config(cfg)
except ValueError as e:
    where = '' if str(e).startswith(VAR) else (
        f'{sys.argv[1]} with {VAR}: ')
    sys.exit(f'quickstart: {where}{e}')
EOF
fi

stamp "generating the synthetic AVA-format data set in $DATA"
# The generator reuses $DATA when it holds a set made with the same
# settings; a set made with other settings is replaced (only what the
# generator writes there: rawframes/, annotations/, demo/, meta.json).
if ! "$PY" tools/data/generate_synthetic_ava.py "${GEN_ARGS[@]}"; then
    stamp "$DATA holds another synthetic set: regenerating it"
    "$PY" tools/data/generate_synthetic_ava.py "${GEN_ARGS[@]}" --overwrite
fi
step_done data

stamp "training on CPU ($CFG) in $WORK"
"$PY" tools/train.py "$CFG" --work-dir "$WORK" --seed "$SEED" "${OPTS[@]}"
CKPT=$(ls -t "$WORK"/epoch_*.pth | head -n 1)
step_done train

stamp "evaluating $CKPT on the val split with AVAMetric"
mkdir -p "$OUT"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$WORK/test" \
    --dump "$OUT/val_predictions.pkl" "${OPTS[@]}" | tee "$OUT/test_log.txt"
step_done test

stamp "pictures: training curves and val keyframes (GT green, predictions red)"
"$PY" tools/analysis_tools/visualize_results.py "$CFG" \
    --predictions "$OUT/val_predictions.pkl" --work-dir "$WORK" --out-dir "$OUT"
step_done pictures

stamp "video demo on $DATA/demo/demo.mp4"
"$PY" tools/demo.py "$DATA/demo/demo.mp4" "$CFG" "$CKPT" --out-dir "$OUT/demo" \
    "${OPTS[@]}"
step_done demo

stamp "done in $(( $(date +%s) - T0 )) s (without setup: $(( $(date +%s) - T1 )) s)"
echo "  wall time per step:"
printf '    %s\n' "${STEPS[@]}"
echo "  checkpoint      : $CKPT"
echo "  metrics         : $OUT/test_log.txt (mAP/overall and per class)"
echo "  curves / grid   : $OUT/training_curves.png, $OUT/val_grid.png"
echo "  demo            : $OUT/demo/"
