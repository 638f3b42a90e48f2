"""VPQ of segment-listed panoptic videos, as the official VIPSeg and Cityscapes-VPS code has it.

Both official scripts (VIPSeg's ``eval_vpq_vspw.py``, which copied VPSNet's ``tools/eval_vpq.py``)
score windows of consecutive frames with the panopticapi PQ, on frames whose segments are listed
in a JSON (:class:`vseg.formats.panoptic_video.SegmentFrame`). docs/metrics.md describes the
definition in full; in short, for each window length L and each window (stride 1):

* a **tube** is a segment id listed in any frame of the window; its category (and crowd flag) is
  the one of the first frame that lists it. A ground-truth tube's area is the sum of its JSON
  ``area`` fields, a predicted tube's the sum of its PNG pixel counts;
* a ground-truth and a predicted tube of the same category, the ground truth not crowd, match
  when IoU = I / (|p| + |g| - I - V(p)) > 0.5, V(p) being p's pixels on ground-truth void (id 0);
* unmatched non-crowd ground-truth tubes are false negatives; an unmatched predicted tube is a
  false positive unless more than half of it lies on void or on the (last listed) crowd tube of
  its category;
* TP, FP, FN and IoU sums are pooled per category over all windows of all videos; per window
  length, PQ is the mean over the categories with TP + FP + FN > 0 (things and stuff likewise),
  and VPQ is the plain mean over the window lengths.

Sums are formed in the official order (pairs in increasing (ground-truth id, predicted id), windows
in order, videos in ground-truth order), so the figures equal the official ones to the last bits.
Where the official code divides by zero (no counted category in a subset at some window length)
the figure is NaN and :meth:`SegmentVPQ.result` lists a warning.
"""
from typing import Dict, List, Mapping, NamedTuple, Sequence, Tuple

import numpy as np

from ..formats.panoptic_video import Segment
from .pairs import PairTable

#: Per-category statistics: ``[iou sum, tp, fp, fn]``.
CategoryStat = List[float]


class WindowFrame(NamedTuple):
    """One frame of a video for the window statistics.

    Attributes:
        table: pixel counts of the (ground-truth id, predicted id) pairs of the frame.
        gt: the frame's listed ground-truth segments ``{id: Segment}`` (JSON areas).
        pred: the frame's listed predicted segments ``{id: Segment}`` (areas unused).
        name: the frame, for error messages.
    """

    table: PairTable
    gt: Dict[int, Segment]
    pred: Dict[int, Segment]
    name: str = ''


