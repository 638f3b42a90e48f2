"""Torch-free panoptic metrics with streaming, per-frame pair tables (docs/metrics.md).

* :class:`PanopticQuality`: image PQ; :class:`VideoPanopticQuality`: VPQ over k-frame windows,
  built on it (VPQ at k = 1 is PQ); :class:`STQuality`: segmentation and tracking quality.
* All three take ``update(gt, pred, sequence_id)`` on (H, W) panoptic id maps
  (``class * label_divisor + instance``) or ``update_pairs(table, sequence_id)`` on the
  :class:`PairTable` of a frame, and ``result()``.
* :mod:`vseg.metrics.evaluate` pairs result and ground-truth files and runs them for the
  command-line evaluators.
"""
from .pairs import PairTable, check_class_ids, concat_tables, count_pairs
from .pq import PanopticQuality, segment_stats
from .stq import STQuality
from .vpq import VideoPanopticQuality

__all__ = ['PairTable', 'check_class_ids', 'concat_tables', 'count_pairs', 'PanopticQuality',
           'segment_stats', 'STQuality', 'VideoPanopticQuality']
