#!/usr/bin/env bash
# Evaluation on a slurm cluster (tools/test.py).
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=""] \
#       bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args ...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
need_args 4 1 "bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args ...]" "$@"
srun_tool "$1" "$2" test.py "$3" "$4" --launcher=slurm "${@:5}"
