#!/usr/bin/env bash
# The main job on built-in data, from a fresh clone:
#   set up -> generate the synthetic AVA-format data set (if missing)
#   -> train STMixer on CPU -> evaluate with mmaction2's AVAMetric
#   -> training curves + a grid of val keyframes -> video demo.
# Environment: STMIXER_VENV (see tools/setup_env.sh), QUICKSTART_CFG_OPTIONS
# (extra --cfg-options for training, e.g. "train_cfg.max_epochs=2").
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
T0=$(date +%s)
stamp() { printf '\n[quickstart %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

stamp "setting up the environment"
bash tools/setup_env.sh
PY="${STMIXER_VENV:-$REPO/.venv}/bin/python"
T1=$(date +%s)

CFG=configs/quickstart/stmixer_r3d-tiny_1xb8-8x2x1-8e_synthetic-ava-rgb.py
DATA=data/synthetic_ava
WORK=work_dirs/quickstart
OUT=outputs/quickstart

stamp "generating the synthetic AVA-format data set in $DATA (skipped if present)"
"$PY" tools/data/generate_synthetic_ava.py "$DATA" --skip-existing

stamp "training on CPU ($CFG)"
rm -rf "$WORK"
# shellcheck disable=SC2086
"$PY" tools/train.py "$CFG" --work-dir "$WORK" --seed 0 \
    ${QUICKSTART_CFG_OPTIONS:+--cfg-options $QUICKSTART_CFG_OPTIONS}
CKPT=$(ls -t "$WORK"/epoch_*.pth | head -n 1)

stamp "evaluating $CKPT on the val split with AVAMetric"
mkdir -p "$OUT"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$WORK/test" \
    --dump "$OUT/val_predictions.pkl" | tee "$OUT/test_log.txt"

stamp "pictures: training curves and val keyframes (GT green, predictions red)"
"$PY" tools/analysis_tools/visualize_results.py "$CFG" \
    --predictions "$OUT/val_predictions.pkl" --work-dir "$WORK" --out-dir "$OUT"

stamp "video demo on $DATA/demo.mp4"
"$PY" tools/demo.py "$DATA/demo.mp4" "$CFG" "$CKPT" --out-dir "$OUT/demo"

stamp "done in $(( $(date +%s) - T0 )) s (without setup: $(( $(date +%s) - T1 )) s)"
echo "  checkpoint      : $CKPT"
echo "  metrics         : $OUT/test_log.txt (mAP/overall and per class)"
echo "  curves / grid   : $OUT/training_curves.png, $OUT/val_grid.png"
echo "  demo            : $OUT/demo/"
