#!/usr/bin/env bash
# Set up the environment (idempotent, see tools/setup_env.sh) and run the
# test suite. Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/setup_env.sh"
VENV="${STMIXER_VENV:-$REPO/.venv}"
cd "$REPO"
exec "$VENV/bin/python" -m pytest tests -q -ra "$@"
