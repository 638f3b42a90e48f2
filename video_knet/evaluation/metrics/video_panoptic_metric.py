"""Online STQ / VPQ / PQ during validation and test (DESIGN.md §9.2, §9.3; STYLE.md §2.6).

A thin mmengine wrapper over :mod:`video_knet.evaluation.functional`. Design:

* ``process`` turns every frame into its :class:`PairTable` (the only full-resolution work, done
  on the rank that predicted the frame) and stores it with its ``(seq_id, frame_id)``. A table
  holds a few dozen entries, so gathering them is cheap and no prediction PNG is written.
* ``compute_metrics`` (rank 0, after mmengine's ``collect_results`` has gathered the tables of all
  ranks) groups the tables by sequence, sorts each sequence by ``frame_id``, drops duplicated
  frames (samplers that pad with repeated samples) and streams them into STQ, VPQ and PQ. The
  result therefore does not depend on how frames or sequences were spread over ranks. A
  sequence is identified by the metainfo ``seq_name`` when present (Cityscapes sequence numbers
  repeat across cities), else by ``seq_id``.
* PQ is the image panoptic quality: VPQ with window size 1 (each frame on its own) pooled over
  all frames, computed by its own accumulator, so it needs neither the VPQ windows nor track
  ids that are consistent across frames.

Inputs per frame (a data sample or its ``to_dict()``):

* ``pred_panoptic.sem_seg`` (1, H, W) dataset class ids (``ignore_label`` = no prediction) and
  ``pred_panoptic.instance_ids`` (1, H, W) track ids (0 = none), at the ground-truth size;
* metainfo ``seq_id`` and ``frame_id``;
* the ground truth, either ``gt_panoptic``: (H, W) or (1, H, W) ids ``class * label_divisor +
  instance`` given directly, or else the PNG(s) named by the metainfo (``PackPanopticInputs``
  copies these keys), read here: ``seg_path`` with ``seg_format`` ``'step_rgb'`` (default; the
  KITTI-STEP panoptic PNG) or ``'cityscapes'`` (``seg_path`` = the ``labelTrainIds`` PNG plus
  ``ins_path`` = the ``instanceTrainIds`` PNG, decoded as the datasets do by
  :func:`knet.datasets.transforms.loading.decode_panoptic`).

Class facts come from ``dataset_meta``: ``classes`` (their number is C), ``thing_ids``, and the
optional ``ignore_label`` (255) and ``label_divisor`` (65536). Reported keys (fractions):
``STQ``, ``AQ``, ``SQ``; ``VPQ``, ``VPQ_th``, ``VPQ_st`` and ``VPQ@k`` for every window size k;
``PQ``, ``PQ_th``, ``PQ_st``.
"""
import os.path as osp
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from knet.datasets.transforms.loading import SEG_FORMATS, decode_panoptic
from knet.registry import METRICS
from knet.structures.panoptic import IGNORE_LABEL, LABEL_DIVISOR
from ..functional import PairTable, STQuality, VideoPanopticQuality, count_pairs
from ..io import format_table, percent, read_step_panoptic

