"""The official panoptic video benchmarks' evaluators: VIPSeg VPQ / STQ, Cityscapes-VPS VPQ.

``tools/evaluate_vpq.py SUBMIT --format vipseg --gt-dir ROOT`` (and ``evaluate_stq.py``) land here.
A benchmark module (:mod:`vseg.formats.vipseg`, ...) lists the ground-truth videos and pairs the
submission with them; this module reads each video in a worker process, checks the submission
(errors name the file, the frame and the segment), counts the per-frame (ground-truth id,
predicted id) pixel pairs once, and

* for VPQ, computes the window statistics of the video in the worker
  (:func:`vseg.metrics.segment_vpq.video_stats`) and pools them in ground-truth video order;
* for STQ, turns the pairs into the label maps the official script builds (semantic << 16 |
  instance number, numbered video-wide in listing order from 0, unlisted ids void) and feeds
  :class:`vseg.metrics.STQuality` (124 classes, the categories with ``isthing`` as things, void
  255), one sequence per video.

Results do not depend on the number of workers. Nothing is written but the ``--json`` file.
"""
import argparse
import multiprocessing
import os
import sys
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Sequence, Tuple

import numpy as np

from ..formats.panoptic_video import Segment, SegmentFrame
from .pairs import PairTable, count_pairs
from .segment_vpq import SegmentVPQ, WindowFrame, video_stats
from .stq import STQuality

#: Void label of the official STQ label maps, and the bit shift of its semantic part.
STQ_VOID = 255
STQ_SHIFT = 16


class VideoJob(NamedTuple):
    """One video to evaluate (picklable). ``gt`` and ``pred`` have ``video_id`` and
    ``load() -> List[SegmentFrame]``."""

    gt: object
    pred: object
    metric: str  # 'vpq' or 'stq'
    windows: Tuple[int, ...]
    categories: Mapping[int, Mapping[str, object]]


def check_size(gt: SegmentFrame, pred: SegmentFrame) -> None:
    """Raise a ValueError naming both files when the frames differ in size."""
    if gt.ids.shape != pred.ids.shape:
        raise ValueError(f'{pred.png}: size {pred.ids.shape[1]}x{pred.ids.shape[0]} differs from '
                         f'the ground truth {gt.png} ({gt.ids.shape[1]}x{gt.ids.shape[0]})')


def check_frame(gt: SegmentFrame, pred: SegmentFrame, table: PairTable,
                categories: Mapping[int, Mapping[str, object]], strict: bool) -> List[str]:
    """Check one predicted frame against its ground truth; returns the warnings.

    Errors (ValueError naming the file): sizes differ; id 0 listed; a segment present in the
    PNG with a category that is not a ground-truth category; with ``strict`` (VPQ) also a PNG id
    that is not listed, a listed id absent from the PNG, and a ground-truth JSON area smaller than
    its pixel count. Without ``strict`` (STQ) an unlisted PNG id is a warning (it is void there).
    """
    check_size(gt, pred)
    if 0 in pred.segments:
        raise ValueError(f'{pred.json}: {pred.png} lists segment id 0, which is void (no '
                         'prediction); give every segment a non-zero id')
    present = np.unique(table.pred_ids)
    warnings = []
    for seg_id in present.tolist():
        if seg_id == 0:
            continue
        seg = pred.segments.get(seg_id)
        if seg is None:
            message = (f'{pred.png}: segment id {seg_id} is in the PNG but not in the frame\'s '
                       f'segments_info of {pred.json}')
            if strict:
                raise ValueError(message)
            warnings.append(message + ' (official STQ: its pixels count as void)')
        elif seg.category_id not in categories:
            raise ValueError(f'{pred.png}: segment {seg_id} has category {seg.category_id}, '
                             f'which is not a ground-truth category (0..{max(categories)})')
    if strict:
        absent = sorted(set(pred.segments) - set(present.tolist()))
        if absent:
            raise ValueError(f'{pred.json}: segments {absent[:5]} of {pred.png} are listed but '
                             'absent from the PNG')
        gt_present, gt_inverse = np.unique(table.gt_ids, return_inverse=True)
        gt_count = np.bincount(gt_inverse.reshape(-1), weights=table.counts)
        for seg_id, count in zip(gt_present.tolist(), gt_count.tolist()):
            seg = gt.segments.get(seg_id)
            if seg is not None and seg.area < count:
                raise ValueError(f'{gt.json}: segment {seg_id} of {gt.png} has area {seg.area} '
                                 f'but {int(count)} pixels in the PNG (the official code can '
                                 'then find IoU > 1 and stop)')
    return warnings


