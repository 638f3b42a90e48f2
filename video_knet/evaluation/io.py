"""Reading inference results and KITTI-STEP ground truth for the evaluators (DESIGN.md §9.1).

Layouts (docs/ARCHITECTURE.md, "Results on disk"):

* ``RESULTS/panoptic/{seq}/{seq:06d}_{frame:06d}_cat.png``: uint16 semantic class (255 = none);
  ``..._ins.png``: uint16 track id (0 = none). The ``{seq}`` folder may be padded or not.
* ``GT_DIR/{seq:06d}_{frame:06d}_panoptic.png``: KITTI-STEP RGB, R = class, G * 256 + B = instance.

Frames are paired by the (sequence, frame) parsed from the names, never by position; a missing,
extra or size-mismatched frame raises an error naming it. Per-frame :class:`PairTable` s are
computed in worker processes (PNG decoding dominates the cost) and returned in (sequence, frame)
order, which is all STQ and VPQ need.
"""
import argparse
import hashlib
import json
import math
import multiprocessing
import os
import re
import sys
from pathlib import Path
from typing import (Callable, Dict, Iterator, List, NamedTuple, Optional, Protocol, Sequence,
                    Tuple)

import cv2
import numpy as np

from knet.structures.panoptic import IGNORE_LABEL, LABEL_DIVISOR
from .functional.pairs import PairTable, concat_tables, count_pairs

_RESULT_NAME = re.compile(r'^(\d+)_(\d+)_(cat|ins)\.png$')
_GT_NAME = re.compile(r'^(\d+)_(\d+)_panoptic\.png$')
_INSTANCE_BITS = 16  # STEP PNGs store 16-bit instance ids (G * 256 + B)


class FrameFiles(NamedTuple):
    """The files of one evaluated frame."""

    seq_id: int
    frame_id: int
    gt_path: str
    cat_path: str
    ins_path: str


