"""VPQ of inference results against ground truth (docs/metrics.md, "VPQ").

Usage::

    python tools/evaluate_vpq.py RESULTS_DIR [--gt-dir GT_DIR] [--dataset kitti-step]
                                 [--window-sizes 1 2 3 4] [--json OUT.json]

Every run of k consecutive frames of a sequence is one spatio-temporal image (window size k; no
window spans a frame gap, and a k longer than every sequence is an error); the headline VPQ /
VPQ_th / VPQ_st are the means over the requested window sizes. ``--window-sizes 1`` gives the
per-frame figure that the original ``evaluate_vpq.py`` prints (its default). The last line
printed is the headline ``VPQ .. VPQ_th .. VPQ_st ..``, the one before it the provenance of the
results (``RESULTS_DIR/manifest.json``); ``--json`` is written after the figures are printed. The
command line lives in :mod:`vseg.metrics.cli`.
"""
from vseg.metrics.cli import vpq_main as main
from vseg.metrics.evaluate import run_tool

if __name__ == '__main__':
    run_tool(main)
