"""Instance merge rate of inference results against ground truth (docs/metrics.md,
"Instance merge rate").

Usage::

    python tools/analysis/instance_merge_rate.py RESULTS_DIR [--gt-dir GT_DIR]
        [--dataset kitti-step] [--min-overlap 0.5] [--min-area 0] [--json OUT.json]

Counts, per frame, the predicted thing segments (one class and track id > 0) that cover two or
more ground-truth instances (each with at least ``--min-overlap`` of its pixels inside the
segment): **merged**; and the ground-truth instances over which two or more predicted segments
lie (each with at least ``--min-overlap`` of its pixels inside the instance): **split**. Files
are paired as by ``tools/evaluate_stq.py`` (same options, same ``--tables-cache``). The last line
printed is the headline ``merged M of P predicted thing segments (x %), split S of G GT instances
(y %)``, the one before it the provenance of the results (``RESULTS_DIR/manifest.json``);
``--json`` is written after the figures are printed. The command line lives in
:mod:`vseg.metrics.merge_rate`.
"""
from vseg.metrics.evaluate import run_tool
from vseg.metrics.merge_rate import main

if __name__ == '__main__':
    run_tool(main)