def find_result_frames(results_dir: str) -> Dict[Tuple[int, int], Tuple[str, str]]:
    """Map (seq, frame) to the ``_cat.png`` and ``_ins.png`` paths under ``RESULTS/panoptic``.

    Raises:
        FileNotFoundError: if ``RESULTS/panoptic`` does not exist or holds no result.
        ValueError: for a frame with only one of its two PNGs, or a file whose sequence differs
            from its folder's.
    """
    root = Path(results_dir) / 'panoptic'
    if not root.is_dir():
        raise FileNotFoundError(f'{root} does not exist: expected RESULTS_DIR/panoptic/{{seq}}/'
                                '{seq:06d}_{frame:06d}_cat.png and _ins.png')
    found: Dict[Tuple[int, int], Dict[str, str]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            match = _RESULT_NAME.match(path.name)
            if match is None:
                continue
            seq, frame = int(match.group(1)), int(match.group(2))
            if not folder.name.isdigit() or int(folder.name) != seq:
                raise ValueError(f'{path}: sequence {seq} does not match its folder {folder.name}')
            found.setdefault((seq, frame), {})[match.group(3)] = str(path)
    if not found:
        raise FileNotFoundError(f'no *_cat.png / *_ins.png results under {root}')
    for key, kinds in found.items():
        for kind in ('cat', 'ins'):
            if kind not in kinds:
                other = next(iter(kinds.values()))
                raise ValueError(f'{other} has no matching _{kind}.png (sequence {key[0]}, '
                                 f'frame {key[1]})')
    return {key: (kinds['cat'], kinds['ins']) for key, kinds in found.items()}


def find_gt_frames(gt_dir: str) -> Dict[Tuple[int, int], str]:
    """Map (seq, frame) to ``GT_DIR/{seq:06d}_{frame:06d}_panoptic.png``."""
    root = Path(gt_dir)
    if not root.is_dir():
        raise FileNotFoundError(f'ground-truth folder {root} does not exist (expected '
                                '{seq:06d}_{frame:06d}_panoptic.png files)')
    found = {}
    for path in sorted(root.iterdir()):
        match = _GT_NAME.match(path.name)
        if match is not None:
            found[(int(match.group(1)), int(match.group(2)))] = str(path)
    if not found:
        raise FileNotFoundError(f'no *_panoptic.png ground truth in {root}')
    return found


def _describe(keys: Sequence[Tuple[int, int]], limit: int = 5) -> str:
    shown = ', '.join(f'seq {s} frame {f}' for s, f in sorted(keys)[:limit])
    return shown + (f' and {len(keys) - limit} more' if len(keys) > limit else '')


def pair_frames(results_dir: str, gt_dir: str,
                sequences: Optional[Sequence[int]] = None) -> List[FrameFiles]:
    """Pair result and ground-truth frames by (sequence, frame), sorted.

    Args:
        results_dir: the inference output folder (holding ``panoptic/``).
        gt_dir: the folder of ``{seq:06d}_{frame:06d}_panoptic.png`` files.
        sequences: evaluate only these sequences (default: every sequence of ``gt_dir``).

    Raises:
        ValueError: naming the frames that have a ground truth but no result (missing) or a
            result but no ground truth (extra).
    """
    results = find_result_frames(results_dir)
    gt = find_gt_frames(gt_dir)
    if sequences is not None:
        wanted = {int(s) for s in sequences}
        absent = wanted - {s for s, _ in gt}
        if absent:
            raise ValueError(f'sequences {sorted(absent)} have no ground truth in {gt_dir}')
        gt = {key: path for key, path in gt.items() if key[0] in wanted}
        results = {key: paths for key, paths in results.items() if key[0] in wanted}
    missing = sorted(set(gt) - set(results))
    if missing:
        raise ValueError(f'{len(missing)} ground-truth frames have no result in {results_dir}: '
                         f'{_describe(missing)}')
    extra = sorted(set(results) - set(gt))
    if extra:
        raise ValueError(f'{len(extra)} result frames have no ground truth in {gt_dir}: '
                         f'{_describe(extra)}')
    return [FrameFiles(s, f, gt[(s, f)], *results[(s, f)]) for s, f in sorted(gt)]


def _imread(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'cannot read {path} (missing, unreadable or not a PNG)')
    return image


def read_step_panoptic(path: str, label_divisor: int = LABEL_DIVISOR) -> np.ndarray:
    """Read a KITTI-STEP panoptic PNG as (H, W) int64 ids ``class * label_divisor + instance``."""
    image = _imread(path)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'{path}: expected an 8-bit RGB panoptic PNG, got shape {image.shape} '
                         f'dtype {image.dtype}')
    if label_divisor == 1 << _INSTANCE_BITS and sys.byteorder == 'little':
        # BGRA bytes read as little-endian uint32 are B | G << 8 | R << 16 | A << 24, and the
        # STEP id R << 16 | (G * 256 + B) is exactly the low 24 bits.
        bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        return (bgra.view(np.uint32)[..., 0] & 0xFFFFFF).astype(np.int64)
    semantic = image[..., 2].astype(np.int64)  # cv2 returns BGR: R is the last channel
    instance = (image[..., 1].astype(np.int64) << 8) | image[..., 0]
    return semantic * label_divisor + instance


def read_prediction(cat_path: str, ins_path: str,
                    label_divisor: int = LABEL_DIVISOR) -> np.ndarray:
    """Read a ``_cat.png`` / ``_ins.png`` pair as (H, W) int64 ids ``class * divisor + track``."""
    cat, ins = _imread(cat_path), _imread(ins_path)
    for path, image in ((cat_path, cat), (ins_path, ins)):
        if image.ndim != 2 or image.dtype.kind != 'u':
            raise ValueError(f'{path}: expected a single-channel 8/16-bit PNG, got shape '
                             f'{image.shape} dtype {image.dtype}')
    if cat.shape != ins.shape:
        raise ValueError(f'{cat_path} {cat.shape} and {ins_path} {ins.shape} differ in size')
    if int(ins.max(initial=0)) >= label_divisor:
        raise ValueError(f'{ins_path}: track id {ins.max()} >= label divisor {label_divisor}')
    return cat.astype(np.int64) * label_divisor + ins


def frame_pair_table(frame: FrameFiles, label_divisor: int = LABEL_DIVISOR) -> PairTable:
    """Read one frame's ground truth and prediction and count their id pairs."""
    gt = read_step_panoptic(frame.gt_path, label_divisor)
    pred = read_prediction(frame.cat_path, frame.ins_path, label_divisor)
    if gt.shape != pred.shape:
        raise ValueError(f'sequence {frame.seq_id} frame {frame.frame_id}: prediction '
                         f'{frame.cat_path} is {pred.shape[1]}x{pred.shape[0]} but the ground '
                         f'truth {frame.gt_path} is {gt.shape[1]}x{gt.shape[0]}')
    return count_pairs(gt, pred)


