"""Video Panoptic Quality over windows of k frames (DESIGN.md §9.3, §12 item 18).

Definition (VPSNet's ``eval_vpq``, as used by the original ``evaluate_vpq.py``):

* Every run of k consecutive frames of a sequence is one spatio-temporal image, so a segment is
  the tube of one panoptic id over the window. Sequences shorter than k give no window.
* A ground-truth and a predicted segment of the same class match when IoU > 0.5, where the union
  leaves out the predicted pixels on ground-truth void (id ``ignore_label * label_divisor``).
* Unmatched ground-truth segments that are not void are false negatives. Unmatched predicted
  segments are false positives unless more than half of their pixels lie on ground-truth void.
  Predicted class ``ignore_label`` means "no prediction": never a segment, never a false positive.
  There is no crowd handling: thing pixels with instance 0 form ordinary segments.
* TP, FP, FN and the IoU sums are pooled over all windows of all sequences. Per class
  SQ = sum IoU / TP, RQ = TP / (TP + FN/2 + FP/2), PQ = SQ * RQ (0 for a class without segments,
  as in the published tables). VPQ_k = mean PQ over all classes, VPQ_th over the thing classes,
  VPQ_st over the others; ``VPQ_present`` averages only the classes that occur. The headline VPQ
  is the mean of VPQ_k over the requested window sizes.

Window tables are sums of per-frame :class:`PairTable` s, so no frame is ever concatenated.
"""
from typing import Dict, Hashable, List, Sequence, Tuple

import numpy as np

from knet.structures.panoptic import IGNORE_LABEL, LABEL_DIVISOR
from .pairs import PairTable, check_class_ids, count_pairs

_EPS = 1e-10  # the original's guard in SQ and RQ (VPSNet ``pq_average``)


