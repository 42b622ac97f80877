#!/usr/bin/env bash
# Style checks declared in setup.cfg ([flake8], [isort], [yapf],
# [codespell]) on the files git tracks, with the pinned tools of
# requirements/lint.txt from the project's virtualenv (tools/setup_env.sh
# installs them). Check-only: prints what each tool flags and exits 1 if any
# tool flags something. .ci/run calls it; .pre-commit-config.yaml runs the
# same tools on the staged files.
#
#   bash tools/lint.sh              # check
#   LINT_FIX=1 bash tools/lint.sh   # rewrite in place (isort, yapf,
#                                   # codespell -w); flake8 only reports
# Environment: STMIXER_VENV (default <repo>/.venv).
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${STMIXER_VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
cd "$REPO" || exit 2

for tool in flake8 isort yapf codespell_lib; do
  if ! "$PY" -c "import $tool" 2>/dev/null; then
    echo "lint: $tool is not installed in $VENV (bash tools/setup_env.sh" \
         "installs requirements/lint.txt)" >&2
    exit 2
  fi
done

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t PY_FILES < <(git ls-files --cached --others --exclude-standard \
    '*.py' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
  mapfile -t ALL_FILES < <(git ls-files --cached --others --exclude-standard \
    | while read -r f; do [ -f "$f" ] && echo "$f"; done)
else  # an exported tree: the project's own folders
  mapfile -t PY_FILES < <(find stmixer_mm tools tests configs setup.py \
    -name '*.py' -type f | sort)
  mapfile -t ALL_FILES < <(find stmixer_mm tools tests configs docs \
    setup.py setup.cfg README.md -type f 2>/dev/null | sort)
fi

RC=0
run() {  # run NAME CMD...: report and remember a failure
  local name=$1 out status
  shift
  out=$("$@" 2>&1)
  status=$?
  if [ "$status" -eq 0 ]; then
    echo "lint: $name OK"
  else
    printf '%s\n' "$out"
    echo "lint: $name FAILED (exit $status)"
    RC=1
  fi
}

if [ "${LINT_FIX:-0}" = 1 ]; then
  run isort "$PY" -m isort "${PY_FILES[@]}"
  run yapf "$PY" -m yapf --parallel --in-place "${PY_FILES[@]}"
  run codespell "$PY" -m codespell_lib -w "${ALL_FILES[@]}"
  run flake8 "$PY" -m flake8 "${PY_FILES[@]}"
else
  run flake8 "$PY" -m flake8 "${PY_FILES[@]}"
  run isort "$PY" -m isort --check-only --diff "${PY_FILES[@]}"
  # --parallel: one process per core (a minute on one core, half on two)
  run yapf "$PY" -m yapf --parallel --diff "${PY_FILES[@]}"
  run codespell "$PY" -m codespell_lib "${ALL_FILES[@]}"
fi
exit "$RC"