def _table_worker(args: Tuple[FrameFiles, int]) -> PairTable:
    return frame_pair_table(*args)


def iter_pair_tables(frames: Sequence[FrameFiles], workers: int = 1,
                     label_divisor: int = LABEL_DIVISOR,
                     progress: bool = True) -> Iterator[Tuple[FrameFiles, PairTable]]:
    """Yield ``(frame, table)`` for every frame, in the given order, decoding in parallel.

    Args:
        frames: the frames, e.g. from :func:`pair_frames`.
        workers: number of worker processes (1 = in this process).
        label_divisor: panoptic id encoding.
        progress: show a progress bar on stderr.
    """
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(frames), desc='reading frames', unit='frame', dynamic_ncols=True)
    jobs = [(frame, label_divisor) for frame in frames]
    pool = None
    try:
        if workers > 1 and len(frames) > 1:
            # No cv2 calls in a worker initializer: cv2.setNumThreads() in a forked child whose
            # parent already used OpenCV's thread pool deadlocks (seen in the test suite).
            pool = multiprocessing.get_context('fork').Pool(min(workers, len(frames)))
            chunk = max(1, min(16, len(frames) // (workers * 8)))
            tables = pool.imap(_table_worker, jobs, chunksize=chunk)
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


def _fingerprint(frames: Sequence[FrameFiles], label_divisor: int) -> str:
    """Hash of the input files (path, size, mtime) and the encoding, to validate a cache."""
    items: List[object] = [label_divisor]
    for frame in frames:
        for path in (frame.gt_path, frame.cat_path, frame.ins_path):
            stat = os.stat(path)
            items.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha1(json.dumps(items).encode()).hexdigest()


def _load_cache(path: str, fingerprint: str, num_frames: int) -> Optional[List[PairTable]]:
    """The cached tables if ``path`` holds tables of exactly these input files, else None."""
    if not os.path.isfile(path):
        return None
    with np.load(path) as data:
        if str(data['fingerprint']) != fingerprint or len(data['offsets']) != num_frames + 1:
            return None
        offsets = data['offsets']
        columns = [data[name] for name in PairTable._fields]
    return [PairTable(*(col[start:end] for col in columns))
            for start, end in zip(offsets[:-1], offsets[1:])]


def read_pair_tables(frames: Sequence[FrameFiles], workers: int = 1,
                     label_divisor: int = LABEL_DIVISOR, progress: bool = True,
                     cache: Optional[str] = None) -> Iterator[Tuple[FrameFiles, PairTable]]:
    """:func:`iter_pair_tables`, optionally through a cache file shared by the evaluators.

    With ``cache``, tables saved by an earlier run over the same files (same paths, sizes and
    modification times) are loaded instead of decoding the PNGs again, so running
    ``evaluate_stq.py`` then ``evaluate_vpq.py`` decodes every frame once; otherwise the tables
    are computed and then written to ``cache`` (an ``.npz`` file of a few MB for KITTI-STEP val).
    """
    fingerprint = _fingerprint(frames, label_divisor) if cache else ''
    cached = _load_cache(cache, fingerprint, len(frames)) if cache else None
    if cached is not None:
        yield from zip(frames, cached)
        return
    tables = []
    for frame, table in iter_pair_tables(frames, workers, label_divisor, progress):
        tables.append(table)
        yield frame, table
    if cache:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0] + [len(t.counts) for t in tables])
        with open(cache, 'wb') as f:
            np.savez(f, fingerprint=np.array(fingerprint), offsets=offsets,
                     **concat_tables(tables)._asdict())


def default_workers() -> int:
    """Worker processes used by default: every CPU of this machine (at most 16)."""
    return max(1, min(16, len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
                      else (os.cpu_count() or 1)))


