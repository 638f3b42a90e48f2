"""Turn a results folder of our layout into the official submission of a benchmark.

Usage::

    python tools/make_submission.py RESULTS --format vipseg --gt-dir datasets/VIPSeg_720P \
        --out SUBMIT [--split val]

VIPSeg: ``SUBMIT/pan_pred/<video>/<frame>.png`` (segment colours, id = (class + 1) << 16 | track
id) + ``SUBMIT/pred.json``, ready for ``tools/evaluate_vpq.py SUBMIT --format vipseg`` or the
official scripts. Result sequence ``s`` is the ``s``-th video of ``{split}.txt`` and frame ``f``
the ``f``-th image of that video, as ``VIPSegDataset`` numbers them. ``tools/inference.py``
writes the same folder as ``RESULTS/submission/`` by itself. The folder is built beside ``--out``
and replaces it only when complete; an ``--out`` holding other files is refused. Thin over
:func:`vseg.metrics.benchmark_eval.write_submission`; imports neither torch nor mmengine.
"""
import argparse
import sys
from typing import List, Optional

from vseg.metrics.benchmark_eval import BENCHMARKS, write_submission


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results_dir', help='inference output (panoptic/{seq}/..._cat/_ins.png)')
    parser.add_argument('--format', choices=sorted(BENCHMARKS), required=True,
                        help='the benchmark')
    parser.add_argument('--gt-dir', required=True,
                        help='the dataset root (vipseg: the VIPSeg_720P folder with the split '
                             'lists and images/; cityscapes-vps: the folder holding val/)')
    parser.add_argument('--split', default='val', help='the split of the results (default val)')
    parser.add_argument('--out', required=True, help='the submission folder to write')
    parser.add_argument('--frames', choices=['labelled', 'all'],
                        help='cityscapes-vps: the results hold the labelled frames only '
                             '(labelled, frames 0..5 of each clip) or every raw frame (all, '
                             'numbered by the frame number in the clip; what the dataset\'s '
                             'frames="all" gives); default labelled')
    args = parser.parse_args(argv)
    options = {} if args.frames is None else dict(frames=args.frames)
    try:
        path = write_submission(args.format, args.results_dir, args.gt_dir, args.out,
                                split=args.split, progress=True, **options)
    except (OSError, ValueError) as error:
        sys.exit(f'error: {error}')
    print(f'wrote {path} and {args.out}/pan_pred/')


if __name__ == '__main__':
    main()
