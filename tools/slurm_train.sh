#!/usr/bin/env bash
# Training on a slurm cluster (tools/train.py; the original README uses GPUS=8 on two machines).
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=""] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args ...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
need_args 4 1 "bash $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args ...]" "$@"
srun_tool "$1" "$2" train.py "$3" --work-dir="$4" --launcher=slurm "${@:5}"
