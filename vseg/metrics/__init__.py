"""Torch-free panoptic metrics with streaming, per-frame pair tables (docs/metrics.md).

* :class:`PanopticQuality`: image PQ; :class:`VideoPanopticQuality`: VPQ over k-frame windows,
  built on it (VPQ at k = 1 is PQ); :class:`STQuality`: segmentation and tracking quality.
* All three take ``update(gt, pred, sequence_id)`` on (H, W) panoptic id maps
  (``class * label_divisor + instance``) or ``update_pairs(table, sequence_id)`` on the
  :class:`PairTable` of a frame, and ``result()``.
* :func:`frame_merge_counts` / :class:`MergeRate`: the instance merge rate (predicted thing
  segments covering several ground-truth instances, and split instances); the folder-level
  ``merge_rate()`` lives in :mod:`vseg.metrics.merge_rate` (not re-exported here, where the name
  would hide the module).
* :mod:`vseg.metrics.evaluate` pairs result and ground-truth files and runs them for the
  command-line evaluators.
"""
from .merge_rate import MergeRate, frame_merge_counts, table_merge_counts
from .pairs import PairTable, check_class_ids, concat_tables, count_pairs
from .pq import PanopticQuality, segment_stats
from .stq import STQuality
from .vpq import VideoPanopticQuality

__all__ = ['PairTable', 'check_class_ids', 'concat_tables', 'count_pairs', 'PanopticQuality',
           'segment_stats', 'STQuality', 'VideoPanopticQuality', 'MergeRate',
           'frame_merge_counts', 'table_merge_counts']
