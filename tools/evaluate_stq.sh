#!/usr/bin/env bash
# STQ of inference results (docs/metrics.md).
# Usage: bash tools/evaluate_stq.sh RESULTS_DIR [GT_DIR] [extra options of tools/evaluate_stq.py]
# GT_DIR defaults to $KNET_DATA_ROOT/kitti-step/video_sequence/val, KNET_DATA_ROOT to the
# repository's datasets/ (from any working directory: tools/_common.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_evaluator stq "$@"
