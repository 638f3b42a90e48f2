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
import sys
from typing import List, Optional

from video_knet.evaluation.functional import STQuality
from video_knet.evaluation.io import (add_common_args, format_table, pair_frames, percent,
                                      read_pair_tables, resolve_classes, write_json)


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
    frames = pair_frames(args.results_dir, args.gt_dir, args.sequences)
    metric = STQuality(num_classes, thing_ids, ignore_label=args.ignore_label, legacy=args.legacy)
    tables = read_pair_tables(frames, args.workers, progress=not args.no_progress,
                              cache=args.tables_cache)
    for frame, table in tables:
        metric.update_pairs(table, frame.seq_id)
    result = metric.result()
    result.update(legacy=args.legacy, thing_ids=sorted(metric.things.tolist()),
                  num_frames=len(frames))
    if args.json:
        write_json(args.json, result)
        print(f'wrote {args.json}')
    print(report(result, class_names, args.legacy), flush=True)
    return result


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        sys.exit(f'error: {error}')
