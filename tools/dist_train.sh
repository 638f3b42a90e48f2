#!/usr/bin/env bash
# Multi-GPU training with torchrun (tools/train.py).
#   bash tools/dist_train.sh CONFIG GPUS [WORK_DIR] [train.py args ...]
# Multi-node: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host PORT=29500 bash tools/dist_train.sh ...
# Without CUDA, tools/train.py switches the process group to gloo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
need_args 2 1 "bash $0 CONFIG GPUS [WORK_DIR] [train.py args ...]" "$@"
CONFIG=$1
GPUS=$2
shift 2
WORK_DIR_ARGS=()
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    WORK_DIR_ARGS=(--work-dir "$1")
    shift
fi
torchrun_tool "$GPUS" train.py "$CONFIG" --launcher pytorch \
    ${WORK_DIR_ARGS[@]+"${WORK_DIR_ARGS[@]}"} "$@"
