"""Instance merge rate: how often one predicted thing segment covers several ground-truth
instances, and how often one ground-truth instance is split over several predicted segments
(docs/metrics.md, "Instance merge rate").

Per frame, a **predicted segment** is the set of pixels with one (class, track id) pair whose
class is a thing class and whose track id is > 0; a **ground-truth instance** likewise (instance
0 on a thing class is crowd, not an instance). Ground-truth void pixels (the ignore label) belong
to nothing: they are dropped before anything is counted, from the predicted segments too.
Ground-truth instances smaller than ``min_area`` pixels are ignored.

* A predicted segment ``p`` **covers** a ground-truth instance ``g`` when
  ``|p ∩ g| >= min_overlap * |g|``; ``p`` is **merged** when it covers two or more instances,
  whatever their classes (one segment over a car and a person is merged too).
* A ground-truth instance ``g`` is **split** when two or more predicted segments ``p`` each have
  ``|p ∩ g| >= min_overlap * |p|`` (each lies mostly inside ``g``).

Everything is computed from the frame's :class:`~vseg.metrics.pairs.PairTable` (pixel counts of
the (ground-truth id, predicted id) pairs), so the figures cost a few sorts of small arrays per
frame, and ``--tables-cache`` files of the STQ / VPQ evaluators are reused. The file-reading
helpers of :mod:`vseg.metrics.evaluate` (OpenCV) are imported only when files are read, so
``import vseg.metrics`` stays NumPy-only.
"""
import argparse
import sys
from typing import TYPE_CHECKING, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..panoptic import LABEL_DIVISOR
from .pairs import PairTable, check_class_ids, count_pairs, next_frame_id

if TYPE_CHECKING:
    from .evaluate import EvalSetup, FrameFiles

#: Keys of the counts of a frame, a sequence or the total.
COUNT_KEYS = ('pred_segments', 'merged', 'gt_instances', 'split')


def check_thresholds(min_overlap: float, min_area: int) -> None:
    """Raise a ValueError unless ``0 < min_overlap <= 1`` and ``min_area >= 0``."""
    if not 0 < min_overlap <= 1:
        raise ValueError(f'min_overlap must be in (0, 1], got {min_overlap}')
    if min_area < 0:
        raise ValueError(f'min_area must be >= 0 pixels, got {min_area}')