def stq_labels(frames: Sequence[Mapping[int, Segment]], video_id: str,
               where: str = '') -> List[Dict[int, int]]:
    """Per frame ``{segment id: label}`` of the official STQ label maps, from each frame's
    listed segments: ``category << 16 | number``, numbers given video-wide in listing order from
    0 (ids not listed in a frame are void there)."""
    numbers: Dict[int, int] = {}
    labels = []
    for segments in frames:
        lookup = {}
        for seg_id, seg in segments.items():
            number = numbers.setdefault(seg_id, len(numbers))
            if number >= 1 << STQ_SHIFT:
                raise ValueError(f'{where}video {video_id} has more than {1 << STQ_SHIFT} '
                                 'segment ids; the official STQ packs them into 16 bits and '
                                 'would silently corrupt the labels')
            lookup[seg_id] = (seg.category_id << STQ_SHIFT) + number
        labels.append(lookup)
    return labels


def _map_ids(ids: np.ndarray, lookup: Mapping[int, int]) -> np.ndarray:
    void = (STQ_VOID << STQ_SHIFT) + STQ_VOID
    return np.fromiter((lookup.get(i, void) for i in ids.tolist()), dtype=np.int64,
                       count=len(ids))


def video_payload(frames: Sequence[Tuple[PairTable, Mapping[int, Segment], Mapping[int, Segment]]],
                  video_id: str, metric: str, windows: Sequence[int], where: str = '') -> object:
    """What a video contributes, from its frames' ``(pair table, ground-truth segments,
    predicted segments)``: the VPQ window statistics (``metric='vpq'``) or the STQ label pair
    tables of its frames (``'stq'``)."""
    if metric == 'vpq':
        return video_stats([WindowFrame(t, dict(g), dict(p), f'{where}video {video_id}')
                            for t, g, p in frames], windows)
    gt_labels = stq_labels([g for _, g, _ in frames], video_id, where)
    pred_labels = stq_labels([p for _, _, p in frames], video_id, where)
    return [PairTable(_map_ids(t.gt_ids, g), _map_ids(t.pred_ids, p), t.counts)
            for (t, _, _), g, p in zip(frames, gt_labels, pred_labels)]


def run_video(job: VideoJob) -> tuple:
    """Evaluate one video; returns ``(num_frames, warnings, payload)`` (:func:`video_payload`)."""
    gt_frames = job.gt.load()  # type: ignore[attr-defined]
    pred_frames = job.pred.load()  # type: ignore[attr-defined]
    warnings: List[str] = []
    frames = []
    for gt, pred in zip(gt_frames, pred_frames):
        check_size(gt, pred)
        table = count_pairs(gt.ids, pred.ids)
        warnings += check_frame(gt, pred, table, job.categories, job.metric == 'vpq')
        frames.append((table, gt.segments, pred.segments))
    where = f'{gt_frames[0].json}: ' if gt_frames and gt_frames[0].json else ''
    payload = video_payload(frames, job.gt.video_id, job.metric,  # type: ignore[attr-defined]
                            job.windows, where)
    return len(frames), warnings, payload


