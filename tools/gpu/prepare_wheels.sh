#!/usr/bin/env bash
# The GPU machine's wheelhouse, made here (with a package registry): the
# OpenMMLab stack for CPython 3.12 (pure-python wheels and the few compiled
# ones the GPU image lacks), the mmcv 2.1.0 sdist, and the prebuilt mmcv
# 2.1.0 wheel with CUDA ops for torch 2.11.0+cu130 / cp312 where
# ../shared/wheels (or STMIXER_PREBUILT_WHEELS) holds it, which skips the
# 5-minute build there (docs/en/gpu.md).
#
#   bash tools/gpu/prepare_wheels.sh [DEST]      (default: <repo>/.gpu_wheels)
#
# Then carry DEST to the GPU machine and run tools/gpu/run_gpu_checks.sh
# there (its STMIXER_GPU_WHEELS defaults to <repo>/.gpu_wheels).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$REPO/.gpu_wheels}"
PREBUILT="${STMIXER_PREBUILT_WHEELS:-$REPO/../shared/wheels}"
# the project's environment where there is one (the sdist's metadata step
# imports torch)
PY="${STMIXER_PYTHON:-python3}"
[ -n "${STMIXER_PYTHON:-}" ] || [ ! -x "$REPO/.venv/bin/python" ] \
    || PY="$REPO/.venv/bin/python"
mkdir -p "$DEST"
"$PY" -m pip download -q --disable-pip-version-check --no-deps \
    --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d "$DEST" mmengine==0.10.7 mmdet==3.3.0 mmaction2==1.2.0 addict yapf \
    termcolor platformdirs tomli shapely terminaltables pycocotools \
    importlib_metadata==10.2.0 lazy-importer==0.1.0 setuptools==81.0.0
"$PY" -m pip download -q --disable-pip-version-check --no-deps \
    --no-binary :all: -d "$DEST" mmcv==2.1.0
found=""
for whl in "$PREBUILT"/torch2.11.0-cu130-cp312-*/mmcv-2.1.0-cp312-*.whl; do
  [ -f "$whl" ] || continue
  cp "$whl" "$DEST/"
  found="$whl"
done
if [ -n "$found" ]; then
  echo "prepare_wheels: the prebuilt mmcv with CUDA ops: $found"
else
  echo "prepare_wheels: no prebuilt mmcv wheel under $PREBUILT; the GPU" \
       "machine builds it from the sdist (about 5 minutes)"
fi
du -sh "$DEST"
