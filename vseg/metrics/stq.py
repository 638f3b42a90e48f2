"""Segmentation and Tracking Quality, STQ = sqrt(AQ * SQ) (docs/metrics.md, "STQ").

The definition is the STEP benchmark's (deeplab2 ``evaluation/numpy/
segmentation_and_tracking_quality.py``, ``STQuality``); this implementation is written from the
specification and works on per-frame :class:`PairTable` s instead of pixels.

* SQ: a (C+1) x (C+1) confusion matrix of semantic classes, void being the extra last index
  (or the ignore label itself when it lies inside ``0..C-1``), summed over all frames of all
  sequences. Its ground-truth void row is zeroed, so GT-void pixels never count, but predicting
  void on a valid pixel is a false negative of that class *and* a false positive of the void
  index, which then enters the mean as a zero IoU. SQ = mean IoU over the indices whose union is
  non-zero.
* AQ: ground-truth tubes are the ids of thing classes with instance != 0; thing pixels with
  instance 0 are crowd and are removed, together with the predictions on them. A predicted tube
  is a predicted id of a thing class. Per tube g: (1/|g|) * sum_p TPA(p, g) * IoU(p, g), and AQ is
  the sum over all tubes of all sequences divided by their number (0 when there is none).
* ``legacy=True`` reproduces the original ``evaluate_stq.py`` (ablation repo): GT-void pixels are
  dropped before evaluation and every class from the smallest thing id up to ``num_classes - 1``
  is a thing (``range(11, 19)`` on KITTI-STEP instead of (11, 13)).

If no valid ground-truth pixel and no prediction on one exists, SQ (and so STQ) is NaN.
"""
from collections import defaultdict
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from ..panoptic import IGNORE_LABEL, LABEL_DIVISOR
from .pairs import PairTable, check_class_ids, count_pairs, next_frame_id


def _add_counts(store: Dict, keys: list, counts: list) -> None:
    """``store[key] += count`` for every pair (keys may repeat)."""
    for key, count in zip(keys, counts):
        store[key] = store.get(key, 0) + count


def _mean_iou(confusion: np.ndarray) -> Tuple[np.ndarray, float]:
    """Per-index IoU (NaN where the union is zero) and their mean over non-zero unions.

    Args:
        confusion: (K, K) int64 matrix, rows ground truth, columns prediction.
    """
    inter = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    iou = np.full(len(union), np.nan)
    valid = union > 0
    iou[valid] = inter[valid] / union[valid]
    mean = float(iou[valid].mean()) if valid.any() else float('nan')
    return iou, mean


