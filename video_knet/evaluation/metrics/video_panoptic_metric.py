"""Online STQ / VPQ during validation and test (DESIGN.md §9.2, §9.3; STYLE.md §2.6).

A thin mmengine wrapper over :mod:`video_knet.evaluation.functional`. Design:

* ``process`` turns every frame into its :class:`PairTable` (the only full-resolution work, done
  on the rank that predicted the frame) and stores it with its ``(seq_id, frame_id)``. A table
  holds a few dozen entries, so gathering them is cheap and no prediction PNG is written.
* ``compute_metrics`` (rank 0, after mmengine's ``collect_results`` has gathered the tables of all
  ranks) groups the tables by sequence, sorts each sequence by ``frame_id``, drops duplicated
  frames (samplers that pad with repeated samples) and streams them into STQ and VPQ. The
  result therefore does not depend on how frames or sequences were spread over ranks.

Inputs per frame (a data sample or its ``to_dict()``):

* ``pred_panoptic.sem_seg`` (1, H, W) dataset class ids (``ignore_label`` = no prediction) and
  ``pred_panoptic.instance_ids`` (1, H, W) track ids (0 = none), at the ground-truth size;
* metainfo ``seq_id`` and ``frame_id``;
* the ground truth, either ``gt_panoptic``: (H, W) or (1, H, W) ids ``class * label_divisor +
  instance`` given directly, or else ``seg_path``: the KITTI-STEP panoptic PNG, read here.

Class facts come from ``dataset_meta``: ``classes`` (their number is C), ``thing_ids``, and the
optional ``ignore_label`` (255) and ``label_divisor`` (65536). Reported keys (fractions):
``STQ``, ``AQ``, ``SQ``, ``VPQ``, ``VPQ_th``, ``VPQ_st`` and ``VPQ@k`` for every window size k.
"""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from knet.registry import METRICS
from knet.structures.panoptic import IGNORE_LABEL, LABEL_DIVISOR
from ..functional import PairTable, STQuality, VideoPanopticQuality, count_pairs
from ..io import format_table, percent, read_step_panoptic

_METRICS = ('STQ', 'VPQ')


def _field(sample: Any, name: str) -> Any:
    """``sample[name]`` for dicts, ``getattr(sample, name)`` for data elements (None if absent)."""
    if isinstance(sample, dict):
        return sample.get(name)
    return getattr(sample, name, None)


