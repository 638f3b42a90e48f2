#!/usr/bin/env bash
# VPQ of inference results (docs/metrics.md).
# Usage: bash tools/evaluate_vpq.sh RESULTS_DIR [GT_DIR] [extra options of tools/evaluate_vpq.py]
# GT_DIR defaults to $KNET_DATA_ROOT/kitti-step/video_sequence/val, KNET_DATA_ROOT to the
# repository's datasets/ (from any working directory: tools/_common.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_evaluator vpq "$@"