class STQuality:
    """Streaming STQ over sequences of panoptic id maps.

    Args:
        num_classes: number of valid semantic classes C (ids ``0..C-1``).
        thing_ids: classes with instances (e.g. the dataset metainfo ``thing_ids``).
        ignore_label: void class of ground truth and prediction ("no prediction").
        label_divisor: ``id = class * label_divisor + instance``.
        legacy: reproduce the original ``evaluate_stq.py`` (see module docstring).
    """

    def __init__(self, num_classes: int, thing_ids: Sequence[int],
                 ignore_label: int = IGNORE_LABEL, label_divisor: int = LABEL_DIVISOR,
                 legacy: bool = False) -> None:
        thing_ids = [int(t) for t in thing_ids]
        if num_classes < 1 or not thing_ids or any(not 0 <= t < num_classes for t in thing_ids):
            raise ValueError(f'thing_ids {thing_ids} must be non-empty ids in 0..{num_classes - 1}')
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.label_divisor = label_divisor
        self.legacy = legacy
        things = range(min(thing_ids), num_classes) if legacy else thing_ids
        self.things = np.array(sorted(set(things)), dtype=np.int64)
        self.void_index = ignore_label if ignore_label < num_classes else num_classes
        self.matrix_size = max(num_classes, self.void_index + 1)
        self.reset()

    def reset(self) -> None:
        """Forget every sequence."""
        self._confusion: Dict[Hashable, np.ndarray] = {}
        self._gt_sizes: Dict[Hashable, dict] = defaultdict(dict)
        self._pred_sizes: Dict[Hashable, dict] = defaultdict(dict)
        self._intersections: Dict[Hashable, dict] = defaultdict(dict)
        self._num_frames: Dict[Hashable, int] = defaultdict(int)
        self._last_frame: Dict[Hashable, int] = {}

    def update(self, gt: np.ndarray, pred: np.ndarray, sequence_id: Hashable = 0,
               frame_id: Optional[int] = None) -> None:
        """Add one frame.

        Args:
            gt: (H, W) ground-truth panoptic ids.
            pred: (H, W) predicted panoptic ids.
            sequence_id: the sequence the frame belongs to (tubes never cross sequences).
            frame_id: the frame's number: when given, a frame given twice or out of order is an
                error (it would count twice); tubes span the whole sequence, gaps included.
        """
        self.update_pairs(count_pairs(gt, pred), sequence_id, frame_id)

    def update_pairs(self, table: PairTable, sequence_id: Hashable = 0,
                     frame_id: Optional[int] = None) -> None:
        """Add one frame given as its :class:`PairTable` (same result as :meth:`update`)."""
        self._last_frame[sequence_id] = next_frame_id(self._last_frame.get(sequence_id),
                                                      frame_id, sequence_id)
        gt_ids, pred_ids, counts = table
        gt_cls = check_class_ids(gt_ids, self.label_divisor, self.num_classes, self.ignore_label,
                                 f'ground truth of sequence {sequence_id}')
        pred_cls = check_class_ids(pred_ids, self.label_divisor, self.num_classes,
                                   self.ignore_label, f'prediction of sequence {sequence_id}')
        if self.legacy:
            keep = gt_cls != self.ignore_label
            gt_ids, pred_ids, counts = gt_ids[keep], pred_ids[keep], counts[keep]
            gt_cls, pred_cls = gt_cls[keep], pred_cls[keep]
        if sequence_id not in self._confusion:
            self._confusion[sequence_id] = np.zeros((self.matrix_size,) * 2, dtype=np.int64)
        rows = np.where(gt_cls == self.ignore_label, self.void_index, gt_cls)
        cols = np.where(pred_cls == self.ignore_label, self.void_index, pred_cls)
        np.add.at(self._confusion[sequence_id], (rows, cols), counts)

        gt_thing = np.isin(gt_cls, self.things)
        crowd = gt_thing & (gt_ids % self.label_divisor == 0)
        in_tube = gt_thing & ~crowd
        pred_tube = np.isin(pred_cls, self.things) & ~crowd
        _add_counts(self._gt_sizes[sequence_id], gt_ids[in_tube].tolist(),
                    counts[in_tube].tolist())
        _add_counts(self._pred_sizes[sequence_id], pred_ids[pred_tube].tolist(),
                    counts[pred_tube].tolist())
        both = in_tube & pred_tube
        _add_counts(self._intersections[sequence_id],
                    list(zip(gt_ids[both].tolist(), pred_ids[both].tolist())),
                    counts[both].tolist())
        self._num_frames[sequence_id] += 1

    def _association(self, sequence_id: Hashable) -> Tuple[float, int]:
        """Sum over the sequence's GT tubes of their AQ term, and the number of tubes."""
        gt_sizes = self._gt_sizes[sequence_id]
        pred_sizes = self._pred_sizes[sequence_id]
        per_tube: Dict[int, float] = {}
        for (gt_id, pred_id), tpa in self._intersections[sequence_id].items():
            iou = tpa / (gt_sizes[gt_id] + pred_sizes[pred_id] - tpa)
            per_tube[gt_id] = per_tube.get(gt_id, 0.0) + tpa * iou
        total = sum(value / gt_sizes[gt_id] for gt_id, value in per_tube.items())
        return total, len(gt_sizes)

    def _void_free(self, confusion: np.ndarray) -> np.ndarray:
        """Copy of a confusion matrix without its ground-truth void row."""
        confusion = confusion.copy()
        confusion[self.void_index] = 0
        return confusion

    def result(self) -> dict:
        """STQ, AQ, SQ pooled over all sequences, per sequence, and the per-class IoU.

        Returns:
            ``dict(STQ=float, AQ=float, SQ=float, per_sequence={seq: dict(STQ, AQ, SQ,
            num_frames, num_tubes)}, per_class_iou={class id: float})``, fractions in [0, 1]
            (NaN where undefined); the void index is reported under ``ignore_label``.
        """
        per_sequence: Dict[Hashable, dict] = {}
        total_confusion = np.zeros((self.matrix_size,) * 2, dtype=np.int64)
        aq_sum, num_tubes = 0.0, 0
        for seq in self._confusion:
            confusion = self._void_free(self._confusion[seq])
            total_confusion += confusion
            seq_aq_sum, seq_tubes = self._association(seq)
            aq_sum += seq_aq_sum
            num_tubes += seq_tubes
            seq_aq = seq_aq_sum / max(seq_tubes, 1e-15)
            seq_sq = _mean_iou(confusion)[1]
            per_sequence[seq] = dict(STQ=float(np.sqrt(seq_aq * seq_sq)), AQ=float(seq_aq),
                                     SQ=seq_sq, num_frames=self._num_frames[seq],
                                     num_tubes=seq_tubes)
        aq = aq_sum / max(num_tubes, 1e-15)
        iou, sq = _mean_iou(total_confusion)
        class_ids: List[int] = list(range(self.matrix_size))
        if self.void_index == self.num_classes:
            class_ids[-1] = self.ignore_label
        return dict(STQ=float(np.sqrt(aq * sq)), AQ=float(aq), SQ=sq, per_sequence=per_sequence,
                    per_class_iou={c: float(v) for c, v in zip(class_ids, iou)})

    @property
    def sequence_ids(self) -> List[Hashable]:
        """Sequences seen so far, in order of first appearance."""
        return list(self._confusion)
