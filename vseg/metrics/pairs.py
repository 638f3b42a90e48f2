"""Per-frame intersection tables of ground-truth and predicted panoptic ids (docs/metrics.md).

Both video metrics only need, per frame, how many pixels carry each (ground-truth id, predicted id)
pair: STQ's confusion matrix, tube sizes and tube intersections are sums over this table, and a
VPQ window of k frames is the sum of k consecutive tables, so frames are never concatenated and
every window size costs a few sorts of small arrays. Computing the table is the only full-image
step; it is done once per frame and shared by both metrics.

Panoptic ids are ``semantic * label_divisor + instance`` (STEP: ``semantic << 16 | instance``).
"""
from typing import Hashable, NamedTuple, Optional, Sequence

import numpy as np


class PairTable(NamedTuple):
    """Sparse pixel counts of the (ground-truth id, predicted id) pairs of one frame.

    Attributes:
        gt_ids: (E,) int64 ground-truth panoptic ids.
        pred_ids: (E,) int64 predicted panoptic ids.
        counts: (E,) int64 number of pixels with that pair; all > 0, pairs unique.
    """

    gt_ids: np.ndarray
    pred_ids: np.ndarray
    counts: np.ndarray

    @property
    def num_pixels(self) -> int:
        """Number of pixels the table describes."""
        return int(self.counts.sum())


def count_pairs(gt: np.ndarray, pred: np.ndarray) -> PairTable:
    """Count the pixels of every (ground-truth id, predicted id) pair of one frame.

    Args:
        gt: (H, W) integer ground-truth panoptic ids (non-negative).
        pred: (H, W) integer predicted panoptic ids (non-negative), same shape as ``gt``.

    Returns:
        The :class:`PairTable` of the frame, sorted by (gt id, pred id).

    Raises:
        ValueError: if the shapes differ, an array is not integer or an id is negative.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f'ground truth {gt.shape} and prediction {pred.shape} differ in shape')
    for name, arr in (('ground truth', gt), ('prediction', pred)):
        if arr.dtype.kind not in 'iu':
            raise ValueError(f'{name} ids must be integers, got dtype {arr.dtype}')
    if gt.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PairTable(empty, empty.copy(), empty.copy())
    gt = gt.reshape(-1)
    pred = pred.reshape(-1)
    if (gt.dtype.kind == 'i' and gt.min() < 0) or (pred.dtype.kind == 'i' and pred.min() < 0):
        raise ValueError('panoptic ids must be non-negative')
    span = int(pred.max()) + 1
    if int(gt.max()) >= np.iinfo(np.int64).max // span:
        raise ValueError(f'panoptic ids too large to pair (max gt {gt.max()}, max pred {span - 1})')
    keys = gt.astype(np.int64) * span + pred
    # Label maps are long runs of equal ids along rows: sort one key per run, weighted by length.
    starts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    lengths = np.diff(starts, prepend=0, append=len(keys))
    unique, inverse = np.unique(keys[np.concatenate(([0], starts))], return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=lengths, minlength=len(unique))
    gt_ids, pred_ids = np.divmod(unique, span)
    return PairTable(gt_ids, pred_ids, counts.astype(np.int64))


def concat_tables(tables: Sequence[PairTable]) -> PairTable:
    """Concatenate tables (pairs may then repeat; every consumer sums over repeats)."""
    if not tables:
        empty = np.zeros(0, dtype=np.int64)
        return PairTable(empty, empty.copy(), empty.copy())
    return PairTable(*(np.concatenate([t[i] for t in tables]) for i in range(3)))


def check_class_ids(ids: np.ndarray, label_divisor: int, num_classes: int, ignore_label: int,
                    what: str) -> np.ndarray:
    """Semantic classes of panoptic ids, checked to lie in ``0..num_classes-1`` or be void.

    Args:
        ids: (E,) int64 panoptic ids.
        label_divisor: ``id = class * label_divisor + instance``.
        num_classes: number of valid classes.
        ignore_label: the void class.
        what: name used in the error message (e.g. ``'prediction of sequence 2'``).

    Returns:
        (E,) int64 semantic classes.
    """
    classes = ids // label_divisor
    bad = (classes >= num_classes) & (classes != ignore_label)
    if bad.any():
        raise ValueError(f'{what}: semantic classes {sorted(set(classes[bad].tolist()))} are '
                         f'neither in 0..{num_classes - 1} nor the ignore label {ignore_label}')
    return classes


def next_frame_id(previous: Optional[int], frame_id: Optional[int],
                  sequence_id: Hashable) -> int:
    """The number of the next frame of a sequence, checked to come after ``previous``.

    Args:
        previous: number of the sequence's last frame so far (None before its first frame).
        frame_id: number of the new frame, or None for "the one after ``previous``" (0 first).
        sequence_id: names the sequence in the error.

    Raises:
        ValueError: ``frame_id`` is not after ``previous`` (frames out of order or repeated).
    """
    if frame_id is None:
        return 0 if previous is None else previous + 1
    if previous is not None and int(frame_id) <= previous:
        raise ValueError(f'sequence {sequence_id}: frame {frame_id} given after frame '
                         f'{previous}; frames of a sequence must come once each, in order')
    return int(frame_id)
