"""The evaluator command lines (``tools/evaluate_stq.py``, ``tools/evaluate_vpq.py``).

Each ``*_main(argv)`` parses its options (:func:`vseg.metrics.evaluate.add_common_args` plus its
own), evaluates, prints readable tables in percent, the provenance line of the results folder
and, last, the headline line; only then it writes the figures as JSON if asked (fractions; NaN
as null) and returns the result dict. Only NumPy and OpenCV are imported, so ``--help`` answers
at once.
"""
import argparse
from typing import List, Optional

from .evaluate import (
    EvalSetup,
    add_common_args,
    evaluate_results,
    format_table,
    percent,
    resolve_setup,
)
from .stq import STQuality
from .vpq import VideoPanopticQuality, check_window_sizes


def stq_report(result: dict, class_names: List[str], legacy: bool) -> str:
    """STQ tables (per sequence, per class IoU) ending with the headline line."""
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


def stq_main(argv: Optional[List[str]] = None) -> dict:
    """``tools/evaluate_stq.py``: STQ / AQ / SQ of a results folder."""
    parser = argparse.ArgumentParser(description='STQ / AQ / SQ of video panoptic results.')
    add_common_args(parser)
    parser.add_argument('--legacy', action='store_true',
                        help='reproduce the original evaluate_stq.py (GT void dropped, things = '
                             'first thing id .. last class); see docs/compatibility.md')
    args = parser.parse_args(argv)
    setup: EvalSetup = resolve_setup(args)
    metric = STQuality(setup.num_classes, setup.thing_ids, ignore_label=setup.ignore_label,
                       label_divisor=setup.label_divisor, legacy=args.legacy)
    return evaluate_results(
        args, setup, metric, lambda result: stq_report(result, setup.class_names, args.legacy),
        legacy=args.legacy, thing_ids=sorted(metric.things.tolist()))


def vpq_report(result: dict, class_names: List[str], thing_ids: List[int]) -> str:
    """VPQ tables (per class and window, per window) ending with the headline line."""
    windows = result['per_window']
    class_rows = []
    for c, name in enumerate(class_names):
        if c not in next(iter(windows.values()))['per_class']:
            continue
        kind = 'thing' if c in thing_ids else 'stuff'
        class_rows.append([c, name, kind] + [percent(w['per_class'][c]['PQ'])
                                             for w in windows.values()])
    window_rows = [[k, w['num_windows'], percent(w['VPQ']), percent(w['VPQ_th']),
                    percent(w['VPQ_st']), percent(w['VPQ_present'])] for k, w in windows.items()]
    sizes = ' '.join(str(k) for k in windows)
    return '\n'.join([
        format_table(['class', 'name', 'kind'] + [f'PQ@{k}' for k in windows], class_rows), '',
        format_table(['k', 'windows', 'VPQ', 'VPQ_th', 'VPQ_st', 'VPQ_present'], window_rows), '',
        f'VPQ {percent(result["VPQ"])}  VPQ_th {percent(result["VPQ_th"])}  '
        f'VPQ_st {percent(result["VPQ_st"])}  (mean over k = {sizes})'])


def vpq_main(argv: Optional[List[str]] = None) -> dict:
    """``tools/evaluate_vpq.py``: VPQ over k-frame windows of a results folder."""
    parser = argparse.ArgumentParser(description='VPQ over k-frame windows of video panoptic '
                                                 'results.')
    add_common_args(parser)
    parser.add_argument('--window-sizes', type=int, nargs='+', default=[1, 2, 3, 4],
                        help='window sizes k (default: %(default)s)')
    args = parser.parse_args(argv)
    setup = resolve_setup(args)
    metric = VideoPanopticQuality(setup.num_classes, setup.thing_ids, args.window_sizes,
                                  ignore_label=setup.ignore_label,
                                  label_divisor=setup.label_divisor)
    return evaluate_results(
        args, setup, metric, lambda result: vpq_report(result, setup.class_names,
                                                       metric.thing_ids),
        check=lambda sequences: check_window_sizes(metric.window_sizes, sequences),
        window_sizes=metric.window_sizes, thing_ids=metric.thing_ids)