def _group_sum(keys: np.ndarray,
               values: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group ``values`` by ``keys``.

    Args:
        keys: (E,) int64 keys.
        values: (E,) float64 values.

    Returns:
        The sorted unique keys (U,), the sum of ``values`` per key (U,) and the (E,) index of
        every entry's key.
    """
    unique, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    return unique, np.bincount(inverse, weights=values, minlength=len(unique)), inverse


class _WindowEntries:
    """All (window, gt, pred, count) entries of one sequence for one window size.

    Args:
        frames: per-frame tables of the sequence, in temporal order.
        window: the window size k (number of windows W = len(frames) - k + 1 > 0).
    """

    def __init__(self, frames: Sequence[PairTable], window: int) -> None:
        num_windows = len(frames) - window + 1
        frame_index = np.concatenate([np.full(len(t.counts), i) for i, t in enumerate(frames)])
        gt_ids = np.concatenate([t.gt_ids for t in frames])
        pred_ids = np.concatenate([t.pred_ids for t in frames])
        counts = np.concatenate([t.counts for t in frames]).astype(np.float64)
        # Frame f belongs to the windows f - window + 1 .. f that exist.
        win = (frame_index[None, :] - np.arange(window)[:, None]).reshape(-1)
        keep = (win >= 0) & (win < num_windows)
        self.window = win[keep]
        self.gt_unique, gt_index = np.unique(np.tile(gt_ids, window)[keep], return_inverse=True)
        self.pred_unique, pred_index = np.unique(np.tile(pred_ids, window)[keep],
                                                 return_inverse=True)
        self.gt_index = gt_index.reshape(-1)
        self.pred_index = pred_index.reshape(-1)
        self.counts = np.tile(counts, window)[keep]

    def segment_keys(self, which: str) -> np.ndarray:
        """(E,) key of the (window, gt segment) or (window, pred segment) of every entry."""
        if which == 'gt':
            return self.window * len(self.gt_unique) + self.gt_index
        return self.window * len(self.pred_unique) + self.pred_index


class VideoPanopticQuality:
    """Streaming VPQ over sequences of panoptic id maps, for several window sizes.

    Args:
        num_classes: number of valid semantic classes C (ids ``0..C-1``).
        thing_ids: thing classes (only used to split VPQ_th / VPQ_st).
        window_sizes: the window sizes k to evaluate.
        ignore_label: void class of ground truth and prediction ("no prediction").
        label_divisor: ``id = class * label_divisor + instance``.
    """

    def __init__(self, num_classes: int, thing_ids: Sequence[int],
                 window_sizes: Sequence[int] = (1, 2, 3, 4), ignore_label: int = IGNORE_LABEL,
                 label_divisor: int = LABEL_DIVISOR) -> None:
        thing_ids = sorted({int(t) for t in thing_ids})
        if num_classes < 1 or any(not 0 <= t < num_classes for t in thing_ids):
            raise ValueError(f'thing_ids {thing_ids} must be ids in 0..{num_classes - 1}')
        window_sizes = [int(k) for k in window_sizes]
        if not window_sizes or any(k < 1 for k in window_sizes):
            raise ValueError(f'window_sizes {window_sizes} must be a non-empty list of ints >= 1')
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.label_divisor = label_divisor
        self.window_sizes = list(dict.fromkeys(window_sizes))
        self.classes = [c for c in range(num_classes) if c != ignore_label]
        self.thing_ids = [c for c in thing_ids if c != ignore_label]
        self.stuff_ids = [c for c in self.classes if c not in self.thing_ids]
        self.reset()

    def reset(self) -> None:
        """Forget every sequence."""
        self._frames: Dict[Hashable, List[PairTable]] = {}

    def update(self, gt: np.ndarray, pred: np.ndarray, sequence_id: Hashable = 0) -> None:
        """Add the next frame of a sequence (frames of a sequence must come in temporal order).

        Args:
            gt: (H, W) ground-truth panoptic ids.
            pred: (H, W) predicted panoptic ids.
            sequence_id: the sequence the frame belongs to.
        """
        self.update_pairs(count_pairs(gt, pred), sequence_id)

    def update_pairs(self, table: PairTable, sequence_id: Hashable = 0) -> None:
        """Add the next frame of a sequence given as its :class:`PairTable`."""
        check_class_ids(table.gt_ids, self.label_divisor, self.num_classes, self.ignore_label,
                        f'ground truth of sequence {sequence_id}')
        check_class_ids(table.pred_ids, self.label_divisor, self.num_classes, self.ignore_label,
                        f'prediction of sequence {sequence_id}')
        self._frames.setdefault(sequence_id, []).append(table)

    def window_stats(self, frames: Sequence[PairTable], window: int) -> Dict[str, np.ndarray]:
        """TP, FP, FN and IoU sums per class over all k-frame windows of one sequence.

        Args:
            frames: the sequence's per-frame tables in temporal order.
            window: window size k.

        Returns:
            ``dict(TP, FP, FN, IoU)`` of (C,) arrays and ``num_windows``.
        """
        stats = {name: np.zeros(self.num_classes) for name in ('TP', 'FP', 'FN', 'IoU')}
        stats['num_windows'] = np.array(max(len(frames) - window + 1, 0))
        if len(frames) < window:
            return stats
        entries = _WindowEntries(frames, window)
        div, void = self.label_divisor, self.ignore_label
        gt_cls, pred_cls = entries.gt_unique // div, entries.pred_unique // div
        num_gt, num_pred = len(entries.gt_unique), len(entries.pred_unique)

        gt_keys, gt_area, _ = _group_sum(entries.segment_keys('gt'), entries.counts)
        pred_keys, pred_area, pred_of_entry = _group_sum(entries.segment_keys('pred'),
                                                         entries.counts)
        # Pixels of each predicted segment on GT void: the exact void id (union) and any id of
        # the void class (false-positive test); the two differ only for void ids with instance.
        on_void_id = entries.gt_unique[entries.gt_index] == void * div
        on_void_cls = gt_cls[entries.gt_index] == void
        pred_on_void_id = np.bincount(pred_of_entry, weights=entries.counts * on_void_id,
                                      minlength=len(pred_keys))
        pred_on_void_cls = np.bincount(pred_of_entry, weights=entries.counts * on_void_cls,
                                       minlength=len(pred_keys))

        pair_keys, inter, _ = _group_sum(
            (entries.window * num_gt + entries.gt_index) * num_pred + entries.pred_index,
            entries.counts)
        pair_window, rest = np.divmod(pair_keys, num_gt * num_pred)
        pair_gt, pair_pred = np.divmod(rest, num_pred)
        pair_gt_key = pair_window * num_gt + pair_gt
        pair_pred_key = pair_window * num_pred + pair_pred
        pred_idx = np.searchsorted(pred_keys, pair_pred_key)
        union = (gt_area[np.searchsorted(gt_keys, pair_gt_key)] + pred_area[pred_idx] - inter
                 - pred_on_void_id[pred_idx])
        same = (gt_cls[pair_gt] == pred_cls[pair_pred]) & (pred_cls[pair_pred] != void)
        iou = inter / np.maximum(union, 1)
        match = same & (iou > 0.5)
        match_cls = gt_cls[pair_gt[match]]
        stats['TP'] = np.bincount(match_cls, minlength=self.num_classes).astype(np.float64)
        stats['IoU'] = np.bincount(match_cls, weights=iou[match], minlength=self.num_classes)

        seg_gt_cls = gt_cls[gt_keys % num_gt]
        missed = (seg_gt_cls != void) & ~np.isin(gt_keys, pair_gt_key[match])
        stats['FN'] = np.bincount(seg_gt_cls[missed], minlength=self.num_classes)[
            :self.num_classes].astype(np.float64)
        seg_pred_cls = pred_cls[pred_keys % num_pred]
        false = ((seg_pred_cls != void) & ~np.isin(pred_keys, pair_pred_key[match])
                 & ~(pred_on_void_cls / pred_area > 0.5))
        stats['FP'] = np.bincount(seg_pred_cls[false], minlength=self.num_classes)[
            :self.num_classes].astype(np.float64)
        return stats

    def _summarize(self, totals: Dict[str, np.ndarray]) -> dict:
        """PQ/SQ/RQ per class and the class means for one window size."""
        tp, fp, fn, iou = totals['TP'], totals['FP'], totals['FN'], totals['IoU']
        sq = iou / (tp + _EPS)
        rq = tp / (tp + 0.5 * fn + 0.5 * fp + _EPS)
        pq = sq * rq
        present = [c for c in self.classes if tp[c] + fp[c] + fn[c] > 0]

        def mean(ids: Sequence[int]) -> float:
            """Mean PQ of these classes (NaN for none)."""
            return float(np.mean(pq[list(ids)])) if len(ids) else float('nan')

        no_window = int(totals['num_windows']) == 0
        summary = dict(VPQ=mean(self.classes), VPQ_th=mean(self.thing_ids),
                       VPQ_st=mean(self.stuff_ids), VPQ_present=mean(present))
        if no_window:
            summary = {key: float('nan') for key in summary}
        summary['num_windows'] = int(totals['num_windows'])
        summary['per_class'] = {
            c: dict(PQ=float(pq[c]), SQ=float(sq[c]), RQ=float(rq[c]), TP=int(tp[c]),
                    FP=int(fp[c]), FN=int(fn[c])) for c in self.classes}
        return summary

    def result(self) -> dict:
        """VPQ pooled over all sequences.

        Returns:
            ``dict(VPQ, VPQ_th, VPQ_st, VPQ_present, per_window={k: dict(VPQ, VPQ_th, VPQ_st,
            VPQ_present, num_windows, per_class={class id: dict(PQ, SQ, RQ, TP, FP, FN)})})``,
            fractions in [0, 1]. The headline values are means over the window sizes; a window
            size without any window (every sequence shorter) is NaN.
        """
        per_window = {}
        for k in self.window_sizes:
            totals = {name: np.zeros(self.num_classes) for name in ('TP', 'FP', 'FN', 'IoU')}
            totals['num_windows'] = np.array(0)
            for frames in self._frames.values():
                stats = self.window_stats(frames, k)
                totals = {name: totals[name] + stats[name] for name in totals}
            per_window[k] = self._summarize(totals)
        result = {key: float(np.mean([per_window[k][key] for k in self.window_sizes]))
                  for key in ('VPQ', 'VPQ_th', 'VPQ_st', 'VPQ_present')}
        result['per_window'] = per_window
        return result
