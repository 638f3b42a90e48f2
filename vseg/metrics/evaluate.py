"""Pairing result and ground-truth files, and the shared run of the evaluator tools.

Results are read with a layout of :mod:`vseg.layouts` (default ``'knet'``:
``RESULTS/panoptic/{seq}/{seq:06d}_{frame:06d}_{cat,ins}.png``), ground truth with the annotation
format of :mod:`vseg.formats` that the dataset's metainfo names (KITTI-STEP:
``GT_DIR/{seq:06d}_{frame:06d}_panoptic.png``). Frames are paired by the (sequence, frame)
numbers parsed from the names, never by position; a missing, extra or size-mismatched frame
raises an error naming it. Per-frame :class:`PairTable` s are computed in worker processes (PNG
decoding dominates the cost) and returned in (sequence, frame) order, which is all STQ and VPQ
need. Nothing here imports torch or mmengine.
"""
import argparse
import hashlib
import io
import json
import math
import multiprocessing
import os
import sys
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Protocol, Sequence, Tuple

import numpy as np

from ..formats import get_format
from ..io import write_bytes_atomic, write_text_atomic
from ..layouts import frames_by_sequence, get_layout, layout_names
from ..manifest import results_summary
from ..metainfo import dataset_metainfo, dataset_names
from ..panoptic import LABEL_DIVISOR
from .pairs import PairTable, concat_tables, count_pairs
from .vpq import frame_gaps


class FrameFiles(NamedTuple):
    """The files of one evaluated frame: ground truth and prediction, by role."""

    seq_id: int
    frame_id: int
    gt: Dict[str, str]
    pred: Dict[str, str]

    @property
    def paths(self) -> List[str]:
        """Every input file of the frame."""
        return list(self.gt.values()) + list(self.pred.values())


class Reading(NamedTuple):
    """How to read a frame: registry names and label facts (picklable for worker processes)."""

    format: str = 'kitti-step'
    layout: str = 'knet'
    thing_ids: Tuple[int, ...] = ()
    label_divisor: int = LABEL_DIVISOR
    #: ``'labelled'``: the results number the annotated frames as the format lists them;
    #: ``'all'``: they hold every raw frame (:meth:`AnnotationFormat.find_all_frames`), and the
    #: frames without ground truth are skipped.
    frames: str = 'labelled'


def _describe(keys: Sequence[Tuple[int, int]], limit: int = 5) -> str:
    shown = ', '.join(f'seq {s} frame {f}' for s, f in sorted(keys)[:limit])
    return shown + (f' and {len(keys) - limit} more' if len(keys) > limit else '')


def pair_frames(results_dir: str, gt_dir: str, sequences: Optional[Sequence[int]] = None,
                reading: Reading = Reading()) -> List[FrameFiles]:
    """Pair result and ground-truth frames by (sequence, frame), sorted.

    Args:
        results_dir: the inference output folder (in the layout ``reading.layout``).
        gt_dir: the ground-truth folder (in the format ``reading.format``).
        sequences: evaluate only these sequences (default: every sequence of ``gt_dir``).
        reading: registry names and label facts.

    Raises:
        ValueError: naming the frames that have a ground truth but no result (missing) or a
            result but no ground truth (extra).
    """
    results = get_layout(reading.layout).find_frames(results_dir)
    fmt = get_format(reading.format)
    gt = fmt.find_all_frames(gt_dir) if reading.frames == 'all' else fmt.find_frames(gt_dir)
    if reading.frames == 'all':  # unlabelled frames were tracked, they are not scored
        results = {key: files for key, files in results.items() if key in gt}
    if sequences is not None:
        wanted = {int(s) for s in sequences}
        absent = wanted - {s for s, _ in gt}
        if absent:
            raise ValueError(f'sequences {sorted(absent)} have no ground truth in {gt_dir}')
        gt = {key: files for key, files in gt.items() if key[0] in wanted}
        results = {key: files for key, files in results.items() if key[0] in wanted}
    missing = sorted(set(gt) - set(results))
    if missing:
        raise ValueError(f'{len(missing)} ground-truth frames have no result in {results_dir}: '
                         f'{_describe(missing)}')
    extra = sorted(set(results) - set(gt))
    if extra:
        raise ValueError(f'{len(extra)} result frames have no ground truth in {gt_dir}: '
                         f'{_describe(extra)}')
    return [FrameFiles(s, f, gt[(s, f)], results[(s, f)]) for s, f in sorted(gt)]


