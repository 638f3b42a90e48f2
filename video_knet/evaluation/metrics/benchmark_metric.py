"""The official metric of a segment-listing benchmark (VIPSeg VPQ / STQ, Cityscapes-VPS VPQ)
during validation and test.

The offline evaluators (``tools/evaluate_vpq.py SUBMIT --format vipseg --gt-dir ROOT`` and
``tools/evaluate_stq.py``, :mod:`vseg.metrics.benchmark_eval`) score a written submission; this
metric computes the same figures from the predictions in memory, so validation during training
reports what the official scripts would report on the submission that inference writes:

* every predicted frame with a ground-truth annotation becomes the submission's segments
  (:func:`~vseg.formats.panoptic_video.prediction_segments`: ``(class + 1) << 16 | track``,
  no segment on ``ignore_label`` pixels);
* the ground truth of the frame is read by its annotation format's ``read_segments`` (the
  segments and ids the official evaluator sees, e.g. from the raw VIPSeg ``panomasks/`` PNG);
* the rank that predicted the frame counts its (ground-truth id, predicted id) pixel pairs and
  keeps them with both segment lists (a few dozen entries per frame), which mmengine gathers;
* rank 0 groups the frames into videos (``seq_id``, in increasing order: the order of the
  split list, which is the ground-truth order), sorts each by ``frame_id``, drops repeated
  frames, and pools the videos exactly as the offline evaluator does
  (:func:`~vseg.metrics.benchmark_eval.video_payload`, :class:`~vseg.metrics.segment_vpq.
  SegmentVPQ`, :func:`~vseg.metrics.benchmark_eval.stq_accumulator`).

Frames without an annotation (``seg_path`` None: the unlabelled frames that Cityscapes-VPS
inference with ``frames='all'`` tracks through) are counted and logged, not scored; an
evaluation in which no frame has one is an error.

The categories are the dataset metainfo's (``classes``, ``thing_ids``): ids ``0..C-1``, which
for VIPSeg and Cityscapes-VPS are the official category ids. Reported keys (fractions): ``VPQ``,
``VPQ_th``, ``VPQ_st`` and ``VPQ@L`` for every window length L (in evaluated frames); ``STQ``,
``AQ``, ``SQ``. A figure the official code cannot compute (e.g. no thing category in any window)
is NaN, with a logged warning.
"""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.logging import print_log

from knet.evaluation import PanopticMetric
from knet.evaluation.panoptic_metric import field
from knet.registry import METRICS
from vseg.formats import get_format
from vseg.formats.panoptic_video import Segment, prediction_segments
from vseg.metrics.benchmark_eval import (
    BENCHMARKS,
    stq_accumulator,
    stq_summary,
    video_payload,
)
from vseg.metrics.evaluate import format_table, percent
from vseg.metrics.pairs import PairTable, count_pairs
from vseg.metrics.segment_vpq import SegmentVPQ

_Segments = Tuple[Tuple[int, int, int, int], ...]  # (id, category, iscrowd, area)


def _pack(segments: Dict[int, Any]) -> _Segments:
    return tuple((int(i), int(s.category_id), int(s.iscrowd), int(s.area))
                 for i, s in segments.items())


def _unpack(packed: _Segments) -> Dict[int, Segment]:
    return {i: Segment(c, crowd, area) for i, c, crowd, area in packed}


