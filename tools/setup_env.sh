#!/usr/bin/env bash
# Set up (or reuse) the Python environment for stmixer_mm. Idempotent.
#
#   bash tools/setup_env.sh            # creates/reuses ./.venv
#   STMIXER_VENV=/path/env bash tools/setup_env.sh
#
# Environment variables:
#   STMIXER_VENV        virtualenv to create/reuse (default: <repo>/.venv)
#   STMIXER_PYTHON      interpreter used to create it (default: python3)
#   STMIXER_TORCH       torch requirement (default: torch==2.13.0; on a CUDA
#                       machine e.g. "torch==2.11.0" with PIP_INDEX_URL set to
#                       the matching PyTorch index)
#   STMIXER_WHEEL_DIR   extra local directory of prebuilt wheels (mmcv ...)
#   MMCV_MAX_JOBS       compiler jobs when mmcv has to be built (default 2)
#
# Steps: torch first (pinned, so no other package can pull a CUDA build),
# then mmcv 2.1.0 *with ops* (a local wheel when one matches, otherwise built
# from the PyPI sdist with --no-build-isolation; pip's wheel cache keeps the
# result), then the rest of the pinned stack (mmaction2 --no-deps: one
# OpenCV), the test and lint tools, then the plugin in editable mode (linked
# where mim looks for it), and a self-check that fails loudly if anything is
# missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${STMIXER_VENV:-$REPO/.venv}"
PY="${STMIXER_PYTHON:-python3}"
TORCH_REQ="${STMIXER_TORCH:-torch==2.13.0}"
T0=$(date +%s)

