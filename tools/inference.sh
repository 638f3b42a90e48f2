#!/usr/bin/env bash
# Write video panoptic predictions (results layout: docs/data_formats.md): every argument after
# RESULTS_DIR is forwarded to tools/inference.py (the original's `${@:5}` silently dropped the
# 4th one).
#   bash tools/inference.sh CONFIG CHECKPOINT RESULTS_DIR [--split val] [--device cpu] ...
#   GPUS=2 bash tools/inference.sh ...     # torchrun, whole sequences split over 2 processes
# Python: $PYTHON if set, else the repository's .venv/bin/python if present, else python.
# Works from any working directory (tools/_common.sh).
set -euo pipefail
CALLER_PYTHON=${PYTHON:-}
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
need_args 3 2 "$0 CONFIG CHECKPOINT RESULTS_DIR [tools/inference.py options]" "$@"
PYTHON=${CALLER_PYTHON:-$PYTHON}
GPUS="${GPUS:-1}"
if [ "$GPUS" -gt 1 ]; then
    exec "$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" \
        --master_port="${PORT:-29511}" "$ROOT/tools/inference.py" "$@" --launcher pytorch
fi
exec "$PYTHON" "$ROOT/tools/inference.py" "$@"
