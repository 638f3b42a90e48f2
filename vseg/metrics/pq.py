"""Panoptic Quality of images, the building block of video panoptic quality.

Definition (the one VPSNet's ``eval_vpq`` and Video K-Net's KITTI-STEP evaluation use; with a
window of one frame it is the image PQ of K-Net's STEP pretraining):

* A ground-truth and a predicted segment of the same class match when IoU > 0.5, where the union
  leaves out the predicted pixels on ground-truth void (id ``ignore_label * label_divisor``).
* Unmatched ground-truth segments that are not void are false negatives. Unmatched predicted
  segments are false positives unless more than half of their pixels lie on ground-truth void.
  Predicted class ``ignore_label`` means "no prediction": never a segment, never a false positive.
  There is no crowd handling: thing pixels with instance 0 form ordinary segments.
* TP, FP, FN and the IoU sums are pooled over all images. Per class SQ = sum IoU / TP,
  RQ = TP / (TP + FN/2 + FP/2), PQ = SQ * RQ (0 for a class without segments, as in the
  published tables); PQ = mean over all classes, PQ_th over the thing classes, PQ_st over the
  others; ``PQ_present`` averages only the classes that occur.

An "image" is any set of pixels given as pair-table entries with one image index: a frame for
:class:`PanopticQuality`, a window of k frames for :class:`vseg.metrics.vpq.VideoPanopticQuality`
(docs/metrics.md).
"""
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from ..panoptic import IGNORE_LABEL, LABEL_DIVISOR
from .pairs import PairTable, check_class_ids, count_pairs, next_frame_id

_EPS = 1e-10  # the reference's guard in SQ and RQ (VPSNet ``pq_average``)
#: Names of the per-class statistics.
STATS = ('TP', 'FP', 'FN', 'IoU')