@METRICS.register_module()
class BenchmarkVideoMetric(PanopticMetric):
    """An official benchmark's video metric(s), computed online over all ranks.

    Args:
        benchmark: a benchmark of :data:`vseg.metrics.benchmark_eval.BENCHMARKS`
            (``'vipseg'``, ``'cityscapes-vps'``): its window lengths and metrics.
        metric: ``'VPQ'`` and / or ``'STQ'`` (default: all the benchmark has).
        windows: VPQ window lengths (default: the benchmark's, VIPSeg 1, 2, 4, 6, 8;
            Cityscapes-VPS 1, 2, 3, 4).
        thing_ids: override ``dataset_meta['thing_ids']``.
        num_classes: override ``len(dataset_meta['classes'])``.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine).
        prefix: metric name prefix (mmengine).
    """

    def __init__(self, benchmark: str = 'vipseg',
                 metric: Optional[Union[str, Sequence[str]]] = None,
                 windows: Optional[Sequence[int]] = None,
                 thing_ids: Optional[Sequence[int]] = None, num_classes: Optional[int] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(thing_ids=thing_ids, num_classes=num_classes,
                         collect_device=collect_device, prefix=prefix)
        if benchmark not in BENCHMARKS:
            raise ValueError(f'BenchmarkVideoMetric: benchmark {benchmark!r} is not one of '
                             f'{sorted(BENCHMARKS)}')
        self.benchmark = BENCHMARKS[benchmark]
        available = [m.upper() for m in self.benchmark.metrics]
        metrics = available if metric is None else (
            [metric] if isinstance(metric, str) else list(metric))
        unknown = [m for m in metrics if m not in available]
        if not metrics or unknown:
            raise ValueError(f'BenchmarkVideoMetric: metric {metrics} must be one or more of '
                             f'{available} (the metrics of {benchmark})')
        self.metrics = list(dict.fromkeys(metrics))
        self.windows = [int(w) for w in (windows or self.benchmark.windows)]

    def categories(self) -> Dict[int, Dict[str, Any]]:
        """``{id: dict(name, isthing)}`` of the dataset classes (the official categories)."""
        num_classes, thing_ids = self.class_facts()
        names = list((self.dataset_meta or {}).get('classes', ()))
        return {c: dict(name=names[c] if c < len(names) else str(c), isthing=int(c in thing_ids))
                for c in range(num_classes)}

    def ground_truth_segments(self, sample: Any, where: str) -> Tuple[Any, Dict[int, Any]]:
        """The frame's ground-truth ids and segments from its annotation file(s)."""
        name = field(sample, 'seg_format')
        seg_path = field(sample, 'seg_path')
        if not name or not seg_path:
            raise KeyError(f'{where}: the data sample has no "seg_path" / "seg_format" (the '
                           'ground-truth annotation the benchmark metric reads)')
        try:
            fmt = get_format(name)
        except KeyError as error:
            raise ValueError(f'{where}: {seg_path}: {error.args[0]}') from None
        files = fmt.files_of({key: field(sample, key) for key in fmt.file_keys},
                             where=f'{where} ({seg_path})')
        return fmt.read_segments(files)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Count each frame's (ground-truth id, predicted id) pairs; keep both segment lists."""
        num_classes = self.class_facts()[0]
        for sample in data_samples:
            if not field(sample, 'seg_path'):
                # an unlabelled frame (e.g. Cityscapes-VPS frames='all'): tracked, not scored
                self.results.append(dict(unlabelled=1))
                continue
            seq_id, frame_id, where, sem, ins = self.prediction(sample)
            pred_ids, pred_segments = prediction_segments(sem, ins, num_classes,
                                                          self.ignore_label)
            gt_ids, gt_segments = self.ground_truth_segments(sample, where)
            if gt_ids.shape != pred_ids.shape:
                raise ValueError(f'{where}: prediction {pred_ids.shape} and ground truth '
                                 f'{gt_ids.shape} ({field(sample, "seg_path")}) differ in size')
            self.results.append(dict(
                seq=(int(seq_id), str(field(sample, 'seq_name') or seq_id)),
                frame_id=frame_id, table=tuple(count_pairs(gt_ids, pred_ids)),
                gt=_pack(gt_segments), pred=_pack(pred_segments)))

    @staticmethod
    def videos(results: List[dict]) -> List[Tuple[str, list]]:
        """``[(video name, [(table, gt segments, predicted segments), ...]), ...]``: videos in
        increasing ``seq_id``, frames in increasing ``frame_id``, each frame once."""
        grouped: Dict[Tuple[int, str], Dict[int, dict]] = defaultdict(dict)
        for item in results:
            grouped[tuple(item['seq'])].setdefault(item['frame_id'], item)
        out = []
        for key in sorted(grouped):
            frames = [grouped[key][f] for f in sorted(grouped[key])]
            out.append((key[1], [(PairTable(*f['table']), _unpack(f['gt']), _unpack(f['pred']))
                                 for f in frames]))
        return out

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """The benchmark's figures over the gathered frames of all ranks."""
        unlabelled = sum(1 for item in results if 'unlabelled' in item)
        results = [item for item in results if 'unlabelled' not in item]
        if not results:
            raise ValueError(f'{self.benchmark.name}: none of the {unlabelled} evaluated frames '
                             'has a ground-truth annotation ("seg_path"); the metric needs the '
                             'labelled frames of a split with annotations')
        videos = self.videos(results)
        categories = self.categories()
        out: Dict[str, float] = {}
        if 'VPQ' in self.metrics:
            vpq = SegmentVPQ(categories, self.windows)
            for name, frames in videos:
                stats: Any = video_payload(frames, name, 'vpq', self.windows)
                vpq.add_video(stats, len(frames))
            result = vpq.result()
            out.update(VPQ=result['VPQ'], VPQ_th=result['VPQ_th'], VPQ_st=result['VPQ_st'])
            out.update({f'VPQ@{length}': w['VPQ'] for length, w in result['per_window'].items()})
            for warning in result['warnings']:
                print_log(f'{self.benchmark.name} VPQ: {warning}', logger='current',
                          level=30)
        if 'STQ' in self.metrics:
            stq = stq_accumulator(categories)
            for index, (name, frames) in enumerate(videos):
                tables: Any = video_payload(frames, name, 'stq', ())
                for frame, table in enumerate(tables):
                    stq.update_pairs(table, index, frame)
            summary = stq_summary(stq.result(), [name for name, _ in videos])
            out.update(STQ=summary['STQ'], AQ=summary['AQ'], SQ=summary['SQ'])
        skipped = f', {unlabelled} unlabelled frames not scored' if unlabelled else ''
        print_log(f'{self.benchmark.name} (official definition), {len(videos)} videos, '
                  f'{len(results)} labelled frames{skipped}:\n'
                  + format_table(list(out), [[percent(v) for v in out.values()]]),
                  logger='current')
        return out
