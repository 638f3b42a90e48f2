"""STQ of inference results against ground truth (docs/metrics.md, "STQ").

Usage::

    python tools/evaluate_stq.py RESULTS_DIR [--gt-dir GT_DIR] [--dataset kitti-step]
                                 [--legacy] [--json OUT.json]

``RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_{cat,ins}.png`` are paired by name with the
ground truth of the dataset's format (KITTI-STEP: ``GT_DIR/{seq:06d}_{frame:06d}_panoptic.png``);
classes and thing ids come from the dataset metainfo. ``--legacy`` reproduces the original
``evaluate_stq.py`` (docs/compatibility.md). The last line printed is the headline
``STQ .. AQ .. SQ ..``, the one before it the provenance of the results
(``RESULTS_DIR/manifest.json``); ``--json`` is written after the figures are printed. The command
line lives in :mod:`vseg.metrics.cli`.
"""
from vseg.metrics.cli import stq_main as main
from vseg.metrics.evaluate import run_tool

if __name__ == '__main__':
    run_tool(main)
