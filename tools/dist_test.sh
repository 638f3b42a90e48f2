#!/usr/bin/env bash
# Multi-GPU evaluation with torchrun (tools/test.py).
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args ...]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for tools/dist_train.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
need_args 3 1 "bash $0 CONFIG CHECKPOINT GPUS [test.py args ...]" "$@"
torchrun_tool "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"
