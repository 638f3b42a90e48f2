"""Online image panoptic quality (PQ) during validation and test: a thin mmengine wrapper.

The definition and the accumulator are the torch-free :class:`vseg.metrics.PanopticQuality`
(docs/metrics.md, "PQ"). Design:

* ``process`` turns every frame into its :class:`~vseg.metrics.PairTable` (the only
  full-resolution work, done on the rank that predicted the frame) and stores it with its
  ``(sequence, frame_id)``. A table holds a few dozen entries, so gathering them is cheap and
  no prediction PNG is written.
* ``compute_metrics`` (rank 0, after mmengine's ``collect_results`` has gathered the tables of
  all ranks) groups the tables by sequence, sorts each sequence by ``frame_id``, drops
  duplicated frames (samplers that pad with repeated samples) and streams them into the
  accumulators, so the result does not depend on how frames were spread over ranks. A sequence
  is identified by the metainfo ``seq_name`` when present (Cityscapes sequence numbers repeat
  across cities), else by ``seq_id``.

Inputs per frame (a data sample or its ``to_dict()``):

* ``pred_panoptic.sem_seg`` (1, H, W) dataset class ids (``ignore_label`` = no prediction) and
  ``pred_panoptic.instance_ids`` (1, H, W) instance / track ids (0 = none), at the
  ground-truth size;
* metainfo ``seq_id`` and ``frame_id``;
* the ground truth, either ``gt_panoptic``: (H, W) or (1, H, W) ids ``class * label_divisor +
  instance`` given directly, or else the annotation file(s) named by the metainfo
  (``PackPanopticInputs`` copies ``seg_path``, ``ins_path`` and ``seg_format``), decoded by the
  format registry :mod:`vseg.formats`, exactly as the datasets decode them.

Class facts come from ``dataset_meta``: ``classes`` (their number is C), ``thing_ids``, and the
optional ``ignore_label`` (255) and ``label_divisor`` (65536).
"""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from knet.registry import METRICS
from vseg.formats import get_format
from vseg.metrics import PairTable, PanopticQuality, count_pairs
from vseg.metrics.evaluate import format_table, percent
from vseg.panoptic import IGNORE_LABEL, LABEL_DIVISOR


def field(sample: Any, name: str) -> Any:
    """``sample[name]`` for dicts, ``getattr(sample, name)`` for data elements (None if absent)."""
    if isinstance(sample, dict):
        return sample.get(name)
    return getattr(sample, name, None)


