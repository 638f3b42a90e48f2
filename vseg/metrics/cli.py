"""The evaluator command lines (``tools/evaluate_stq.py``, ``tools/evaluate_vpq.py``).

With ``--format vipseg`` (or another official benchmark of
:data:`vseg.metrics.benchmark_eval.BENCHMARKS`) a tool scores that benchmark's official
submission (``SUBMIT/pan_pred/`` + ``pred.json``) against its official ground truth with the
benchmark's own definition (:func:`benchmark_main`); without it, a results folder of our
layout against a dataset's ground truth.

Each ``*_main(argv)`` parses its options (:func:`vseg.metrics.evaluate.add_common_args` plus its
own), evaluates, prints readable tables in percent, the provenance line of the results folder
and, last, the headline line; only then it writes the figures as JSON if asked (fractions; NaN
as null) and returns the result dict. Only NumPy and OpenCV are imported, so ``--help`` answers
at once.
"""
import argparse
import sys
from typing import List, Optional

from .benchmark_eval import BENCHMARKS, default_workers, evaluate_stq, evaluate_vpq, parse_windows
from .evaluate import (
    EvalSetup,
    add_common_args,
    evaluate_results,
    format_table,
    percent,
    resolve_setup,
    write_json,
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
    """``tools/evaluate_stq.py``: STQ / AQ / SQ of a results folder (or, with ``--format``,
    of an official benchmark submission: :func:`benchmark_main`)."""
    if _format_of(argv) is not None:
        return benchmark_main('stq', argv)
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
    """``tools/evaluate_vpq.py``: VPQ over k-frame windows of a results folder (or, with
    ``--format``, of an official benchmark submission: :func:`benchmark_main`)."""
    if _format_of(argv) is not None:
        return benchmark_main('vpq', argv)
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


def _format_of(argv: Optional[List[str]]) -> Optional[str]:
    """The value of ``--format`` in ``argv`` (None when absent)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--format')
    known, _ = parser.parse_known_args(argv)
    return known.format


def benchmark_report(metric: str, result: dict, categories: dict, per_class: bool,
                     per_video: bool) -> str:
    """Readable tables (percent) ending with the headline line."""
    lines = []
    if metric == 'vpq':
        windows = result['per_window']
        if per_class:
            rows = []
            for c, info in categories.items():
                kind = 'thing' if info['isthing'] else 'stuff'
                rows.append([c, info.get('name', c), kind] + [
                    percent(w['per_class'][c]['PQ']) for w in windows.values()])
            lines += [format_table(['class', 'name', 'kind'] + [f'PQ@{k}' for k in windows],
                                   rows), '']
        rows = [[length, w['k'], w['num_windows'], percent(w['VPQ']), percent(w['VPQ_th']),
                 percent(w['VPQ_st'])] for length, w in windows.items()]
        rows.append(['mean', '', '', percent(result['VPQ']), percent(result['VPQ_th']),
                     percent(result['VPQ_st'])])
        lines += [format_table(['frames', 'k', 'windows', 'All', 'Things', 'Stuff'], rows), '']
        lines.append(f'VPQ {percent(result["VPQ"])}  VPQ_th {percent(result["VPQ_th"])}  '
                     f'VPQ_st {percent(result["VPQ_st"])}  (official {result["format"]} '
                     f'definition, mean over window lengths {" ".join(windows)})')
    else:
        if per_video:
            rows = [[name, r['num_frames'], r['num_tubes'], percent(r['STQ']), percent(r['AQ']),
                     percent(r['SQ'])] for name, r in result['per_video'].items()]
            lines += [format_table(['video', 'frames', 'tubes', 'STQ', 'AQ', 'SQ'], rows), '']
        lines.append(f'STQ {percent(result["STQ"])}  AQ {percent(result["AQ"])}  '
                     f'SQ {percent(result["SQ"])}  (official {result["format"]} definition, '
                     f'{len(result["per_video"])} videos)')
    return '\n'.join(lines)


def benchmark_main(metric: str, argv: Optional[List[str]] = None) -> dict:
    """Score an official submission of a benchmark (``--format``) with its official metric."""
    tool = 'evaluate_vpq.py' if metric == 'vpq' else 'evaluate_stq.py'
    names = sorted(name for name, b in BENCHMARKS.items() if metric in b.metrics)
    parser = argparse.ArgumentParser(
        prog=tool, description=f'Official {metric.upper()} of a benchmark submission '
                               '(SUBMIT/pan_pred/ + SUBMIT/pred.json); docs/metrics.md.')
    parser.add_argument('submit_dir', help='the submission folder (pan_pred/ and pred.json)')
    parser.add_argument('--format', required=True, choices=names, help='the benchmark')
    parser.add_argument('--gt-dir', required=True,
                        help='ground-truth root: converted (vipseg: panomasksRGB/ + '
                             'panoptic_gt_VIPSeg_val.json; cityscapes-vps: val/panoptic_video/ '
                             '+ panoptic_gt_val_city_vps.json) or raw (vipseg: panomasks/ + '
                             'val.txt here or in the parent; cityscapes-vps: val/cls/ + '
                             'val/inst/), converted in memory')
    if metric == 'vpq':
        parser.add_argument('--windows', type=parse_windows,
                            help='comma-separated window lengths in frames (default: the '
                                 'official list, vipseg 1,2,4,6,8, cityscapes-vps 1,2,3,4)')
        parser.add_argument('--per-class', action='store_true',
                            help='also print the PQ of every class at every window length')
    else:
        parser.add_argument('--per-video', action='store_true',
                            help='also print STQ / AQ / SQ of every video')
    parser.add_argument('--json', metavar='OUT.json', help='also write the figures as JSON '
                                                           '(fractions, NaN as null)')
    parser.add_argument('--workers', type=int, default=default_workers(),
                        help='processes (default: %(default)s = CPUs available, at most 8)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    args = parser.parse_args(argv)
    benchmark = BENCHMARKS[args.format]
    gt_videos, pred_videos, categories, kind = benchmark.load(args.submit_dir, args.gt_dir)
    progress = not args.no_progress
    if metric == 'vpq':
        windows = args.windows or list(benchmark.windows)
        result = evaluate_vpq(gt_videos, pred_videos, categories, windows, args.workers,
                              progress)
        for warning in result.pop('warnings'):
            print(f'warning: {warning}', file=sys.stderr)
    else:
        result = evaluate_stq(gt_videos, pred_videos, categories, args.workers, progress)
    result = dict(format=args.format, **result)
    result.update(ground_truth=kind, num_videos=len(gt_videos))
    print(benchmark_report(metric, result, categories, getattr(args, 'per_class', False),
                           getattr(args, 'per_video', False)), flush=True)
    if args.json:
        write_json(args.json, result)
        print(f'wrote {args.json}', file=sys.stderr)
    return result
