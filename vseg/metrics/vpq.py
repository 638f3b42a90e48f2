"""Video Panoptic Quality over windows of k frames, built on image PQ.

Definition (VPSNet's ``eval_vpq``, as used by the original Video K-Net ``evaluate_vpq.py``): every
run of k consecutive frames of a sequence is one spatio-temporal image, so a segment is the tube
of one panoptic id over the window, and the window is scored exactly as an image by
:func:`vseg.metrics.pq.segment_stats` (match at IoU > 0.5, void rules, no crowd handling).
Sequences shorter than k give no window. A window never spans a frame gap (docs/metrics.md,
"Frame gaps"): where frame numbers are given (:meth:`VideoPanopticQuality.update_pairs`), a step
larger than the sequence's smallest step (a missing frame) splits it into runs that are windowed
separately (:func:`frame_runs`). TP, FP, FN and the IoU sums are pooled over all windows of all
sequences; VPQ_k is the mean PQ over all classes (VPQ_th / VPQ_st over things / stuff,
``VPQ_present`` over the classes that occur) and the headline VPQ is the mean of VPQ_k over the
requested window sizes. With k = 1 it is the image PQ of :class:`PanopticQuality`.

Window tables are sums of per-frame :class:`PairTable` s, so no frame is ever concatenated.
"""
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..panoptic import IGNORE_LABEL, LABEL_DIVISOR
from .pairs import PairTable, next_frame_id
from .pq import STATS, PanopticQuality, segment_stats


def frame_runs(frame_ids: Sequence[int]) -> List[List[int]]:
    """Split a sequence's increasing frame numbers into runs without a gap.

    The step of the sequence is its smallest difference between neighbouring frame numbers
    (1 when every frame is annotated, 5 for every fifth); a larger difference is a gap.

    Returns:
        the positions (indices into ``frame_ids``) of each run, e.g. ``[0, 1, 2, 4, 5]`` ->
        ``[[0, 1, 2], [3, 4]]``.
    """
    if not len(frame_ids):
        return []
    steps = np.diff(np.asarray(frame_ids, dtype=np.int64))
    step = steps.min() if len(steps) else 1
    cuts = (np.flatnonzero(steps > step) + 1).tolist()
    bounds = [0] + cuts + [len(frame_ids)]
    return [list(range(start, stop)) for start, stop in zip(bounds[:-1], bounds[1:])]


def frame_gaps(frame_ids: Sequence[int]) -> List[Tuple[int, int]]:
    """``(last frame before, first frame after)`` of every gap of :func:`frame_runs`."""
    runs = frame_runs(frame_ids)
    return [(int(frame_ids[a[-1]]), int(frame_ids[b[0]])) for a, b in zip(runs[:-1], runs[1:])]


def check_window_sizes(window_sizes: Sequence[int],
                       sequences: Mapping[Any, Sequence[int]]) -> None:
    """Refuse window sizes that give no window at all: longer than every run of
    :func:`frame_runs` of every sequence (``{sequence: increasing frame numbers}``).

    Raises:
        ValueError: naming the window sizes and the longest run.
    """
    longest = max((len(run) for frames in sequences.values() for run in frame_runs(frames)),
                  default=0)
    too_long = [k for k in window_sizes if k > longest]
    if too_long:
        raise ValueError(f'window size {" ".join(map(str, too_long))} is longer than every '
                         f'sequence (the longest has {longest} consecutive frames), so no '
                         f'window of that size exists; window sizes must be at most {longest}')


