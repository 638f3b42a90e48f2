#!/usr/bin/env bash
# Colourise panoptic results and write one GIF (and optionally MP4) per sequence.
#   bash tools/visualize.sh RESULTS_DIR [--fps N] [--mp4] [--img-dir DIR] [--workers N]
# Works from any working directory (tools/_common.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
need_args 1 1 "bash $0 RESULTS_DIR [--fps N] [--mp4] [--img-dir DIR] [--workers N]" "$@"
exec "$PYTHON" "$ROOT/tools/visualize.py" "$@"