def frame_pair_table(frame: FrameFiles, reading: Reading = Reading()) -> PairTable:
    """Read one frame's ground truth and prediction and count their id pairs."""
    gt = get_format(reading.format).read_panoptic(frame.gt, reading.thing_ids,
                                                  reading.label_divisor)
    pred = get_layout(reading.layout).read_panoptic(frame.pred, reading.label_divisor)
    if gt.shape != pred.shape:
        gt_file, pred_file = next(iter(frame.gt.values())), next(iter(frame.pred.values()))
        raise ValueError(f'sequence {frame.seq_id} frame {frame.frame_id}: prediction '
                         f'{pred_file} is {pred.shape[1]}x{pred.shape[0]} but the ground '
                         f'truth {gt_file} is {gt.shape[1]}x{gt.shape[0]}')
    return count_pairs(gt, pred)


def _table_worker(args: Tuple[FrameFiles, Reading]) -> PairTable:
    return frame_pair_table(*args)


def iter_pair_tables(frames: Sequence[FrameFiles], workers: int = 1,
                     reading: Reading = Reading(),
                     progress: bool = True) -> Iterator[Tuple[FrameFiles, PairTable]]:
    """Yield ``(frame, table)`` for every frame, in the given order, decoding in parallel.

    Args:
        frames: the frames, e.g. from :func:`pair_frames`.
        workers: number of worker processes (1 = in this process).
        reading: registry names and label facts.
        progress: show a progress bar on stderr.
    """
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(frames), desc='reading frames', unit='frame', dynamic_ncols=True)
    jobs = [(frame, reading) for frame in frames]
    pool = None
    try:
        if workers > 1 and len(frames) > 1:
            # No cv2 calls in a worker initializer: cv2.setNumThreads() in a forked child whose
            # parent already used OpenCV's thread pool deadlocks (seen in the test suite).
            pool = multiprocessing.get_context('fork').Pool(min(workers, len(frames)))
            chunk = max(1, min(16, len(frames) // (workers * 8)))
            tables: Iterator[PairTable] = pool.imap(_table_worker, jobs, chunksize=chunk)
        else:
            tables = map(_table_worker, jobs)
        for frame, table in zip(frames, tables):
            yield frame, table
            if bar is not None:
                bar.update()
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()


def tables_fingerprint(frames: Sequence[FrameFiles], reading: Reading) -> str:
    """Hash of the input files (path, size, mtime) and the reading, to validate a cache."""
    items: List[object] = [list(reading)]
    for frame in frames:
        for path in frame.paths:
            stat = os.stat(path)
            items.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha1(json.dumps(items).encode()).hexdigest()


def load_tables_cache(path: str, fingerprint: str,
                      num_frames: int) -> Optional[List[PairTable]]:
    """The tables saved by :func:`save_tables_cache` if ``path`` holds tables of exactly these
    input files (same paths, sizes and modification times: ``fingerprint``), else None."""
    if not os.path.isfile(path):
        return None
    with np.load(path) as data:
        if str(data['fingerprint']) != fingerprint or len(data['offsets']) != num_frames + 1:
            return None
        offsets = data['offsets']
        columns = [data[name] for name in PairTable._fields]
    return [PairTable(*(col[start:end] for col in columns))
            for start, end in zip(offsets[:-1], offsets[1:])]


def save_tables_cache(path: str, fingerprint: str, tables: Sequence[PairTable]) -> None:
    """Save the pair tables of every frame to ``path`` (``.npz``, a few MB for KITTI-STEP val),
    atomically, so that a second evaluator over the same files skips PNG decoding."""
    offsets = np.cumsum([0] + [len(t.counts) for t in tables])
    buffer = io.BytesIO()
    np.savez(buffer, fingerprint=np.array(fingerprint), offsets=offsets,
             **concat_tables(tables)._asdict())
    write_bytes_atomic(path, buffer.getvalue())


def default_workers() -> int:
    """Worker processes used by default: every CPU of this machine (at most 16)."""
    return max(1, min(16, len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
                      else (os.cpu_count() or 1)))


def to_jsonable(value: object) -> object:
    """Numpy scalars to Python, NaN to ``None`` and dict keys to strings, recursively."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str, result: dict) -> None:
    """Write a result dict as JSON (NaN written as null), atomically."""
    write_text_atomic(path, json.dumps(to_jsonable(result), indent=2, allow_nan=False))


def percent(value: Optional[float]) -> str:
    """A fraction printed as a percentage with one decimal ('nan' if undefined)."""
    return 'nan' if value is None or not math.isfinite(value) else f'{100 * value:.1f}'


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with right-aligned columns."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``tools/evaluate_stq.py`` and ``tools/evaluate_vpq.py``."""
    parser.add_argument('results_dir', help='inference output folder (e.g. holding panoptic/)')
    parser.add_argument('--dataset', default='kitti-step', choices=dataset_names(),
                        help='dataset whose metainfo (classes, things, ignore label, label '
                             'divisor, ground-truth format and default folder) is used '
                             '(default: %(default)s)')
    parser.add_argument('--gt-dir',
                        help='ground-truth folder (default: the dataset\'s folder under '
                             '$KNET_DATA_ROOT, e.g. datasets/kitti-step/video_sequence/val)')
    parser.add_argument('--layout', default='knet', choices=layout_names(),
                        help='layout of the results folder (default: %(default)s)')
    parser.add_argument('--json', metavar='OUT.json', help='also write the figures as JSON')
    parser.add_argument('--sequences', type=int, nargs='+',
                        help='evaluate only these sequences (default: all in --gt-dir)')
    parser.add_argument('--num-classes', type=int,
                        help='number of semantic classes (default: from the dataset metainfo)')
    parser.add_argument('--thing-ids', type=int, nargs='+',
                        help='thing classes (default: from the dataset metainfo)')
    parser.add_argument('--ignore-label', type=int,
                        help='void class in GT / "no prediction" class (default: from the '
                             'dataset metainfo)')
    parser.add_argument('--workers', type=int, default=default_workers(),
                        help='processes decoding PNGs (default: %(default)s = CPUs available)')
    parser.add_argument('--tables-cache', metavar='FILE.npz',
                        help='reuse / save the per-frame pair tables, so that a second evaluator '
                             'over the same files skips PNG decoding')
    parser.add_argument('--frames', choices=['labelled', 'all'], default='labelled',
                        help='how the results number the frames: labelled (the annotated '
                             'frames, as the format lists them) or all (every raw frame, for '
                             'datasets that label a subset, e.g. Cityscapes-VPS inference with '
                             'frames="all"; the others are skipped) (default: %(default)s)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')


class EvalSetup(NamedTuple):
    """Everything an evaluator needs besides the files: class facts and how to read."""

    num_classes: int
    thing_ids: List[int]
    class_names: List[str]
    ignore_label: int
    label_divisor: int
    gt_dir: str
    reading: Reading


def resolve_setup(args: argparse.Namespace) -> EvalSetup:
    """Class facts from the dataset metainfo, overridden by the command-line options."""
    meta = dataset_metainfo(args.dataset)
    num_classes = args.num_classes if args.num_classes is not None else len(meta['classes'])
    thing_ids = [int(t) for t in (args.thing_ids if args.thing_ids is not None
                                  else meta['thing_ids'])]
    names = [str(n) for n in meta['classes']]
    if len(names) != num_classes:
        names = [str(c) for c in range(num_classes)]
    ignore = int(args.ignore_label if args.ignore_label is not None else meta['ignore_label'])
    gt_dir = args.gt_dir or os.path.join(os.environ.get('KNET_DATA_ROOT', 'datasets'),
                                         meta.get('gt_dir', ''))
    reading = Reading(meta['format'], args.layout, tuple(thing_ids), int(meta['label_divisor']),
                      getattr(args, 'frames', 'labelled'))
    return EvalSetup(num_classes, thing_ids, names, ignore, int(meta['label_divisor']), gt_dir,
                     reading)


class PairMetric(Protocol):
    """What :func:`evaluate_results` needs of a metric (``STQuality``, ``VideoPanopticQuality``)."""

    def update_pairs(self, table: PairTable, sequence_id: int, frame_id: Optional[int]) -> None:
        ...

    def result(self) -> dict:
        ...


def warn_frame_gaps(sequences: Dict[int, List[int]]) -> Dict[int, List[Tuple[int, int]]]:
    """Print a warning (stderr) naming every sequence with a frame gap; returns the gaps.

    Args:
        sequences: ``{sequence: increasing frame numbers}`` of the evaluated frames.

    Returns:
        ``{sequence: [(last frame before, first frame after), ...]}`` of the sequences with gaps.
    """
    gaps = {seq: found for seq, frames in sequences.items() if (found := frame_gaps(frames))}
    for seq, found in gaps.items():
        where = ', '.join(f'after frame {a} the next is {b}' for a, b in found)
        print(f'warning: sequence {seq} has a frame gap ({where}): STQ tubes span it, VPQ '
              'windows do not', file=sys.stderr, flush=True)
    return gaps


def pair_tables(frames: Sequence[FrameFiles], args: argparse.Namespace,
                reading: Reading) -> Tuple[List[PairTable], Callable[[], None]]:
    """The pair tables of ``frames`` (from ``args.tables_cache`` when it holds them), and the
    function that saves them there afterwards (a no-op when loaded or not asked for)."""
    cache = args.tables_cache
    fingerprint = tables_fingerprint(frames, reading) if cache else ''
    cached = load_tables_cache(cache, fingerprint, len(frames)) if cache else None
    if cached is not None:
        return cached, lambda: None
    tables = [table for _, table in iter_pair_tables(frames, args.workers, reading,
                                                     progress=not args.no_progress)]
    if not cache:
        return tables, lambda: None
    return tables, lambda: save_tables_cache(cache, fingerprint, tables)


def evaluate_results(args: argparse.Namespace, setup: EvalSetup, metric: PairMetric,
                     report: Callable[[dict], str],
                     check: Optional[Callable[[Dict[int, List[int]]], None]] = None,
                     **summary: object) -> dict:
    """The shared run of ``tools/evaluate_stq.py`` and ``tools/evaluate_vpq.py``.

    Pairs the frames of ``args.results_dir`` and ``setup.gt_dir`` (options of
    :func:`add_common_args`), warns about frame gaps, runs ``check`` on ``{sequence: frame
    numbers}`` (before any PNG is decoded), feeds the pair tables to ``metric`` and adds
    ``summary``, ``dataset``, ``num_frames`` and ``frame_gaps`` to the result. Then it prints
    ``report(result)`` with the results folder's provenance (:mod:`vseg.manifest`) before the
    headline line, which stays the last line, and only then writes ``args.json`` and the pair
    tables cache: a failing write is an error after the figures.

    Returns:
        the metric's result dict, with ``summary``, ``dataset``, ``num_frames`` and
        ``frame_gaps``.
    """
    frames = pair_frames(args.results_dir, setup.gt_dir, args.sequences, setup.reading)
    sequences = frames_by_sequence((frame.seq_id, frame.frame_id) for frame in frames)
    gaps = warn_frame_gaps(sequences)
    if check is not None:
        check(sequences)
    tables, save_cache = pair_tables(frames, args, setup.reading)
    for frame, table in zip(frames, tables):
        metric.update_pairs(table, frame.seq_id, frame.frame_id)
    result = metric.result()
    result.update(summary, dataset=args.dataset, num_frames=len(frames), frame_gaps=gaps)
    *tables_text, headline = report(result).split('\n')
    print('\n'.join(tables_text + [results_summary(args.results_dir), headline]), flush=True)
    if args.json:
        write_json(args.json, result)
        print(f'wrote {args.json}', file=sys.stderr)
    save_cache()
    return result


def run_tool(main: Callable[[], object]) -> None:
    """Run a tool's ``main()``; input errors and failed writes end it with ``error: ...`` and
    exit status 1."""
    try:
        main()
    except (OSError, ValueError, RuntimeError, KeyError, NotImplementedError) as error:
        sys.exit(f'error: {error}')
