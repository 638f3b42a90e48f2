#!/usr/bin/env bash
# Write video panoptic predictions (results layout: docs/data_formats.md): every argument after
# RESULTS_DIR is forwarded to tools/inference.py (the original's `${@:5}` silently dropped the
# 4th one).
#   bash tools/inference.sh CONFIG CHECKPOINT RESULTS_DIR [--split val] [--device cpu] ...
#   GPUS=2 bash tools/inference.sh ...     # torchrun, whole sequences split over 2 processes
# Python: $PYTHON if set, else the repository's .venv/bin/python if present, else python3.
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT RESULTS_DIR [tools/inference.py options]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
GPUS="${GPUS:-1}"
if [ "$GPUS" -gt 1 ]; then
    exec "$PY" -m torch.distributed.run --nproc_per_node="$GPUS" \
        --master_port="${PORT:-29511}" "$ROOT/tools/inference.py" "$@" --launcher pytorch
fi
exec "$PY" "$ROOT/tools/inference.py" "$@"
