#!/usr/bin/env bash
# Colourise panoptic results and write one GIF (and optionally MP4) per sequence.
#   bash tools/visualize.sh RESULTS_DIR [--fps N] [--mp4] [--img-dir DIR] [--workers N]
set -euo pipefail
if [ "$#" -lt 1 ]; then
    echo "usage: bash $0 RESULTS_DIR [--fps N] [--mp4] [--img-dir DIR] [--workers N]" >&2
    exit 1
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" "$ROOT/tools/visualize.py" "$@"
