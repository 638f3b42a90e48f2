#!/usr/bin/env bash
# VPQ of inference results (DESIGN.md §9.3).
# Usage: bash tools/evaluate_vpq.sh RESULTS_DIR [GT_DIR] [extra options of tools/evaluate_vpq.py]
# GT_DIR defaults to ${KNET_DATA_ROOT:-datasets}/kitti-step/video_sequence/val.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: bash tools/evaluate_vpq.sh RESULTS_DIR [GT_DIR] [options]" >&2
    exit 2
fi
RESULTS_DIR=$1
shift
GT_DIR=${KNET_DATA_ROOT:-datasets}/kitti-step/video_sequence/val
if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then
    GT_DIR=$1
    shift
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=python
if [ -x "$REPO/.venv/bin/python" ]; then
    PYTHON=$REPO/.venv/bin/python
fi
exec "$PYTHON" "$REPO/tools/evaluate_vpq.py" "$RESULTS_DIR" --gt-dir "$GT_DIR" "$@"