def kitti_step_metainfo() -> dict:
    """The KITTI-STEP dataset metainfo (``classes``, ``thing_ids``, ``ignore_label``, ...).

    Read from :class:`video_knet.datasets.kitti_step.KITTISTEPDataset` so that the class facts
    live in one place; the evaluators use it as the default of ``--num-classes`` and
    ``--thing-ids``.
    """
    from video_knet.datasets.kitti_step import KITTISTEPDataset
    return dict(KITTISTEPDataset.METAINFO)


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
    """Write a result dict as JSON (NaN written as null)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(to_jsonable(result), f, indent=2, allow_nan=False)


def percent(value: float) -> str:
    """A fraction printed as a percentage with one decimal ('nan' if undefined)."""
    return 'nan' if value is None or not math.isfinite(value) else f'{100 * value:.1f}'


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with right-aligned columns."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def default_gt_dir() -> str:
    """``${KNET_DATA_ROOT:-datasets}/kitti-step/video_sequence/val``."""
    return os.path.join(os.environ.get('KNET_DATA_ROOT', 'datasets'), 'kitti-step',
                        'video_sequence', 'val')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``tools/evaluate_stq.py`` and ``tools/evaluate_vpq.py``."""
    parser.add_argument('results_dir', help='inference output folder holding panoptic/{seq}/')
    parser.add_argument('--gt-dir', default=default_gt_dir(),
                        help='folder of {seq:06d}_{frame:06d}_panoptic.png ground truth '
                             '(default: %(default)s, from $KNET_DATA_ROOT)')
    parser.add_argument('--json', metavar='OUT.json', help='also write the figures as JSON')
    parser.add_argument('--sequences', type=int, nargs='+',
                        help='evaluate only these sequences (default: all in --gt-dir)')
    parser.add_argument('--num-classes', type=int,
                        help='number of semantic classes (default: from the KITTI-STEP metainfo)')
    parser.add_argument('--thing-ids', type=int, nargs='+',
                        help='thing classes (default: from the KITTI-STEP metainfo)')
    parser.add_argument('--ignore-label', type=int, default=IGNORE_LABEL,
                        help='void class in GT / "no prediction" class (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=default_workers(),
                        help='processes decoding PNGs (default: %(default)s = CPUs available)')
    parser.add_argument('--tables-cache', metavar='FILE.npz',
                        help='reuse / save the per-frame pair tables, so that a second evaluator '
                             'over the same files skips PNG decoding')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')


def resolve_classes(args: argparse.Namespace) -> Tuple[int, List[int], List[str]]:
    """``(num_classes, thing_ids, class names)`` from the CLI or the KITTI-STEP metainfo."""
    meta: dict = {}
    if args.num_classes is None or args.thing_ids is None:
        meta = kitti_step_metainfo()
    num_classes = args.num_classes if args.num_classes is not None else len(meta['classes'])
    thing_ids = list(args.thing_ids if args.thing_ids is not None else meta['thing_ids'])
    names = list(meta.get('classes', ()))
    if len(names) != num_classes:
        names = [str(c) for c in range(num_classes)]
    return num_classes, thing_ids, names


class PairMetric(Protocol):
    """What :func:`evaluate_results` needs of a metric (``STQuality``, ``VideoPanopticQuality``)."""

    def update_pairs(self, table: PairTable, sequence_id: int) -> None:
        ...

    def result(self) -> dict:
        ...


def evaluate_results(args: argparse.Namespace, metric: PairMetric,
                     report: Callable[[dict], str], **summary: object) -> dict:
    """The shared run of ``tools/evaluate_stq.py`` and ``tools/evaluate_vpq.py``.

    Pairs the frames of ``args.results_dir`` and ``args.gt_dir`` (options of
    :func:`add_common_args`), feeds their pair tables to ``metric`` sequence by sequence, adds
    ``summary`` and ``num_frames`` to the result, writes it to ``args.json`` if given and prints
    ``report(result)`` (ending with the headline line).

    Returns:
        the metric's result dict, with ``summary`` and ``num_frames``.
    """
    frames = pair_frames(args.results_dir, args.gt_dir, args.sequences)
    tables = read_pair_tables(frames, args.workers, progress=not args.no_progress,
                              cache=args.tables_cache)
    for frame, table in tables:
        metric.update_pairs(table, frame.seq_id)
    result = metric.result()
    result.update(summary, num_frames=len(frames))
    if args.json:
        write_json(args.json, result)
        print(f'wrote {args.json}')
    print(report(result), flush=True)
    return result


def run_tool(main: Callable[[], object]) -> None:
    """Run a tool's ``main()``; input errors end it with ``error: ...`` and exit status 1."""
    try:
        main()
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        sys.exit(f'error: {error}')