def window_entries(frames: Sequence[PairTable],
                   window: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (window index, gt id, pred id, count) entries of one sequence for window size k.

    Frame f belongs to the windows ``f - k + 1 .. f`` that exist (0 .. len(frames) - k).

    Returns:
        four (E,) arrays: window index, gt ids, pred ids, float64 counts.
    """
    num_windows = len(frames) - window + 1
    frame_index = np.concatenate([np.full(len(t.counts), i) for i, t in enumerate(frames)])
    gt_ids = np.concatenate([t.gt_ids for t in frames])
    pred_ids = np.concatenate([t.pred_ids for t in frames])
    counts = np.concatenate([t.counts for t in frames]).astype(np.float64)
    win = (frame_index[None, :] - np.arange(window)[:, None]).reshape(-1)
    keep = (win >= 0) & (win < num_windows)
    return (win[keep], np.tile(gt_ids, window)[keep], np.tile(pred_ids, window)[keep],
            np.tile(counts, window)[keep])


class VideoPanopticQuality(PanopticQuality):
    """Streaming VPQ over sequences of panoptic id maps, for several window sizes.

    Args:
        num_classes: number of valid semantic classes C (ids ``0..C-1``).
        thing_ids: thing classes (only used to split VPQ_th / VPQ_st).
        window_sizes: the window sizes k to evaluate.
        ignore_label: void class of ground truth and prediction ("no prediction").
        label_divisor: ``id = class * label_divisor + instance``.
    """

    key = 'VPQ'

    def __init__(self, num_classes: int, thing_ids: Sequence[int],
                 window_sizes: Sequence[int] = (1, 2, 3, 4), ignore_label: int = IGNORE_LABEL,
                 label_divisor: int = LABEL_DIVISOR) -> None:
        window_sizes = [int(k) for k in window_sizes]
        if not window_sizes or any(k < 1 for k in window_sizes):
            raise ValueError(f'window_sizes {window_sizes} must be a non-empty list of ints >= 1')
        self.window_sizes = list(dict.fromkeys(window_sizes))
        super().__init__(num_classes, thing_ids, ignore_label, label_divisor)

    def reset(self) -> None:
        """Forget every sequence."""
        self._frames: Dict[Hashable, List[PairTable]] = {}
        self._frame_ids: Dict[Hashable, List[int]] = {}

    def update_pairs(self, table: PairTable, sequence_id: Hashable = 0,
                     frame_id: Optional[int] = None) -> None:
        """Add the next frame of a sequence given as its :class:`PairTable`.

        Args:
            table: the frame's pair table.
            sequence_id: its sequence (frames of a sequence come in temporal order).
            frame_id: its frame number; a step larger than the sequence's smallest one is a gap
                that no window spans. None: the frame after the previous one (no gap).
        """
        self._check(table, sequence_id)
        ids = self._frame_ids.setdefault(sequence_id, [])
        ids.append(next_frame_id(ids[-1] if ids else None, frame_id, sequence_id))
        self._frames.setdefault(sequence_id, []).append(table)

    def window_stats(self, frames: Sequence[PairTable], window: int) -> Dict[str, np.ndarray]:
        """TP, FP, FN and IoU sums per class over all k-frame windows of one sequence.

        Returns:
            ``dict(TP, FP, FN, IoU)`` of (C,) arrays and ``num_images`` (the windows).
        """
        num_windows = max(len(frames) - window + 1, 0)
        if num_windows == 0:
            stats = {name: np.zeros(self.num_classes) for name in STATS}
        else:
            stats = segment_stats(*window_entries(frames, window), self.num_classes,
                                  self.ignore_label, self.label_divisor)
        stats['num_images'] = np.array(num_windows)
        return stats

    def result(self) -> dict:
        """VPQ pooled over all sequences.

        Returns:
            ``dict(VPQ, VPQ_th, VPQ_st, VPQ_present, per_window={k: dict(VPQ, VPQ_th, VPQ_st,
            VPQ_present, num_windows, per_class={class id: dict(PQ, SQ, RQ, TP, FP, FN)})})``,
            fractions in [0, 1]. The headline values are means over the window sizes; a window
            size without any window (every sequence shorter, see :func:`check_window_sizes`)
            is NaN.
        """
        per_window = {}
        for k in self.window_sizes:
            totals = self._zero_totals()
            for seq, frames in self._frames.items():
                for run in frame_runs(self._frame_ids[seq]):
                    stats = self.window_stats([frames[i] for i in run], k)
                    totals = {name: totals[name] + stats[name] for name in totals}
            summary = self.summarize(totals)
            summary['num_windows'] = summary.pop('num_images')
            per_window[k] = summary
        result: Dict[str, Any] = {
            key: float(np.mean([per_window[k][key] for k in self.window_sizes]))
            for key in self.headline_keys}
        result['per_window'] = per_window
        return result
