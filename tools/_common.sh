# Shared by the tools/*.sh entry points, which source it after `set -euo pipefail`: the
# repository root, its Python (.venv/bin/python if present, else python), the argument check and
# the three ways of starting a tools/*.py script (evaluator, torchrun, srun). An entry point only
# names its arguments and the script it runs.
#
# The entry points work from any working directory: the repository is found from this file's
# path (CDPATH ignored), its packages are put first on PYTHONPATH, and the data root of the
# configs and evaluators, KNET_DATA_ROOT, defaults to the repository's datasets/ (not to
# ./datasets of the working directory). Paths given as arguments stay relative to the working
# directory.
ROOT="$(CDPATH='' cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
export KNET_DATA_ROOT="${KNET_DATA_ROOT:-$ROOT/datasets}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# need_args MIN STATUS USAGE "$@": with fewer than MIN arguments, print "usage: USAGE" and exit
# with STATUS.
need_args() {
    local min=$1 status=$2 usage=$3
    shift 3
    if [ "$#" -lt "$min" ]; then
        echo "usage: $usage" >&2
        exit "$status"
    fi
}

# run_evaluator METRIC RESULTS_DIR [GT_DIR] [options]: tools/evaluate_METRIC.py, GT_DIR defaulting
# to $KNET_DATA_ROOT/kitti-step/video_sequence/val.
run_evaluator() {
    local metric=$1
    shift
    need_args 1 2 "bash tools/evaluate_$metric.sh RESULTS_DIR [GT_DIR] [options]" "$@"
    local results_dir=$1
    shift
    local gt_dir=$KNET_DATA_ROOT/kitti-step/video_sequence/val
    if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then
        gt_dir=$1
        shift
    fi
    exec "$PYTHON" "$ROOT/tools/evaluate_$metric.py" "$results_dir" --gt-dir "$gt_dir" "$@"
}

# torchrun_tool NPROC SCRIPT.py ARGS...: tools/SCRIPT.py in NPROC processes of this node through
# torch.distributed.run; NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1) and PORT (29500)
# place the node.
torchrun_tool() {
    local nproc=$1 script=$2
    shift 2
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="${PORT:-29500}" \
        --nproc_per_node="$nproc" \
        "$ROOT/tools/$script" "$@"
}

# srun_tool PARTITION JOB_NAME SCRIPT.py ARGS...: tools/SCRIPT.py as a slurm job of GPUS (8) tasks,
# GPUS_PER_NODE (8) per node with CPUS_PER_TASK (5) CPUs each, plus the srun options SRUN_ARGS.
srun_tool() {
    local partition=$1 job_name=$2 script=$3
    shift 3
    local gpus=${GPUS:-8} gpus_per_node=${GPUS_PER_NODE:-8} cpus_per_task=${CPUS_PER_TASK:-5}
    set -x
    # SRUN_ARGS is split on spaces on purpose (several srun options in one variable).
    # shellcheck disable=SC2086
    srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="$gpus" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="$cpus_per_task" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$ROOT/tools/$script" "$@"
}