log() { printf '[setup_env %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
# --no-compile: pip would compile every installed module (torch's, sympy's,
# scipy's ...: 20 s of the torch install alone); Python writes the caches of
# the modules it imports instead (the checks below import torch and the
# stack), others are compiled when first imported. Caches are written even
# where the machine sets PYTHONDONTWRITEBYTECODE: without them every import
# of torch in this script would compile it again.
unset PYTHONDONTWRITEBYTECODE
PIP=("$VPY" -m pip install --disable-pip-version-check --no-compile)

# Local wheel sources: the user's, and the project's shared build cache.
FIND_LINKS=()
for d in "${STMIXER_WHEEL_DIR:-}" "$REPO/../shared/wheels"/*; do
  [ -n "$d" ] && [ -d "$d" ] && FIND_LINKS+=(--find-links "$d")
done

have() { "$VPY" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
name, want = sys.argv[1], sys.argv[2]
sys.exit(0 if version(name) == want else 1)
PYEOF
}

# The browser of stmixer-web's browser test (tests/test_apis/
# test_web_demo.py, selenium from requirements/web.txt below): Debian's
# chromium + chromium-driver, installed with apt only when missing and
# when this runs as root with apt-get (about 30 s on a fresh Debian 12
# machine with a near mirror), in the background beside the pip steps
# (waited for before the self-check); elsewhere the test is skipped, saying
# what is missing. STMIXER_BROWSER=0 skips this step.
BROWSER_PID=
if [ "${STMIXER_BROWSER:-1}" != 0 ] && \
   { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing chromium + chromium-driver (apt, in the background; STMIXER_BROWSER=0 skips)"
    BROWSER_LOG="$(mktemp "${TMPDIR:-/tmp}/stmixer-apt.XXXXXX")"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        chromium chromium-driver; } > "$BROWSER_LOG" 2>&1 &
    BROWSER_PID=$!
  else
    log "no chromium / chromedriver (not root, or no apt-get): the browser test of stmixer-web will be skipped"
  fi
fi

# 1. build tooling (mmcv's setup.py needs pkg_resources: setuptools < 82)
log "build tooling"
"${PIP[@]}" -q 'pip>=23' 'setuptools>=64,<82' wheel ninja

# 2. torch, pinned
if ! "$VPY" -c "import torch" 2>/dev/null; then
  log "installing $TORCH_REQ"
  "${PIP[@]}" "$TORCH_REQ"
fi
TORCH_VER=$("$VPY" -c "import torch; print(torch.__version__)")
log "torch $TORCH_VER"
# Every later pip call is constrained to this torch, so nothing can swap it.
CONSTRAINTS="$VENV/stmixer-constraints.txt"
printf 'torch==%s\nsetuptools<82\n' "${TORCH_VER}" > "$CONSTRAINTS"
PIPC=("${PIP[@]}" -c "$CONSTRAINTS")
# torch itself may pull setuptools >= 82 (no pkg_resources): put it back.
"${PIPC[@]}" -q 'setuptools>=64,<82'

# 3. mmcv 2.1.0 with compiled ops
mmcv_ops_ok() { "$VPY" -c "import mmcv, mmcv.ops, mmcv._ext; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; }
if ! mmcv_ops_ok; then
  "${PIPC[@]}" -q 'numpy>=1.24' 'opencv-python>=4.10,<5' mmengine==0.10.7 \
    addict packaging Pillow pyyaml yapf
  log "installing mmcv 2.1.0 (local wheel if one matches this torch, else compile ops: ~40 min on 2 cores)"
  # torch >= 2.14 headers need C++20; mmcv's setup.py hard-codes c++17.
  TORCH_MINOR=$(IFS=.; set -- ${TORCH_VER%%+*}; echo $(( $1 * 100 + $2 )))
  if [ "$TORCH_MINOR" -ge 214 ]; then
    export STMIXER_MMCV_CXX20=1
  fi
  if "${PIPC[@]}" --no-index "${FIND_LINKS[@]}" --no-deps mmcv==2.1.0 2>/dev/null && mmcv_ops_ok; then
    log "mmcv from a local wheel"
  else
    "$VPY" -m pip uninstall -y -q mmcv 2>/dev/null || true
    # A CUDA torch builds mmcv's CUDA ops too: torch >= 2.? ships no THC/
    # headers, and mmcv 2.1.0's sources include THC/THCAtomics.cuh (a shim
    # for ATen/cuda/Atomic.cuh): patched in a copy of the sdist, as are the
    # C++20 flags that torch >= 2.14 headers need (docs/en/gpu.md).
    TORCH_CUDA=$("$VPY" -c "import torch; print(int(torch.version.cuda is not None))")
    if [ "${STMIXER_MMCV_CXX20:-0}" = 1 ] || [ "$TORCH_CUDA" = 1 ]; then
      SRC=$(mktemp -d)
      "$VPY" -m pip download --no-deps --no-binary :all: -d "$SRC" mmcv==2.1.0
      tar -xzf "$SRC"/mmcv-2.1.0.tar.gz -C "$SRC"
      if [ "${STMIXER_MMCV_CXX20:-0}" = 1 ]; then
        sed -i 's/-std=c++17/-std=c++20/g' "$SRC/mmcv-2.1.0/setup.py"
      fi
      grep -rl 'THC/THCAtomics.cuh' "$SRC/mmcv-2.1.0/mmcv/ops/csrc" | xargs -r \
        sed -i 's#<THC/THCAtomics.cuh>#<ATen/cuda/Atomic.cuh>#'
      MMCV_TARGET="$SRC/mmcv-2.1.0"
    else
      MMCV_TARGET="mmcv==2.1.0"
    fi
    MMCV_WITH_OPS=1 MAX_JOBS="${MMCV_MAX_JOBS:-2}" \
      "${PIPC[@]}" --no-build-isolation --no-deps "$MMCV_TARGET"
    mmcv_ops_ok || { echo "ERROR: mmcv 2.1.0 installed but mmcv._ext (compiled ops) does not load" >&2; exit 1; }
  fi
fi
log "mmcv 2.1.0 with ops"  # (mmcv_ops_ok checks the version)

# 4. the rest of the stack, the test and lint tools; mmaction2 without its
# declared dependencies (opencv-contrib-python would be a second cv2 beside
# opencv-python, see requirements/nodeps.txt)
log "mmengine / mmdet / mmaction2 and their real dependencies, test and lint tools"
grep -v -E '^mmcv==' "$REPO/requirements/runtime.txt" > "$VENV/stmixer-req.txt"
"${PIPC[@]}" -q -r "$VENV/stmixer-req.txt" -r "$REPO/requirements/tests.txt" \
  -r "$REPO/requirements/lint.txt"
have mmaction2 1.2.0 || "${PIPC[@]}" -q --no-deps -r "$REPO/requirements/nodeps.txt"

# 5. the plugin, editable. setup.py links stmixer_mm/.mim/{configs,tools,
# model-index.yml} to the repository's; mim (search/train/test/run) looks for
# them under <site-packages>/stmixer_mm, which an editable (PEP 660) install
# does not create: link it to the source package (imports then resolve there
# too, to the same files). A real folder there (a non-editable install) is
# left alone.
log "installing stmixer_mm (editable)"
"${PIPC[@]}" -q --no-deps --no-build-isolation -e "$REPO"
SITE=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [ -L "$SITE/stmixer_mm" ] || [ ! -e "$SITE/stmixer_mm" ]; then
  ln -sfn "$REPO/stmixer_mm" "$SITE/stmixer_mm"
else
  log "WARNING: $SITE/stmixer_mm is a real folder (a non-editable install?): left as it is"
fi

if [ -n "$BROWSER_PID" ]; then
  if wait "$BROWSER_PID"; then
    log "chromium + chromium-driver installed"
  else
    tail -n 5 "$BROWSER_LOG" >&2
    log "WARNING: apt-get could not install chromium chromium-driver: the browser test will be skipped"
  fi
  rm -f "$BROWSER_LOG"
fi

# 6. self-check
log "self-check"
"$VPY" - <<'PYEOF'
import importlib.metadata as md
import os.path as osp
import mmcv.ops
from mmcv.ops import MultiScaleDeformableAttention, RoIAlign  # noqa: F401
import mmdet.models  # noqa: F401
import stmixer_mm  # applies the documented mmaction2 packaging fix if needed
import mmaction.models  # noqa: F401
from stmixer_mm.utils import check_dependencies
check_dependencies(strict=True)  # versions, one OpenCV 4, mmcv ops
from mim.utils import get_installed_path  # what `mim search/train` read
index = f"{get_installed_path('stmixer_mm')}/.mim/model-index.yml"
assert osp.isfile(index), f'{index} is missing: mim search would fail'
for p in ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmaction2', 'numpy',
          'scipy', 'opencv-python', 'pycocotools', 'setuptools', 'flake8',
          'isort', 'yapf', 'codespell'):
    print(f'  {p:14s} {md.version(p)}')
print('self-check OK')
PYEOF
log "done: activate with 'source $VENV/bin/activate'"