def _sizes(ids: np.ndarray, counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Sorted unique ``ids`` and the sum of ``counts`` of each (ids may repeat)."""
    keys, inverse = np.unique(ids, return_inverse=True)
    return keys, np.bincount(inverse.reshape(-1), weights=counts, minlength=len(keys))


def table_merge_counts(table: PairTable, thing_ids: Sequence[int], ignore_label: int,
                       label_divisor: int = LABEL_DIVISOR, min_overlap: float = 0.5,
                       min_area: int = 0) -> Dict[str, int]:
    """Merged predicted segments and split ground-truth instances of one frame's pair table.

    Args:
        table: the frame's :class:`PairTable` (panoptic ids ``class * label_divisor + id``);
            pairs may repeat (they are summed).
        thing_ids: dataset ids of the thing classes.
        ignore_label: the void class of the ground truth (its pixels belong to nothing).
        label_divisor: ``panoptic id = class * label_divisor + instance``.
        min_overlap: fraction of a ground-truth instance a predicted segment must hold to cover
            it, and of a predicted segment that must lie in an instance to split it.
        min_area: ground-truth instances with fewer pixels are ignored (0: none).

    Returns:
        ``dict(pred_segments=, merged=, gt_instances=, split=)`` (counts of the frame).
    """
    check_thresholds(min_overlap, min_area)
    gt_ids, pred_ids, counts = (np.asarray(column, dtype=np.int64) for column in table)
    things = np.asarray(sorted({int(t) for t in thing_ids}), dtype=np.int64)
    gt_cls, gt_ins = np.divmod(gt_ids, label_divisor)
    pred_cls, pred_ins = np.divmod(pred_ids, label_divisor)
    not_void = gt_cls != ignore_label
    is_gt = not_void & np.isin(gt_cls, things) & (gt_ins > 0)
    is_pred = not_void & np.isin(pred_cls, things) & (pred_ins > 0)
    gt_keys, gt_size = _sizes(gt_ids[is_gt], counts[is_gt])
    pred_keys, pred_size = _sizes(pred_ids[is_pred], counts[is_pred])
    kept = gt_size >= min_area
    # Intersections of every (instance, segment) pair that overlaps, summed over repeats.
    both = is_gt & is_pred
    num_pred = len(pred_keys)
    pair_keys, inter = _sizes(np.searchsorted(gt_keys, gt_ids[both]) * num_pred
                              + np.searchsorted(pred_keys, pred_ids[both]), counts[both])
    g, p = np.divmod(pair_keys, max(num_pred, 1))
    pair_kept = kept[g]
    # Ratios, not ``inter >= min_overlap * size``: 3 / 10 >= 0.3 holds, 3 >= 0.3 * 10 does not.
    covers = pair_kept & (inter / gt_size[g] >= min_overlap)
    inside = pair_kept & (inter / pred_size[p] >= min_overlap)
    merged = int((np.bincount(p[covers], minlength=num_pred) >= 2).sum())
    split = int((np.bincount(g[inside], minlength=len(gt_keys)) >= 2).sum())
    return dict(pred_segments=num_pred, merged=merged, gt_instances=int(kept.sum()), split=split)


def frame_merge_counts(gt_sem: np.ndarray, gt_inst: np.ndarray, pred_sem: np.ndarray,
                       pred_inst: np.ndarray, thing_ids: Sequence[int], ignore_label: int,
                       min_overlap: float = 0.5, min_area: int = 0) -> Dict[str, int]:
    """Merged predicted segments and split ground-truth instances of one frame.

    Args:
        gt_sem: (H, W) integer ground-truth class ids (``ignore_label`` = void).
        gt_inst: (H, W) integer ground-truth instance ids (0 = stuff or crowd).
        pred_sem: (H, W) integer predicted class ids.
        pred_inst: (H, W) integer predicted instance / track ids (0 = none).
        thing_ids: dataset ids of the thing classes.
        ignore_label: the void class.
        min_overlap: see :func:`table_merge_counts`.
        min_area: see :func:`table_merge_counts`.

    Returns:
        ``dict(pred_segments=, merged=, gt_instances=, split=)``.

    Raises:
        ValueError: if the maps differ in shape or hold negative or non-integer ids.
    """
    maps = [np.asarray(m) for m in (gt_sem, gt_inst, pred_sem, pred_inst)]
    if len({m.shape for m in maps}) != 1:
        raise ValueError('gt_sem, gt_inst, pred_sem and pred_inst must have one shape, got '
                         + ', '.join(str(m.shape) for m in maps))
    for name, m in zip(('gt_sem', 'gt_inst', 'pred_sem', 'pred_inst'), maps):
        if m.dtype.kind not in 'iu':
            raise ValueError(f'{name} must hold integers, got dtype {m.dtype}')
        if m.size and m.dtype.kind == 'i' and int(m.min()) < 0:
            raise ValueError(f'{name} holds negative ids')
    divisor = max([1] + [int(m.max()) + 1 for m in maps[1::2] if m.size])
    gt = maps[0].astype(np.int64) * divisor + maps[1]
    pred = maps[2].astype(np.int64) * divisor + maps[3]
    return table_merge_counts(count_pairs(gt, pred), thing_ids, ignore_label, divisor,
                              min_overlap, min_area)


def _with_rates(counts: Dict[str, int]) -> dict:
    """``counts`` plus ``merge_rate`` (merged / predicted segments) and ``split_rate`` (split /
    ground-truth instances), NaN when there is nothing to divide by."""
    def rate(num: int, den: int) -> float:
        return num / den if den else float('nan')

    return dict(counts, merge_rate=rate(counts['merged'], counts['pred_segments']),
                split_rate=rate(counts['split'], counts['gt_instances']))


class MergeRate:
    """Accumulates :func:`table_merge_counts` over the frames of several sequences.

    Args:
        thing_ids: dataset ids of the thing classes.
        ignore_label: the void class.
        label_divisor: ``panoptic id = class * label_divisor + instance``.
        min_overlap: see :func:`table_merge_counts`.
        min_area: see :func:`table_merge_counts`.
        num_classes: when given, a class id that is neither in ``0..num_classes-1`` nor
            ``ignore_label`` is an error.
    """

    def __init__(self, thing_ids: Sequence[int], ignore_label: int,
                 label_divisor: int = LABEL_DIVISOR, min_overlap: float = 0.5, min_area: int = 0,
                 num_classes: Optional[int] = None) -> None:
        check_thresholds(min_overlap, min_area)
        self.thing_ids = sorted({int(t) for t in thing_ids})
        self.ignore_label = int(ignore_label)
        self.label_divisor = int(label_divisor)
        self.min_overlap = float(min_overlap)
        self.min_area = int(min_area)
        self.num_classes = num_classes
        self._sequences: Dict[Hashable, Dict[str, int]] = {}
        self._last_frame: Dict[Hashable, int] = {}

    def update(self, gt: np.ndarray, pred: np.ndarray, sequence_id: Hashable = 0,
               frame_id: Optional[int] = None) -> None:
        """Add one frame given as (H, W) ground-truth and predicted panoptic ids."""
        self.update_pairs(count_pairs(gt, pred), sequence_id, frame_id)

    def update_pairs(self, table: PairTable, sequence_id: Hashable = 0,
                     frame_id: Optional[int] = None) -> None:
        """Add one frame given as its :class:`PairTable`.

        Args:
            table: the frame's pair table.
            sequence_id: the sequence the frame belongs to.
            frame_id: the frame's number: when given, a frame given twice or out of order is an
                error (it would be counted twice).
        """
        frame = next_frame_id(self._last_frame.get(sequence_id), frame_id, sequence_id)
        if self.num_classes is not None:
            for ids, what in ((table.gt_ids, 'ground truth'), (table.pred_ids, 'prediction')):
                check_class_ids(np.asarray(ids, dtype=np.int64), self.label_divisor,
                                self.num_classes, self.ignore_label,
                                f'{what} of sequence {sequence_id} frame {frame}')
        counts = table_merge_counts(table, self.thing_ids, self.ignore_label, self.label_divisor,
                                    self.min_overlap, self.min_area)
        self._last_frame[sequence_id] = frame
        store = self._sequences.setdefault(sequence_id, dict.fromkeys(('num_frames',)
                                                                      + COUNT_KEYS, 0))
        store['num_frames'] += 1
        for key in COUNT_KEYS:
            store[key] += counts[key]

    def result(self) -> dict:
        """Counts and rates (fractions) per sequence and in total.

        Returns:
            ``per_sequence`` (``{sequence: {num_frames, pred_segments, merged, merge_rate,
            gt_instances, split, split_rate}}``), the same keys in total, and the settings
            ``thing_ids``, ``ignore_label``, ``min_overlap``, ``min_area``.
        """
        total = dict.fromkeys(('num_frames',) + COUNT_KEYS, 0)
        for store in self._sequences.values():
            for key in total:
                total[key] += store[key]
        return dict(_with_rates(total),
                    per_sequence={seq: _with_rates(store) for seq, store in
                                  self._sequences.items()},
                    thing_ids=self.thing_ids, ignore_label=self.ignore_label,
                    min_overlap=self.min_overlap, min_area=self.min_area)


def _accumulate(metric: MergeRate, frames: Sequence['FrameFiles'],
                tables: Iterable[PairTable]) -> dict:
    for frame, table in zip(frames, tables):
        metric.update_pairs(table, frame.seq_id, frame.frame_id)
    return metric.result()


def _setup(dataset: str, gt_dir: Optional[str], layout: str = 'knet',
           num_classes: Optional[int] = None, thing_ids: Optional[Sequence[int]] = None,
           ignore_label: Optional[int] = None) -> 'EvalSetup':
    from .evaluate import resolve_setup
    return resolve_setup(argparse.Namespace(dataset=dataset, gt_dir=gt_dir, layout=layout,
                                            num_classes=num_classes, thing_ids=thing_ids,
                                            ignore_label=ignore_label))


def merge_rate(results_dir: str, gt_dir: str, dataset: str = 'kitti-step',
               thing_ids: Optional[Sequence[int]] = None, ignore_label: Optional[int] = None,
               num_classes: Optional[int] = None, min_overlap: float = 0.5, min_area: int = 0,
               sequences: Optional[Sequence[int]] = None, layout: str = 'knet', workers: int = 1,
               progress: bool = False) -> dict:
    """Merge and split counts of a results folder against a ground-truth folder.

    Args:
        results_dir: the inference output folder (layout ``layout`` of :mod:`vseg.layouts`).
        gt_dir: the ground-truth folder, in the annotation format of the dataset's metainfo.
        dataset: dataset whose metainfo gives the classes, things, ignore label, label divisor
            and ground-truth format.
        thing_ids: override the metainfo's thing classes.
        ignore_label: override the metainfo's ignore label.
        num_classes: override the metainfo's number of classes (class ids are checked).
        min_overlap: see :func:`table_merge_counts`.
        min_area: see :func:`table_merge_counts`.
        sequences: only these sequences (default: every sequence of ``gt_dir``).
        layout: layout of the results folder.
        workers: processes decoding PNGs.
        progress: show a progress bar on stderr.

    Returns:
        :meth:`MergeRate.result` plus ``dataset`` and ``num_frames``.

    Raises:
        ValueError: for a missing, extra or size-mismatched frame (naming it), a class id out of
            range, or thresholds out of range.
    """
    from .evaluate import iter_pair_tables, pair_frames
    setup = _setup(dataset, gt_dir, layout, num_classes, thing_ids, ignore_label)
    metric = MergeRate(setup.thing_ids, setup.ignore_label, setup.label_divisor, min_overlap,
                       min_area, setup.num_classes)
    frames = pair_frames(results_dir, setup.gt_dir, sequences, setup.reading)
    tables = (table for _, table in iter_pair_tables(frames, workers, setup.reading, progress))
    result = _accumulate(metric, frames, tables)
    result.update(dataset=dataset, num_frames=len(frames))
    return result


def merge_report(result: dict) -> str:
    """The per-sequence table (percent) with a total row, ending with the headline line."""
    from .evaluate import format_table, percent

    def row(name: object, r: dict) -> List[object]:
        return [name, r['num_frames'], r['pred_segments'], r['merged'], percent(r['merge_rate']),
                r['gt_instances'], r['split'], percent(r['split_rate'])]

    rows = [row(seq, r) for seq, r in result['per_sequence'].items()] + [row('total', result)]
    header = ['sequence', 'frames', 'pred segments', 'merged', 'merged %', 'GT instances',
              'split', 'split %']
    return '\n'.join([format_table(header, rows), '', headline(result)])


def headline(result: dict) -> str:
    """``merged M of P predicted thing segments (x %), split S of G GT instances (y %)``."""
    from .evaluate import percent
    return (f"merged {result['merged']} of {result['pred_segments']} predicted thing segments "
            f"({percent(result['merge_rate'])} %), split {result['split']} of "
            f"{result['gt_instances']} GT instances ({percent(result['split_rate'])} %)")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f'must be in (0, 1], got {text}')
    return value


def _pixels(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be >= 0, got {text}')
    return value


def build_parser() -> argparse.ArgumentParser:
    """The options of ``tools/analysis/instance_merge_rate.py``."""
    from .evaluate import add_common_args
    parser = argparse.ArgumentParser(
        description='Instance merge rate of video panoptic results: predicted thing segments '
                    'covering two or more ground-truth instances, and ground-truth instances '
                    'split over two or more predicted segments (docs/metrics.md).')
    add_common_args(parser)
    parser.add_argument('--min-overlap', type=_fraction, default=0.5,
                        help='a segment covers an instance holding at least this fraction of '
                             'it; an instance is split by segments lying at least this '
                             'fraction inside it (default: %(default)s)')
    parser.add_argument('--min-area', type=_pixels, default=0,
                        help='ignore ground-truth instances smaller than this many pixels '
                             '(default: %(default)s = none ignored)')
    return parser


def main(argv: Optional[List[str]] = None) -> dict:
    """``tools/analysis/instance_merge_rate.py``: merged segments and split instances.

    Prints the per-sequence table (percent), the provenance line of the results folder
    (:mod:`vseg.manifest`) and, last, the headline line; only then writes ``--json`` (fractions,
    NaN as null, atomically) and ``--tables-cache``, so a failing write is an error after the
    figures.

    Returns:
        :meth:`MergeRate.result` plus ``dataset`` and ``num_frames``.
    """
    from ..manifest import results_summary
    from .evaluate import pair_frames, pair_tables, resolve_setup, write_json
    args = build_parser().parse_args(argv)
    setup = resolve_setup(args)
    metric = MergeRate(setup.thing_ids, setup.ignore_label, setup.label_divisor,
                       args.min_overlap, args.min_area, setup.num_classes)
    frames = pair_frames(args.results_dir, setup.gt_dir, args.sequences, setup.reading)
    tables, save_cache = pair_tables(frames, args, setup.reading)
    result = _accumulate(metric, frames, tables)
    result.update(dataset=args.dataset, num_frames=len(frames))
    *tables_text, last = merge_report(result).split('\n')
    print('\n'.join(tables_text + [results_summary(args.results_dir), last]), flush=True)
    if args.json:
        write_json(args.json, result)
        print(f'wrote {args.json}', file=sys.stderr)
    save_cache()
    return result
