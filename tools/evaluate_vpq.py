"""VPQ of inference results against KITTI-STEP ground truth (DESIGN.md §9.3, §12 item 18).

Usage::

    python tools/evaluate_vpq.py RESULTS_DIR --gt-dir GT_DIR [--window-sizes 1 2 3 4]
                                 [--json OUT.json]

Every run of k consecutive frames of a sequence is one spatio-temporal image (window size k);
the headline VPQ / VPQ_th / VPQ_st are the means over the requested window sizes. ``--window-sizes
1`` gives the per-frame figure that the original ``evaluate_vpq.py`` prints (its default). The last
line printed is the headline ``VPQ .. VPQ_th .. VPQ_st ..``.
"""
import argparse
from typing import List, Optional

from video_knet.evaluation.functional import VideoPanopticQuality
from video_knet.evaluation.io import (add_common_args, evaluate_results, format_table, percent,
                                      resolve_classes, run_tool)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description='VPQ over k-frame windows of video panoptic '
                                                 'results.')
    add_common_args(parser)
    parser.add_argument('--window-sizes', type=int, nargs='+', default=[1, 2, 3, 4],
                        help='window sizes k (default: %(default)s)')
    return parser.parse_args(argv)


def report(result: dict, class_names: List[str], thing_ids: List[int]) -> str:
    """Readable tables (percent) ending with the headline line."""
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


def main(argv: Optional[List[str]] = None) -> dict:
    """Evaluate, print the tables and the headline, optionally write JSON; return the result."""
    args = parse_args(argv)
    num_classes, thing_ids, class_names = resolve_classes(args)
    metric = VideoPanopticQuality(num_classes, thing_ids, args.window_sizes,
                                  ignore_label=args.ignore_label)
    return evaluate_results(
        args, metric, lambda result: report(result, class_names, metric.thing_ids),
        window_sizes=metric.window_sizes, thing_ids=metric.thing_ids)


if __name__ == '__main__':
    run_tool(main)
