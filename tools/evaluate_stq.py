"""STQ of inference results against KITTI-STEP ground truth (DESIGN.md §9.2, §12 item 18).

Usage::

    python tools/evaluate_stq.py RESULTS_DIR --gt-dir GT_DIR [--legacy] [--json OUT.json]

``RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_{cat,ins}.png`` are paired by name with
``GT_DIR/{seq:06d}_{frame:06d}_panoptic.png``. Thing classes and the number of classes default to
the KITTI-STEP dataset metainfo. ``--legacy`` reproduces the original ``evaluate_stq.py`` (GT-void
pixels dropped, every class from the first thing id on counted as a thing) to compare with numbers
published with that script. The last line printed is the headline ``STQ .. AQ .. SQ ..``.
"""
import argparse
from typing import List, Optional

from video_knet.evaluation.functional import STQuality
from video_knet.evaluation.io import (add_common_args, evaluate_results, format_table, percent,
                                      resolve_classes, run_tool)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description='STQ / AQ / SQ of video panoptic results.')
    add_common_args(parser)
    parser.add_argument('--legacy', action='store_true',
                        help='reproduce the original evaluate_stq.py (GT void dropped, things = '
                             'first thing id .. last class)')
    return parser.parse_args(argv)


def report(result: dict, class_names: List[str], legacy: bool) -> str:
    """Readable tables (percent) ending with the headline line."""
    seq_rows = [[seq, r['num_frames'], r['num_tubes'], percent(r['STQ']), percent(r['AQ']),
                 percent(r['SQ'])] for seq, r in result['per_sequence'].items()]
    names = dict(enumerate(class_names))
    iou_rows = [[c, names.get(c, 'void'), percent(v)] for c, v in result['per_class_iou'].items()]
    mode = ' (legacy evaluate_stq.py mode)' if legacy else ''
    return '\n'.join([
        format_table(['sequence', 'frames', 'tubes', 'STQ', 'AQ', 'SQ'], seq_rows), '',
        format_table(['class', 'name', 'IoU'], iou_rows), '',
        f'STQ {percent(result["STQ"])}  AQ {percent(result["AQ"])}  SQ {percent(result["SQ"])}'
        f'{mode}'])


def main(argv: Optional[List[str]] = None) -> dict:
    """Evaluate, print the tables and the headline, optionally write JSON; return the result."""
    args = parse_args(argv)
    num_classes, thing_ids, class_names = resolve_classes(args)
    metric = STQuality(num_classes, thing_ids, ignore_label=args.ignore_label, legacy=args.legacy)
    return evaluate_results(args, metric, lambda result: report(result, class_names, args.legacy),
                            legacy=args.legacy, thing_ids=sorted(metric.things.tolist()))


if __name__ == '__main__':
    run_tool(main)
