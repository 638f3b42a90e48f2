#!/usr/bin/env bash
# Multi-GPU training with torchrun (DESIGN.md §7).
#   bash tools/dist_train.sh CONFIG GPUS [WORK_DIR] [train.py args ...]
# Multi-node: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host PORT=29500 bash tools/dist_train.sh ...
# Without CUDA, tools/train.py switches the process group to gloo.
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: bash $0 CONFIG GPUS [WORK_DIR] [train.py args ...]" >&2
    exit 1
fi
CONFIG=$1
GPUS=$2
shift 2
WORK_DIR_ARGS=()
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    WORK_DIR_ARGS=(--work-dir "$1")
    shift
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch \
    ${WORK_DIR_ARGS[@]+"${WORK_DIR_ARGS[@]}"} "$@"