def _group_sum(keys: np.ndarray,
               values: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group ``values`` by ``keys``: sorted unique keys (U,), sums (U,), (E,) key index."""
    unique, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    return unique, np.bincount(inverse, weights=values, minlength=len(unique)), inverse


def segment_stats(image: np.ndarray, gt_ids: np.ndarray, pred_ids: np.ndarray,
                  counts: np.ndarray, num_classes: int, ignore_label: int = IGNORE_LABEL,
                  label_divisor: int = LABEL_DIVISOR) -> Dict[str, np.ndarray]:
    """TP, FP, FN and IoU sums per class of segments matched within each image.

    Args:
        image: (E,) int64 image index of every entry.
        gt_ids: (E,) int64 ground-truth panoptic ids.
        pred_ids: (E,) int64 predicted panoptic ids.
        counts: (E,) pixel counts (an (image, gt, pred) triple may repeat: counts add up).
        num_classes: number of classes C.
        ignore_label: void class of the ground truth; "no prediction" class.
        label_divisor: ``id = class * label_divisor + instance``.

    Returns:
        ``dict(TP, FP, FN, IoU)`` of (C,) float64 arrays.
    """
    stats: Dict[str, np.ndarray] = {name: np.zeros(num_classes) for name in STATS}
    if len(counts) == 0:
        return stats
    counts = np.asarray(counts, dtype=np.float64)
    gt_unique, gt_index = np.unique(gt_ids, return_inverse=True)
    pred_unique, pred_index = np.unique(pred_ids, return_inverse=True)
    gt_index, pred_index = gt_index.reshape(-1), pred_index.reshape(-1)
    div, void = label_divisor, ignore_label
    gt_cls, pred_cls = gt_unique // div, pred_unique // div
    num_gt, num_pred = len(gt_unique), len(pred_unique)

    gt_keys, gt_area, _ = _group_sum(image * num_gt + gt_index, counts)
    pred_keys, pred_area, pred_of_entry = _group_sum(image * num_pred + pred_index, counts)
    # Pixels of each predicted segment on GT void: the exact void id (union) and any id of
    # the void class (false-positive test); the two differ only for void ids with instance.
    on_void_id = gt_unique[gt_index] == void * div
    on_void_cls = gt_cls[gt_index] == void
    pred_on_void_id = np.bincount(pred_of_entry, weights=counts * on_void_id,
                                  minlength=len(pred_keys))
    pred_on_void_cls = np.bincount(pred_of_entry, weights=counts * on_void_cls,
                                   minlength=len(pred_keys))

    pair_keys, inter, _ = _group_sum((image * num_gt + gt_index) * num_pred + pred_index, counts)
    pair_image, rest = np.divmod(pair_keys, num_gt * num_pred)
    pair_gt, pair_pred = np.divmod(rest, num_pred)
    pair_gt_key = pair_image * num_gt + pair_gt
    pair_pred_key = pair_image * num_pred + pair_pred
    pred_idx = np.searchsorted(pred_keys, pair_pred_key)
    union = (gt_area[np.searchsorted(gt_keys, pair_gt_key)] + pred_area[pred_idx] - inter
             - pred_on_void_id[pred_idx])
    same = (gt_cls[pair_gt] == pred_cls[pair_pred]) & (pred_cls[pair_pred] != void)
    iou = inter / np.maximum(union, 1)
    match = same & (iou > 0.5)
    match_cls = gt_cls[pair_gt[match]]
    stats['TP'] = np.bincount(match_cls, minlength=num_classes).astype(np.float64)
    stats['IoU'] = np.bincount(match_cls, weights=iou[match], minlength=num_classes)

    seg_gt_cls = gt_cls[gt_keys % num_gt]
    missed = (seg_gt_cls != void) & ~np.isin(gt_keys, pair_gt_key[match])
    stats['FN'] = np.bincount(seg_gt_cls[missed], minlength=num_classes)[
        :num_classes].astype(np.float64)
    seg_pred_cls = pred_cls[pred_keys % num_pred]
    false = ((seg_pred_cls != void) & ~np.isin(pred_keys, pair_pred_key[match])
             & ~(pred_on_void_cls / pred_area > 0.5))
    stats['FP'] = np.bincount(seg_pred_cls[false], minlength=num_classes)[
        :num_classes].astype(np.float64)
    return stats


class PanopticQuality:
    """Streaming image PQ: every frame added is one image.

    Args:
        num_classes: number of valid semantic classes C (ids ``0..C-1``).
        thing_ids: thing classes (only used to split PQ_th / PQ_st).
        ignore_label: void class of ground truth and prediction ("no prediction").
        label_divisor: ``id = class * label_divisor + instance``.
    """

    #: Prefix of the result keys (``PQ``, ``PQ_th``, ...).
    key = 'PQ'

    def __init__(self, num_classes: int, thing_ids: Sequence[int],
                 ignore_label: int = IGNORE_LABEL, label_divisor: int = LABEL_DIVISOR) -> None:
        thing_ids = sorted({int(t) for t in thing_ids})
        if num_classes < 1 or any(not 0 <= t < num_classes for t in thing_ids):
            raise ValueError(f'thing_ids {thing_ids} must be ids in 0..{num_classes - 1}')
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.label_divisor = label_divisor
        self.classes = [c for c in range(num_classes) if c != ignore_label]
        self.thing_ids = [c for c in thing_ids if c != ignore_label]
        self.stuff_ids = [c for c in self.classes if c not in self.thing_ids]
        self.reset()

    def reset(self) -> None:
        """Forget every image."""
        self._totals = self._zero_totals()
        self._last_frame: Dict[Hashable, int] = {}

    def _zero_totals(self) -> Dict[str, np.ndarray]:
        totals = {name: np.zeros(self.num_classes) for name in STATS}
        totals['num_images'] = np.array(0)
        return totals

    def update(self, gt: np.ndarray, pred: np.ndarray, sequence_id: Hashable = 0,
               frame_id: Optional[int] = None) -> None:
        """Add one frame: (H, W) ground-truth and predicted panoptic ids (see
        :meth:`update_pairs`)."""
        self.update_pairs(count_pairs(gt, pred), sequence_id, frame_id)

    def _check(self, table: PairTable, sequence_id: Hashable) -> None:
        check_class_ids(table.gt_ids, self.label_divisor, self.num_classes, self.ignore_label,
                        f'ground truth of sequence {sequence_id}')
        check_class_ids(table.pred_ids, self.label_divisor, self.num_classes, self.ignore_label,
                        f'prediction of sequence {sequence_id}')

    def update_pairs(self, table: PairTable, sequence_id: Hashable = 0,
                     frame_id: Optional[int] = None) -> None:
        """Add one frame given as its :class:`PairTable`.

        Args:
            table: the frame's pair table.
            sequence_id: its sequence (names it in errors).
            frame_id: its frame number: when given, a frame given twice or out of order is an
                error (it would count twice).
        """
        self._check(table, sequence_id)
        self._last_frame[sequence_id] = next_frame_id(self._last_frame.get(sequence_id),
                                                      frame_id, sequence_id)
        stats = segment_stats(np.zeros(len(table.counts), dtype=np.int64), *table,
                              self.num_classes, self.ignore_label, self.label_divisor)
        for name in STATS:
            self._totals[name] += stats[name]
        self._totals['num_images'] += 1

    def summarize(self, totals: Dict[str, np.ndarray]) -> dict:
        """PQ/SQ/RQ per class and the class means of pooled statistics.

        Returns:
            ``{key, key_th, key_st, key_present}`` (NaN without any image), ``num_images`` and
            ``per_class={class id: dict(PQ, SQ, RQ, TP, FP, FN)}``.
        """
        tp, fp, fn, iou = totals['TP'], totals['FP'], totals['FN'], totals['IoU']
        sq = iou / (tp + _EPS)
        rq = tp / (tp + 0.5 * fn + 0.5 * fp + _EPS)
        pq = sq * rq
        present = [c for c in self.classes if tp[c] + fp[c] + fn[c] > 0]

        def mean(ids: Sequence[int]) -> float:
            """Mean PQ of these classes (NaN for none)."""
            return float(np.mean(pq[list(ids)])) if len(ids) else float('nan')

        key = self.key
        summary: Dict[str, Any] = {
            key: mean(self.classes), f'{key}_th': mean(self.thing_ids),
            f'{key}_st': mean(self.stuff_ids), f'{key}_present': mean(present)}
        if int(totals['num_images']) == 0:
            summary = {name: float('nan') for name in summary}
        summary['num_images'] = int(totals['num_images'])
        summary['per_class'] = {
            c: dict(PQ=float(pq[c]), SQ=float(sq[c]), RQ=float(rq[c]), TP=int(tp[c]),
                    FP=int(fp[c]), FN=int(fn[c])) for c in self.classes}
        return summary

    def result(self) -> dict:
        """PQ pooled over every frame added (see :meth:`summarize`), fractions in [0, 1]."""
        return self.summarize(self._totals)

    @property
    def headline_keys(self) -> List[str]:
        """The four headline result keys."""
        return [self.key, f'{self.key}_th', f'{self.key}_st', f'{self.key}_present']