def default_workers() -> int:
    """Worker processes by default: the CPUs available, at most 8."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return max(1, min(8, cpus or 1))


def run_jobs(jobs: Sequence[VideoJob], workers: int, progress: bool,
             consume: Callable[[int, VideoJob, tuple], None]) -> None:
    """Run :func:`run_video` on every job (in a pool when ``workers > 1``) and hand the results
    to ``consume(index, job, result)`` in job order, printing the warnings to stderr."""
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc='evaluating videos', unit='video', dynamic_ncols=True)
    pool = None
    try:
        if workers > 1 and len(jobs) > 1:
            pool = multiprocessing.get_context('fork').Pool(min(workers, len(jobs)))
            results: Iterable[tuple] = pool.imap(run_video, jobs)
        else:
            results = map(run_video, jobs)
        for index, (job, result) in enumerate(zip(jobs, results)):
            for warning in result[1]:
                print(f'warning: {warning}', file=sys.stderr)
            consume(index, job, result)
            if bar is not None:
                bar.update()
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()


def evaluate_vpq(gt_videos: Sequence[object], pred_videos: Sequence[object],
                 categories: Mapping[int, Mapping[str, object]], windows: Sequence[int],
                 workers: int = 1, progress: bool = False) -> dict:
    """Official VPQ of paired videos (see the module docstring)."""
    metric = SegmentVPQ(categories, windows)
    jobs = [VideoJob(g, p, 'vpq', tuple(metric.windows), categories)
            for g, p in zip(gt_videos, pred_videos)]
    run_jobs(jobs, workers, progress,
             lambda index, job, result: metric.add_video(result[2], result[0]))
    return metric.result()


def stq_accumulator(categories: Mapping[int, Mapping[str, object]]) -> STQuality:
    """The STQ accumulator of the official label maps: ``max(category) + 1`` classes, the
    categories with ``isthing`` as things, void 255, semantic part shifted by 16 bits."""
    things = [c for c, info in categories.items() if info['isthing']]
    return STQuality(max(categories) + 1, things, ignore_label=STQ_VOID,
                     label_divisor=1 << STQ_SHIFT)


def stq_summary(result: dict, names: Sequence[str]) -> dict:
    """``dict(STQ, AQ, SQ, per_video={name: ...}, per_class_iou)`` of an
    :func:`stq_accumulator` result whose sequences are the indices of ``names``."""
    per_video = {names[seq]: dict(STQ=r['STQ'], AQ=r['AQ'], SQ=r['SQ'],
                                  num_frames=r['num_frames'], num_tubes=r['num_tubes'])
                 for seq, r in result['per_sequence'].items()}
    return dict(STQ=result['STQ'], AQ=result['AQ'], SQ=result['SQ'], per_video=per_video,
                per_class_iou=result['per_class_iou'])


def evaluate_stq(gt_videos: Sequence[object], pred_videos: Sequence[object],
                 categories: Mapping[int, Mapping[str, object]], workers: int = 1,
                 progress: bool = False) -> dict:
    """Official (VIPSeg) STQ of paired videos (see the module docstring)."""
    metric = stq_accumulator(categories)
    names: List[str] = []

    def consume(index: int, job: VideoJob, result: tuple) -> None:
        names.append(job.gt.video_id)  # type: ignore[attr-defined]
        for frame, table in enumerate(result[2]):
            metric.update_pairs(table, index, frame)

    jobs = [VideoJob(g, p, 'stq', (), categories) for g, p in zip(gt_videos, pred_videos)]
    run_jobs(jobs, workers, progress, consume)
    return stq_summary(metric.result(), names)


def parse_windows(text: str) -> List[int]:
    """``'1,2,4'`` -> ``[1, 2, 4]`` (an argparse type)."""
    try:
        windows = [int(part) for part in text.split(',') if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'--windows: expected comma-separated integers, got '
                                         f'{text!r}') from None
    if not windows or any(w < 1 for w in windows) or len(set(windows)) != len(windows):
        raise argparse.ArgumentTypeError(f'--windows: expected distinct positive integers, got '
                                         f'{text!r}')
    return windows


class Benchmark(NamedTuple):
    """An official benchmark the evaluators can score.

    Attributes:
        name: the ``--format`` value.
        load: ``load(submit_dir, gt_dir) -> (gt videos, submitted videos, categories, kind)``.
        windows: the official window lengths of its VPQ.
        metrics: the metrics it has (``'vpq'``, ``'stq'``).
        submit: ``submit(results_dir, gt_root, submit_dir, split, progress, **options) ->
            path of pred.json``: our results layout -> the official submission (see
            :func:`write_submission`).
        submission_entries: what a submission folder holds (``pan_pred``, ``pred.json``).
    """

    name: str
    load: Callable[[str, str], tuple]
    windows: Tuple[int, ...]
    metrics: Tuple[str, ...]
    submit: Callable[..., str]
    submission_entries: Tuple[str, ...] = ('pan_pred', 'pred.json')


def _load_vipseg(submit_dir: str, gt_dir: str) -> tuple:
    from ..formats import vipseg
    videos, kind = vipseg.gt_videos(gt_dir)
    return videos, vipseg.pair_submission(submit_dir, videos), vipseg.gt_categories(gt_dir), kind


def _load_cityscapes_vps(submit_dir: str, gt_dir: str) -> tuple:
    from ..formats import cityscapes_vps
    videos, categories, kind, warnings = cityscapes_vps.gt_videos(gt_dir)
    for warning in warnings:
        print(f'warning: {warning}', file=sys.stderr)
    return videos, cityscapes_vps.pair_submission(submit_dir, videos), categories, kind


def _submit_vipseg(results_dir: str, gt_root: str, submit_dir: str, split: str,
                   progress: bool, **options: object) -> str:
    from ..formats import vipseg
    if options:
        raise ValueError(f'the vipseg submission has no options {sorted(options)}')
    return vipseg.submission_from_results(results_dir, gt_root, submit_dir, progress=progress,
                                          split=split)


def _submit_cityscapes_vps(results_dir: str, gt_root: str, submit_dir: str, split: str,
                           progress: bool, **options: object) -> str:
    from ..formats import cityscapes_vps
    frames = str(options.pop('frames', 'labelled'))
    if options:
        raise ValueError(f'the cityscapes-vps submission has no options {sorted(options)} '
                         '(it has frames)')
    return cityscapes_vps.submission_from_results(
        results_dir, gt_root, submit_dir, progress=progress, split=split, frames=frames)


BENCHMARKS: Dict[str, Benchmark] = {
    'vipseg': Benchmark('vipseg', _load_vipseg, (1, 2, 4, 6, 8), ('vpq', 'stq'),
                        _submit_vipseg),
    'cityscapes-vps': Benchmark('cityscapes-vps', _load_cityscapes_vps, (1, 2, 3, 4), ('vpq',),
                                _submit_cityscapes_vps),
}


def write_submission(benchmark: str, results_dir: str, gt_root: str, submit_dir: str,
                     split: str = 'val', progress: bool = False, **options: object) -> str:
    """Write the official submission of ``benchmark`` from a results folder of our layout.

    The folder is built beside ``submit_dir`` and put in its place when complete
    (:func:`vseg.folders.replace_folder`): a crash leaves an earlier submission whole, and no
    file of an earlier run stays in the new one. An existing ``submit_dir`` holding anything but
    a submission is refused.

    Args:
        benchmark: a name of :data:`BENCHMARKS`.
        results_dir: the results (``'knet'`` layout; sequence = the dataset's ``seq_id``,
            frame = its ``frame_id``).
        gt_root: the dataset root (split list and frame names).
        submit_dir: the submission folder.
        split: the split the results are of.
        progress: show a progress bar.
        **options: the benchmark writer's options (Cityscapes-VPS: ``frames='labelled'`` when
            the results hold the labelled frames only, numbered 0..5 in each clip, ``'all'``
            when they hold every raw frame, numbered by its frame number in the clip).

    Returns:
        the path of the submission's ``pred.json``.
    """
    from ..folders import replace_folder
    if benchmark not in BENCHMARKS:
        raise ValueError(f'unknown benchmark {benchmark!r}: expected one of {sorted(BENCHMARKS)}')
    entry = BENCHMARKS[benchmark]
    replace_folder(submit_dir, lambda partial: entry.submit(results_dir, gt_root, partial, split,
                                                            progress, **options),
                   allowed=entry.submission_entries)
    return os.path.join(submit_dir, 'pred.json')
