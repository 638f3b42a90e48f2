"""Online STQ / VPQ (and image PQ) during validation and test.

Extends :class:`knet.evaluation.PanopticMetric` (same inputs, gathering and per-sequence
ordering; read its docstring) with the video metrics of the torch-free :mod:`vseg.metrics`:
:class:`~vseg.metrics.STQuality` and :class:`~vseg.metrics.VideoPanopticQuality`
(docs/metrics.md). Reported keys (fractions): ``STQ``, ``AQ``, ``SQ``; ``VPQ``, ``VPQ_th``,
``VPQ_st`` and ``VPQ@k`` for every window size k; ``PQ``, ``PQ_th``, ``PQ_st``.
"""
from typing import Any, Dict, Optional, Sequence, Union

from knet.evaluation import PanopticMetric
from knet.registry import METRICS
from vseg.metrics import STQuality, VideoPanopticQuality

#: The metrics this class computes (the ``metric`` argument picks a subset).
METRIC_NAMES = ('STQ', 'VPQ', 'PQ')
#: What it computes by default: the video metrics.
DEFAULT_METRICS = ('STQ', 'VPQ')


@METRICS.register_module()
class VideoPanopticMetric(PanopticMetric):
    """STQ, VPQ and image PQ of panoptic predictions, gathered per sequence over all ranks.

    Args:
        metric: one of ``'STQ'``, ``'VPQ'`` and ``'PQ'``, or a sequence of them (named as in
            mmdet: an evaluator config holding a ``metrics`` key would be taken by mmengine for
            an ``Evaluator``).
        window_sizes: VPQ window sizes k (the headline VPQ is their mean); unused by PQ.
        legacy_stq: STQ as the original ``evaluate_stq.py`` (docs/compatibility.md).
        thing_ids: override ``dataset_meta['thing_ids']``.
        num_classes: override ``len(dataset_meta['classes'])``.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine).
        prefix: metric name prefix (mmengine).
    """

    def __init__(self, metric: Union[str, Sequence[str]] = DEFAULT_METRICS,
                 window_sizes: Sequence[int] = (1, 2, 3, 4), legacy_stq: bool = False,
                 thing_ids: Optional[Sequence[int]] = None, num_classes: Optional[int] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(thing_ids=thing_ids, num_classes=num_classes,
                         collect_device=collect_device, prefix=prefix)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        unknown = set(metrics) - set(METRIC_NAMES)
        if not metrics or unknown:
            raise ValueError(f'metric {metrics} must be one of {METRIC_NAMES} or a non-empty '
                             'sequence of them')
        self.metrics = list(dict.fromkeys(metrics))
        self.window_sizes = [int(k) for k in window_sizes]
        self.legacy_stq = legacy_stq

    def accumulators(self) -> Dict[str, Any]:
        """One streaming accumulator per requested metric, in the order STQ, VPQ, PQ."""
        num_classes, thing_ids = self.class_facts()
        accumulators: Dict[str, Any] = {}
        if 'STQ' in self.metrics:
            accumulators['STQ'] = STQuality(num_classes, thing_ids, self.ignore_label,
                                            self.label_divisor, legacy=self.legacy_stq)
        if 'VPQ' in self.metrics:
            accumulators['VPQ'] = VideoPanopticQuality(num_classes, thing_ids, self.window_sizes,
                                                       self.ignore_label, self.label_divisor)
        if 'PQ' in self.metrics:
            accumulators.update(super().accumulators())
        return accumulators

    @staticmethod
    def headline(name: str, result: dict) -> Dict[str, float]:
        """STQ: ``STQ``, ``AQ``, ``SQ``; VPQ: also ``VPQ@k``; PQ as the image metric."""
        if name == 'STQ':
            return {key: result[key] for key in ('STQ', 'AQ', 'SQ')}
        out = PanopticMetric.headline(name, result)
        if name == 'VPQ':
            out.update({f'VPQ@{k}': w['VPQ'] for k, w in result['per_window'].items()})
        return out
