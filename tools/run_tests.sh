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
exec "$VENV/bin/python" -m pytest tests -q -ra "$@"