def window_stat(frames: Sequence[WindowFrame], stat: Dict[int, CategoryStat]) -> None:
    """Add the TP / FP / FN / IoU of one window (its frames concatenated) to ``stat``.

    Raises:
        ValueError: a matched pair has IoU > 1 (ground-truth JSON areas smaller than the PNG
            counts), naming the JSON and the segment.
    """
    gt_tubes: Dict[int, List[int]] = {}  # id -> [category, iscrowd, area]
    pred_tubes: Dict[int, int] = {}  # id -> category
    for frame in frames:
        for seg_id, seg in frame.gt.items():
            tube = gt_tubes.get(seg_id)
            if tube is None:
                gt_tubes[seg_id] = [seg.category_id, seg.iscrowd, seg.area]
            else:
                tube[2] += seg.area
        for seg_id, seg in frame.pred.items():
            pred_tubes.setdefault(seg_id, seg.category_id)
    gt_ids = np.concatenate([f.table.gt_ids for f in frames])
    pred_ids = np.concatenate([f.table.pred_ids for f in frames])
    counts = np.concatenate([f.table.counts for f in frames])
    span = int(pred_ids.max()) + 1 if len(pred_ids) else 1
    keys, inverse = np.unique(gt_ids * span + pred_ids, return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(keys)).astype(np.int64)
    pair_gt, pair_pred = np.divmod(keys, span)
    pred_area: Dict[int, int] = {}
    on_pred: Dict[Tuple[int, int], int] = {}
    for g, p, n in zip(pair_gt.tolist(), pair_pred.tolist(), sums.tolist()):
        pred_area[p] = pred_area.get(p, 0) + n
        on_pred[(g, p)] = n
    gt_matched, pred_matched = set(), set()
    for (g, p), inter in on_pred.items():  # increasing (gt id, pred id), as the official code
        gt_tube = gt_tubes.get(g)
        if gt_tube is None or p not in pred_tubes or gt_tube[1] == 1:
            continue
        if gt_tube[0] != pred_tubes[p]:
            continue
        union = pred_area[p] + gt_tube[2] - inter - on_pred.get((0, p), 0)
        iou = inter / union
        if iou > 1.0:
            where = frames[0].name
            raise ValueError(f'{where}: ground-truth segment {g} has a JSON area smaller than '
                             f'its pixel count (IoU {iou:.4f} > 1); the official code stops '
                             'with an AssertionError')
        if iou > 0.5:
            entry = stat.setdefault(gt_tube[0], [0.0, 0, 0, 0])
            entry[0] += iou
            entry[1] += 1
            gt_matched.add(g)
            pred_matched.add(p)
    crowd_of: Dict[int, int] = {}
    for g, (category, crowd, _) in gt_tubes.items():
        if g in gt_matched:
            continue
        if crowd == 1:
            crowd_of[category] = g
            continue
        stat.setdefault(category, [0.0, 0, 0, 0])[3] += 1
    for p, category in pred_tubes.items():
        if p in pred_matched:
            continue
        area = pred_area.get(p, 0)
        if area == 0:
            raise ValueError(f'{frames[0].name}: predicted segment {p} is listed but has no '
                             'pixel in the window (the official code divides by zero)')
        covered = on_pred.get((0, p), 0)
        if category in crowd_of:
            covered += on_pred.get((crowd_of[category], p), 0)
        if covered / area > 0.5:
            continue
        stat.setdefault(category, [0.0, 0, 0, 0])[2] += 1


def video_stats(frames: Sequence[WindowFrame],
                windows: Sequence[int]) -> Dict[int, Dict[int, CategoryStat]]:
    """``{L: {category: [iou, tp, fp, fn]}}`` of one video: every window of L frames, stride 1
    (a video shorter than L has none)."""
    out: Dict[int, Dict[int, CategoryStat]] = {}
    for length in windows:
        stat: Dict[int, CategoryStat] = {}
        for start in range(0, len(frames) - length + 1):
            window_stat(frames[start:start + length], stat)
        out[length] = stat
    return out


def pq_average(stat: Mapping[int, CategoryStat], categories: Mapping[int, Mapping[str, object]],
               isthing: object = None) -> dict:
    """panopticapi's ``pq_average``: means over the categories with TP + FP + FN > 0.

    Args:
        stat: pooled per-category statistics.
        categories: the ground-truth categories ``{id: {'isthing': 0/1, ...}}`` (loop order).
        isthing: None (all), True (things) or False (stuff).

    Returns:
        ``dict(PQ, SQ, RQ, n, per_class={id: dict(PQ, SQ, RQ, TP, FP, FN, IoU)})`` with NaN
        figures when n = 0.
    """
    pq = sq = rq = 0.0
    n = 0
    per_class = {}
    for category, info in categories.items():
        if isthing is not None and bool(info['isthing']) != isthing:
            continue
        iou, tp, fp, fn = stat.get(category, [0.0, 0, 0, 0])
        if tp + fp + fn == 0:
            per_class[category] = dict(PQ=0.0, SQ=0.0, RQ=0.0, TP=0, FP=0, FN=0, IoU=0.0)
            continue
        n += 1
        pq_class = iou / (tp + 0.5 * fp + 0.5 * fn)
        sq_class = iou / tp if tp != 0 else 0
        rq_class = tp / (tp + 0.5 * fp + 0.5 * fn)
        per_class[category] = dict(PQ=pq_class, SQ=sq_class, RQ=rq_class, TP=tp, FP=fp, FN=fn,
                                   IoU=iou)
        pq += pq_class
        sq += sq_class
        rq += rq_class
    if n == 0:
        nan = float('nan')
        return dict(PQ=nan, SQ=nan, RQ=nan, n=0, per_class=per_class)
    return dict(PQ=pq / n, SQ=sq / n, RQ=rq / n, n=n, per_class=per_class)


