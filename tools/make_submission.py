"""Turn a results folder of our layout into the official submission of a benchmark.

Usage::

    python tools/make_submission.py RESULTS --format vipseg --gt-dir datasets/VIPSeg_720P \
        --out SUBMIT

VIPSeg: ``SUBMIT/pan_pred/<video>/<frame>.png`` (segment colours, id = (class + 1) << 16 | track
id) + ``SUBMIT/pred.json``, ready for ``tools/evaluate_vpq.py SUBMIT --format vipseg`` or the
official scripts. Result sequence ``s`` is the ``s``-th video of ``val.txt`` and frame ``f`` the
``f``-th mask of that video, as ``VIPSegDataset`` numbers them. Thin over
:func:`vseg.formats.vipseg.submission_from_results`; imports neither torch nor mmengine.
"""
import argparse
import sys
from typing import List, Optional

from vseg.formats import vipseg


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results_dir', help='inference output (panoptic/{seq}/..._cat/_ins.png)')
    parser.add_argument('--format', choices=['vipseg'], required=True, help='the benchmark')
    parser.add_argument('--gt-dir', required=True,
                        help='the dataset root with val.txt and panomasks/ (frame names)')
    parser.add_argument('--out', required=True, help='the submission folder to write')
    args = parser.parse_args(argv)
    try:
        path = vipseg.submission_from_results(args.results_dir, args.gt_dir, args.out,
                                              progress=True)
    except (OSError, ValueError) as error:
        sys.exit(f'error: {error}')
    print(f'wrote {path} and {args.out}/pan_pred/')


if __name__ == '__main__':
    main()
