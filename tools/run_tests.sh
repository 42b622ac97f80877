#!/usr/bin/env bash
# Set up the environment (idempotent, see tools/setup_env.sh; skipped with
# STMIXER_SKIP_SETUP=1, as .ci/run does after its own set-up) and run the
# test suite. Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${STMIXER_SKIP_SETUP:-0}" != 1 ]; then
  bash "$REPO/tools/setup_env.sh"
fi
VENV="${STMIXER_VENV:-$REPO/.venv}"
cd "$REPO"
# Two test processes, one per core (pytest-xdist, whole test files per
# process so that a file's fixtures are built once), one thread each, the
# files in the order of tests/conftest.py (those with slow tests first);
# STMIXER_TEST_WORKERS=0 runs the suite in this process.
WORKERS="${STMIXER_TEST_WORKERS:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
# Bytecode caches written as Python writes them by default (a machine may set
# PYTHONDONTWRITEBYTECODE): else every interpreter a test starts (the tools,
# the CLI, the fresh virtualenvs of the install tests) compiles every module
# it imports again, the package's own and, in a fresh virtualenv, torch's.
unset PYTHONDONTWRITEBYTECODE
XDIST=()
if [ "$WORKERS" != 0 ]; then
  XDIST=(-n "$WORKERS" --dist loadfile --no-loadscope-reorder)
fi
exec "$VENV/bin/python" -m pytest tests -q -ra "${XDIST[@]}" "$@"