def add_stats(total: Dict[int, CategoryStat], part: Mapping[int, CategoryStat]) -> None:
    """``total += part`` per category (the official ``PQStat.__iadd__``)."""
    for category, (iou, tp, fp, fn) in part.items():
        entry = total.setdefault(category, [0.0, 0, 0, 0])
        entry[0] += iou
        entry[1] += tp
        entry[2] += fp
        entry[3] += fn


class SegmentVPQ:
    """Pools per-video window statistics and computes the official VPQ figures.

    Args:
        categories: the ground-truth categories ``{id: {'isthing', 'name', ...}}``.
        windows: window lengths in frames (VIPSeg: 1, 2, 4, 6, 8; Cityscapes-VPS: 1, 2, 3, 4).
        frame_step: raw frames between two evaluated frames, for the official file-name number
            ``k = frame_step * (L - 1)`` (5 for both benchmarks).
    """

    def __init__(self, categories: Mapping[int, Mapping[str, object]], windows: Sequence[int],
                 frame_step: int = 5) -> None:
        windows = [int(w) for w in windows]
        if not windows or any(w < 1 for w in windows) or len(set(windows)) != len(windows):
            raise ValueError(f'window lengths must be distinct positive integers, got {windows}')
        self.categories = categories
        self.windows = windows
        self.frame_step = frame_step
        self.stats: Dict[int, Dict[int, CategoryStat]] = {w: {} for w in windows}
        self.num_windows = {w: 0 for w in windows}
        self.num_videos = 0

    def add_video(self, stats: Mapping[int, Mapping[int, CategoryStat]], num_frames: int) -> None:
        """Add one video's :func:`video_stats` (videos in ground-truth order)."""
        for length in self.windows:
            add_stats(self.stats[length], stats[length])
            self.num_windows[length] += max(0, num_frames - length + 1)
        self.num_videos += 1

    def result(self) -> dict:
        """``dict(VPQ, VPQ_th, VPQ_st, per_window={"L": {VPQ, VPQ_th, VPQ_st, k, SQ.., RQ..,
        num_windows, per_class}}, warnings=[...])``; fractions, NaN where undefined."""
        per_window = {}
        warnings = []
        for length in self.windows:
            stat = self.stats[length]
            subsets = {name: pq_average(stat, self.categories, isthing)
                       for name, isthing in (('All', None), ('Things', True), ('Stuff', False))}
            crash = '(the official code stops with ZeroDivisionError)'
            if self.num_windows[length] == 0:
                warnings.append(f'window length {length}: no video has {length} frames, so '
                                f'there is no window; its figures are NaN {crash}')
            else:
                for name, res in subsets.items():
                    if res['n'] == 0:
                        kind = dict(All='', Things='thing ', Stuff='stuff ')[name]
                        warnings.append(f'window length {length}: no {kind}category has a true '
                                        'positive, false positive or false negative; its '
                                        f'{name} figure is NaN {crash}')
            all_, things, stuff = subsets['All'], subsets['Things'], subsets['Stuff']
            per_window[str(length)] = dict(
                VPQ=all_['PQ'], VPQ_th=things['PQ'], VPQ_st=stuff['PQ'],
                k=self.frame_step * (length - 1), SQ=all_['SQ'], RQ=all_['RQ'],
                SQ_th=things['SQ'], RQ_th=things['RQ'], SQ_st=stuff['SQ'], RQ_st=stuff['RQ'],
                n=all_['n'], n_th=things['n'], n_st=stuff['n'],
                num_windows=self.num_windows[length], per_class=all_['per_class'])

        def mean(key: str) -> float:
            values = [w[key] for w in per_window.values()]
            return sum(values) / len(values)

        return dict(VPQ=mean('VPQ'), VPQ_th=mean('VPQ_th'), VPQ_st=mean('VPQ_st'),
                    per_window=per_window, num_videos=self.num_videos, warnings=warnings)