def _as_map(value: Any, what: str) -> np.ndarray:
    """A (H, W) int64 numpy map from a tensor / array of shape (H, W) or (1, H, W)."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.ndim == 3 and value.shape[0] == 1:
        value = value[0]
    if value.ndim != 2:
        raise ValueError(f'{what} must have shape (H, W) or (1, H, W), got {value.shape}')
    return value.astype(np.int64)


@METRICS.register_module()
class VideoPanopticMetric(BaseMetric):
    """STQ and VPQ of video panoptic predictions, gathered per sequence over all ranks.

    Args:
        metrics: which of ``'STQ'`` and ``'VPQ'`` to compute.
        window_sizes: VPQ window sizes k (the headline VPQ is their mean).
        legacy_stq: STQ as the original ``evaluate_stq.py`` (see :class:`STQuality`).
        thing_ids: override ``dataset_meta['thing_ids']``.
        num_classes: override ``len(dataset_meta['classes'])``.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine).
        prefix: metric name prefix (mmengine).
    """

    default_prefix: Optional[str] = None

    def __init__(self, metrics: Sequence[str] = _METRICS,
                 window_sizes: Sequence[int] = (1, 2, 3, 4), legacy_stq: bool = False,
                 thing_ids: Optional[Sequence[int]] = None, num_classes: Optional[int] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = set(metrics) - set(_METRICS)
        if not metrics or unknown:
            raise ValueError(f'metrics {metrics} must be a non-empty subset of {_METRICS}')
        self.metrics = metrics
        self.window_sizes = [int(k) for k in window_sizes]
        self.legacy_stq = legacy_stq
        self.thing_ids = None if thing_ids is None else [int(t) for t in thing_ids]
        self.num_classes = num_classes

    def _meta(self, key: str, default: Any = None) -> Any:
        meta = self.dataset_meta or {}
        if key not in meta and default is None:
            raise KeyError(f'{type(self).__name__}: dataset_meta has no "{key}" (got keys '
                           f'{sorted(meta)}); set the dataset metainfo or the metric argument')
        return meta.get(key, default)

    @property
    def label_divisor(self) -> int:
        """``id = class * label_divisor + instance`` (metainfo, default 65536)."""
        return int(self._meta('label_divisor', LABEL_DIVISOR))

    def _ground_truth(self, sample: Any, seq_id: Any, frame_id: Any) -> np.ndarray:
        """(H, W) ground-truth ids from ``gt_panoptic`` or the ``seg_path`` PNG."""
        gt = _field(sample, 'gt_panoptic')
        if gt is not None:
            return _as_map(gt, f'gt_panoptic of sequence {seq_id} frame {frame_id}')
        seg_path = _field(sample, 'seg_path')
        if seg_path is None:
            raise KeyError(f'sequence {seq_id} frame {frame_id}: the data sample has neither '
                           '"gt_panoptic" nor "seg_path" (the ground-truth panoptic PNG)')
        return read_step_panoptic(seg_path, self.label_divisor)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Count the (GT id, predicted id) pairs of every frame of the batch."""
        for sample in data_samples:
            seq_id, frame_id = _field(sample, 'seq_id'), _field(sample, 'frame_id')
            if seq_id is None or frame_id is None:
                raise KeyError('every data sample needs the metainfo "seq_id" and "frame_id"')
            pred = _field(sample, 'pred_panoptic')
            if pred is None:
                raise KeyError(f'sequence {seq_id} frame {frame_id}: no "pred_panoptic"')
            where = f'sequence {seq_id} frame {frame_id}'
            sem = _as_map(_field(pred, 'sem_seg'), f'pred_panoptic.sem_seg of {where}')
            ins = _as_map(_field(pred, 'instance_ids'), f'pred_panoptic.instance_ids of {where}')
            gt = self._ground_truth(sample, seq_id, frame_id)
            if not sem.shape == ins.shape == gt.shape:
                raise ValueError(f'{where}: prediction {sem.shape} / {ins.shape} and ground '
                                 f'truth {gt.shape} differ in size')
            table = count_pairs(gt, sem * self.label_divisor + ins)
            self.results.append(dict(seq_id=seq_id, frame_id=int(frame_id),
                                     table=tuple(table)))

    def _group(self, results: List[dict]) -> Dict[Any, List[Tuple[int, PairTable]]]:
        """Tables per sequence, sorted by frame id, each frame once."""
        grouped: Dict[Any, Dict[int, PairTable]] = defaultdict(dict)
        for item in results:
            grouped[item['seq_id']].setdefault(item['frame_id'], PairTable(*item['table']))
        order = sorted(grouped, key=lambda seq: (isinstance(seq, str), seq))
        return {seq: sorted(grouped[seq].items()) for seq in order}

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """STQ / VPQ over the gathered tables of all ranks."""
        num_classes = self.num_classes or len(self._meta('classes'))
        thing_ids = self.thing_ids or list(self._meta('thing_ids'))
        ignore = int(self._meta('ignore_label', IGNORE_LABEL))
        evaluators = {}
        if 'STQ' in self.metrics:
            evaluators['STQ'] = STQuality(num_classes, thing_ids, ignore, self.label_divisor,
                                          legacy=self.legacy_stq)
        if 'VPQ' in self.metrics:
            evaluators['VPQ'] = VideoPanopticQuality(num_classes, thing_ids, self.window_sizes,
                                                     ignore, self.label_divisor)
        for seq, frames in self._group(results).items():
            for _, table in frames:
                for evaluator in evaluators.values():
                    evaluator.update_pairs(table, seq)
        out: Dict[str, float] = {}
        if 'STQ' in evaluators:
            stq = evaluators['STQ'].result()
            out.update(STQ=stq['STQ'], AQ=stq['AQ'], SQ=stq['SQ'])
        if 'VPQ' in evaluators:
            vpq = evaluators['VPQ'].result()
            out.update(VPQ=vpq['VPQ'], VPQ_th=vpq['VPQ_th'], VPQ_st=vpq['VPQ_st'])
            out.update({f'VPQ@{k}': w['VPQ'] for k, w in vpq['per_window'].items()})
        print_log('\n' + format_table(list(out), [[percent(v) for v in out.values()]]),
                  logger='current')
        return out