#: The metrics this class computes (the ``metric`` argument picks a subset).
_METRICS = ('STQ', 'VPQ', 'PQ')
#: What it computes by default: the video metrics.
_DEFAULT_METRICS = ('STQ', 'VPQ')


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
    """STQ, VPQ and image PQ of panoptic predictions, gathered per sequence over all ranks.

    Args:
        metric: one of ``'STQ'``, ``'VPQ'`` and ``'PQ'``, or a sequence of them (named as in
            mmdet: an evaluator config holding a ``metrics`` key would be taken by mmengine for
            an ``Evaluator``).
        window_sizes: VPQ window sizes k (the headline VPQ is their mean); unused by PQ.
        legacy_stq: STQ as the original ``evaluate_stq.py`` (see :class:`STQuality`).
        thing_ids: override ``dataset_meta['thing_ids']``.
        num_classes: override ``len(dataset_meta['classes'])``.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine).
        prefix: metric name prefix (mmengine).
    """

    default_prefix: Optional[str] = None

    def __init__(self, metric: Union[str, Sequence[str]] = _DEFAULT_METRICS,
                 window_sizes: Sequence[int] = (1, 2, 3, 4), legacy_stq: bool = False,
                 thing_ids: Optional[Sequence[int]] = None, num_classes: Optional[int] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        unknown = set(metrics) - set(_METRICS)
        if not metrics or unknown:
            raise ValueError(f'metric {metrics} must be one of {_METRICS} or a non-empty '
                             'sequence of them')
        self.metrics = list(dict.fromkeys(metrics))
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

    def _thing_ids(self) -> List[int]:
        """The thing classes: the ``thing_ids`` argument, else ``dataset_meta['thing_ids']``."""
        return self.thing_ids or [int(t) for t in self._meta('thing_ids')]

    def _ground_truth(self, sample: Any, where: str) -> np.ndarray:
        """(H, W) ground-truth ids from ``gt_panoptic`` or the PNG(s) of the metainfo.

        Args:
            sample: the data sample (or its dict).
            where: ``'sequence S frame F'`` for the error messages.
        """
        gt = _field(sample, 'gt_panoptic')
        if gt is not None:
            return _as_map(gt, f'gt_panoptic of {where}')
        seg_path = _field(sample, 'seg_path')
        if seg_path is None:
            raise KeyError(f'{where}: the data sample has neither "gt_panoptic" nor "seg_path" '
                           '(the ground-truth panoptic PNG)')
        seg_format = _field(sample, 'seg_format') or 'step_rgb'
        if seg_format not in SEG_FORMATS:
            raise ValueError(f'{where}: unknown seg_format "{seg_format}" of {seg_path}, '
                             f'expected one of {SEG_FORMATS}')
        if seg_format == 'step_rgb':
            return self._read_step_rgb(seg_path)
        ins_path = _field(sample, 'ins_path')
        if not ins_path:
            raise KeyError(f'{where}: seg_format "cityscapes" ({seg_path}) needs the metainfo '
                           '"ins_path" (the instanceTrainIds PNG)')
        frame = dict(seg_path=seg_path, ins_path=ins_path, seg_format=seg_format)
        semantic, instance = decode_panoptic(frame, tuple(self._thing_ids()))
        return semantic.astype(np.int64) * self.label_divisor + instance

    def _read_step_rgb(self, seg_path: str) -> np.ndarray:
        """Read a KITTI-STEP panoptic PNG; a readable non-RGB file gets a Cityscapes hint."""
        try:
            return read_step_panoptic(seg_path, self.label_divisor)
        except ValueError as error:
            if not osp.isfile(seg_path):
                raise
            raise ValueError(f'{error} (Cityscapes labelTrainIds + instanceTrainIds ground '
                             'truth needs the metainfo "seg_format" = "cityscapes" and '
                             '"ins_path")') from error

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Count the (GT id, predicted id) pairs of every frame of the batch."""
        for sample in data_samples:
            seq_id, frame_id = _field(sample, 'seq_id'), _field(sample, 'frame_id')
            if seq_id is None or frame_id is None:
                raise KeyError('every data sample needs the metainfo "seq_id" and "frame_id"')
            where = f'sequence {seq_id} frame {frame_id}'
            pred = _field(sample, 'pred_panoptic')
            if pred is None:
                raise KeyError(f'{where}: no "pred_panoptic"')
            sem = _as_map(_field(pred, 'sem_seg'), f'pred_panoptic.sem_seg of {where}')
            ins = _as_map(_field(pred, 'instance_ids'), f'pred_panoptic.instance_ids of {where}')
            gt = self._ground_truth(sample, where)
            if not sem.shape == ins.shape == gt.shape:
                raise ValueError(f'{where}: prediction {sem.shape} / {ins.shape} and ground '
                                 f'truth {gt.shape} differ in size')
            table = count_pairs(gt, sem * self.label_divisor + ins)
            seq_name = _field(sample, 'seq_name')
            self.results.append(dict(seq=seq_id if seq_name is None else seq_name,
                                     frame_id=int(frame_id), table=tuple(table)))

    def _group(self, results: List[dict]) -> Dict[Any, List[Tuple[int, PairTable]]]:
        """Tables per sequence, sorted by frame id, each frame once."""
        grouped: Dict[Any, Dict[int, PairTable]] = defaultdict(dict)
        for item in results:
            grouped[item['seq']].setdefault(item['frame_id'], PairTable(*item['table']))
        order = sorted(grouped, key=lambda seq: (isinstance(seq, str), seq))
        return {seq: sorted(grouped[seq].items()) for seq in order}

    def _evaluators(self) -> Dict[str, Any]:
        """One streaming accumulator per requested metric."""
        num_classes = self.num_classes or len(self._meta('classes'))
        thing_ids = self._thing_ids()
        ignore = int(self._meta('ignore_label', IGNORE_LABEL))
        evaluators: Dict[str, Any] = {}
        if 'STQ' in self.metrics:
            evaluators['STQ'] = STQuality(num_classes, thing_ids, ignore, self.label_divisor,
                                          legacy=self.legacy_stq)
        if 'VPQ' in self.metrics:
            evaluators['VPQ'] = VideoPanopticQuality(num_classes, thing_ids, self.window_sizes,
                                                     ignore, self.label_divisor)
        if 'PQ' in self.metrics:
            evaluators['PQ'] = VideoPanopticQuality(num_classes, thing_ids, [1], ignore,
                                                    self.label_divisor)
        return evaluators

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """STQ / VPQ / PQ over the gathered tables of all ranks."""
        evaluators = self._evaluators()
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
        if 'PQ' in evaluators:
            pq = evaluators['PQ'].result()
            out.update(PQ=pq['VPQ'], PQ_th=pq['VPQ_th'], PQ_st=pq['VPQ_st'])
        print_log('\n' + format_table(list(out), [[percent(v) for v in out.values()]]),
                  logger='current')
        return out
