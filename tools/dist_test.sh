#!/usr/bin/env bash
# Distributed testing through torchrun (mmengine's "pytorch" launcher).
# On a machine without CUDA the processes use the gloo backend.
# Python: $PYTHON, else the project's .venv (or $STMIXER_VENV), else python.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py options...]
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# the interpreter: $PYTHON if set, else the project's virtualenv
# (tools/setup_env.sh: $STMIXER_VENV or ./.venv) when it exists, else python
VENV_PY="${STMIXER_VENV:-$DIR/../.venv}/bin/python"
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif [ -x "$VENV_PY" ]; then
    PY=$VENV_PY
else
    PY=python
fi
PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