def as_map(value: Any, what: str) -> np.ndarray:
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
class PanopticMetric(BaseMetric):
    """Image PQ (``PQ``, ``PQ_th``, ``PQ_st``) of panoptic predictions over all ranks.

    Args:
        thing_ids: override ``dataset_meta['thing_ids']``.
        num_classes: override ``len(dataset_meta['classes'])``.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine).
        prefix: metric name prefix (mmengine).
    """

    default_prefix: Optional[str] = None

    def __init__(self, thing_ids: Optional[Sequence[int]] = None,
                 num_classes: Optional[int] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
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

    @property
    def ignore_label(self) -> int:
        """Void class (metainfo, default 255)."""
        return int(self._meta('ignore_label', IGNORE_LABEL))

    def class_facts(self) -> Tuple[int, List[int]]:
        """``(num_classes, thing_ids)`` from the arguments, else from ``dataset_meta``."""
        num_classes = self.num_classes or len(self._meta('classes'))
        return num_classes, self.thing_ids or [int(t) for t in self._meta('thing_ids')]

    def ground_truth(self, sample: Any, where: str) -> np.ndarray:
        """(H, W) ground-truth ids from ``gt_panoptic`` or the annotation file(s).

        Args:
            sample: the data sample (or its dict).
            where: ``'sequence S frame F'`` for the error messages.
        """
        gt = field(sample, 'gt_panoptic')
        if gt is not None:
            return as_map(gt, f'gt_panoptic of {where}')
        seg_path = field(sample, 'seg_path')
        if seg_path is None:
            raise KeyError(f'{where}: the data sample has neither "gt_panoptic" nor "seg_path" '
                           '(the ground-truth annotation)')
        name = field(sample, 'seg_format')
        if not name:
            raise KeyError(f'{where}: the data sample of {seg_path} has no "seg_format" (the '
                           'annotation format, e.g. "kitti-step")')
        try:
            fmt = get_format(name)
        except KeyError as error:
            raise ValueError(f'{where}: {seg_path}: {error.args[0]}') from None
        files = {key: field(sample, key) for key in fmt.file_keys}
        files = fmt.files_of(files, where=f'{where} ({seg_path})')
        return fmt.read_panoptic(files, self.class_facts()[1], self.label_divisor)

    @staticmethod
    def prediction(sample: Any) -> Tuple[Any, int, str, np.ndarray, np.ndarray]:
        """``(seq_id, frame_id, where, semantic, instance)`` of a predicted data sample; ``where``
        (``'sequence S frame F'``) is for error messages.

        Raises:
            KeyError: the metainfo ``seq_id`` / ``frame_id`` or ``pred_panoptic`` is missing.
        """
        seq_id, frame_id = field(sample, 'seq_id'), field(sample, 'frame_id')
        if seq_id is None or frame_id is None:
            raise KeyError('every data sample needs the metainfo "seq_id" and "frame_id"')
        where = f'sequence {seq_id} frame {frame_id}'
        pred = field(sample, 'pred_panoptic')
        if pred is None:
            raise KeyError(f'{where}: no "pred_panoptic"')
        sem = as_map(field(pred, 'sem_seg'), f'pred_panoptic.sem_seg of {where}')
        ins = as_map(field(pred, 'instance_ids'), f'pred_panoptic.instance_ids of {where}')
        return seq_id, int(frame_id), where, sem, ins

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Count the (GT id, predicted id) pairs of every frame of the batch."""
        for sample in data_samples:
            seq_id, frame_id, where, sem, ins = self.prediction(sample)
            gt = self.ground_truth(sample, where)
            if not sem.shape == ins.shape == gt.shape:
                raise ValueError(f'{where}: prediction {sem.shape} / {ins.shape} and ground '
                                 f'truth {gt.shape} differ in size')
            table = count_pairs(gt, sem * self.label_divisor + ins)
            seq_name = field(sample, 'seq_name')
            self.results.append(dict(seq=seq_id if seq_name is None else seq_name,
                                     frame_id=int(frame_id), table=tuple(table)))

    @staticmethod
    def group(results: List[dict]) -> Dict[Any, List[Tuple[int, PairTable]]]:
        """Tables per sequence, sorted by frame id, each frame once."""
        grouped: Dict[Any, Dict[int, PairTable]] = defaultdict(dict)
        for item in results:
            grouped[item['seq']].setdefault(item['frame_id'], PairTable(*item['table']))
        order = sorted(grouped, key=lambda seq: (isinstance(seq, str), seq))
        return {seq: sorted(grouped[seq].items()) for seq in order}

    def accumulators(self) -> Dict[str, Any]:
        """One streaming accumulator per reported metric (here: image PQ)."""
        num_classes, thing_ids = self.class_facts()
        return dict(PQ=PanopticQuality(num_classes, thing_ids, self.ignore_label,
                                       self.label_divisor))

    @staticmethod
    def headline(name: str, result: dict) -> Dict[str, float]:
        """The reported keys of one accumulator's result."""
        return {key: result[key] for key in (name, f'{name}_th', f'{name}_st')}

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """The metrics over the gathered tables of all ranks."""
        accumulators = self.accumulators()
        for seq, frames in self.group(results).items():
            for frame_id, table in frames:
                for accumulator in accumulators.values():
                    accumulator.update_pairs(table, seq, frame_id)
        out: Dict[str, float] = {}
        for name, accumulator in accumulators.items():
            out.update(self.headline(name, accumulator.result()))
        print_log('\n' + format_table(list(out), [[percent(v) for v in out.values()]]),
                  logger='current')
        return out
