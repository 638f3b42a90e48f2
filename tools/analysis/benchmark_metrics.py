"""Speed of the STQ / VPQ evaluators on KITTI-STEP-val-like data (docs/metrics.md).

Usage::

    python tools/analysis/benchmark_metrics.py [--sequences 3] [--frames 60] [--workers N]
                                              [--out DIR] [--keep] [--kitti-val] [--tools]

Writes synthetic results + ground truth in the real layouts (375 x 1242 frames, ~20 segments per
frame: stuff regions, moving cars and persons with track ids, void, noisy predictions with id
switches and unassigned pixels), then prints frames/second for: PNG decoding only, decoding +
pair counting with ``--workers`` processes (what the tools do), the STQ and VPQ (k = 1..4)
accumulators alone, and the time of the whole evaluation (STQ + VPQ 1..4 from one decoding
pass), extrapolated to KITTI-STEP val (2,981 frames) unless ``--kitti-val`` generates all 2,981
frames (9 sequences). ``--tools`` also times the two command lines as a user runs them
(``tools/evaluate_stq.py`` then ``tools/evaluate_vpq.py`` sharing ``--tables-cache``), start-up
included. Timings are wall clock and noisy on a shared machine.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, List, Optional, Tuple, Union

import cv2
import numpy as np

from vseg.formats import get_format
from vseg.io import write_png_atomic
from vseg.layouts import get_layout
from vseg.metainfo import dataset_metainfo
from vseg.metrics import STQuality, VideoPanopticQuality
from vseg.metrics.evaluate import Reading, default_workers, iter_pair_tables, pair_frames
from vseg.panoptic import encode_step_png

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KITTI_STEP_VAL_FRAMES = 2981
HEIGHT, WIDTH = 375, 1242


def _scene(rng: np.random.Generator, num_classes: int, thing_ids: List[int]) -> dict:
    """Random layout of one sequence: stuff boxes and moving objects (position, velocity)."""
    stuff = [c for c in range(num_classes) if c not in thing_ids]
    boxes = [(int(rng.choice(stuff)), *rng.integers(0, [HEIGHT, WIDTH]),
              *rng.integers([40, 120], [200, 600])) for _ in range(14)]
    objects = [dict(cls=int(rng.choice(thing_ids)), inst=i + 1,
                    pos=rng.uniform([HEIGHT * 0.45, 0], [HEIGHT * 0.9, WIDTH]),
                    vel=rng.uniform([-0.5, -8], [0.5, 8]), size=rng.integers([25, 40], [90, 180]))
               for i in range(8)]
    return dict(boxes=boxes, objects=objects, background=rng.choice(stuff, size=2))


def _render(scene: dict, t: int) -> Tuple[np.ndarray, np.ndarray]:
    """(H, W) semantic and instance maps of frame t."""
    sem = np.full((HEIGHT, WIDTH), scene['background'][0], np.int32)
    sem[: HEIGHT // 3] = scene['background'][1]
    for cls, y, x, h, w in scene['boxes']:
        sem[y:y + h, max(x - 2 * t, 0):max(x - 2 * t, 0) + w] = cls
    inst = np.zeros_like(sem)
    for obj in scene['objects']:
        y, x = (obj['pos'] + t * obj['vel']).astype(int)
        x %= WIDTH
        h, w = obj['size']
        cv2.ellipse(sem, (int(x), int(y)), (int(w) // 2, int(h) // 2), 0, 0, 360,
                    obj['cls'], -1)
        cv2.ellipse(inst, (int(x), int(y)), (int(w) // 2, int(h) // 2), 0, 0, 360,
                    obj['inst'], -1)
    inst[~np.isin(sem, [o['cls'] for o in scene['objects']])] = 0
    sem[:12] = 255
    sem[-6:, :200] = 255
    return sem, inst


def _predict(sem: np.ndarray, inst: np.ndarray, rng: np.random.Generator, t: int,
             num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """Noisy prediction: shifted map, some wrong classes, unassigned pixels, id switches."""
    cat = np.roll(sem, int(rng.integers(-4, 5)), axis=1).copy()
    ins = np.roll(inst, int(rng.integers(-4, 5)), axis=1) * 3
    ins[ins > 0] += 1000 + 7 * (t // 20)  # 16-bit track ids, a switch every 20 frames
    cat[cat == 255] = rng.integers(0, num_classes)
    y, x = rng.integers(0, [HEIGHT - 60, WIDTH - 150])
    cat[y:y + 60, x:x + 150] = rng.integers(0, num_classes)
    cat[-20:, -300:] = 255
    return cat.astype(np.uint16), ins.astype(np.uint16)


def make_data(root: str, lengths: List[int], num_classes: int,
              thing_ids: List[int], seed: int = 0) -> Tuple[str, str]:
    """Write ``root/gt/*_panoptic.png`` and ``root/results/panoptic/{seq}/*`` (sequence s with
    ``lengths[s]`` frames); return both dirs."""
    rng = np.random.default_rng(seed)
    gt_dir, res_dir = os.path.join(root, 'gt'), os.path.join(root, 'results')
    os.makedirs(gt_dir, exist_ok=True)
    for seq, num_frames in enumerate(lengths):
        scene = _scene(rng, num_classes, thing_ids)
        for t in range(num_frames):
            sem, inst = _render(scene, t)
            rgb = encode_step_png(sem, inst)
            write_png_atomic(os.path.join(gt_dir, f'{seq:06d}_{t:06d}_panoptic.png'),
                             np.ascontiguousarray(rgb[..., ::-1]))
            get_layout('knet').write_frame(res_dir, seq, t, *_predict(sem, inst, rng, t,
                                                                     num_classes))
    return gt_dir, res_dir


def _timed(fn: Callable[[], Any]) -> Tuple[Tuple[float, float], Any]:
    """(wall-clock seconds, CPU seconds of this process) of ``fn()``, and its result."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - start, time.process_time() - cpu), out


def benchmark(res_dir: str, gt_dir: str, workers: int, num_classes: int,
              thing_ids: List[int]) -> None:
    """Print the frames/second of every stage."""
    reading = Reading('kitti-step', 'knet', tuple(thing_ids))
    frames = pair_frames(res_dir, gt_dir, reading=reading)
    n = len(frames)
    fmt, layout = get_format(reading.format), get_layout(reading.layout)
    decode_s, _ = _timed(lambda: [fmt.read_panoptic(f.gt, thing_ids, reading.label_divisor).shape
                                  + layout.read_panoptic(f.pred, reading.label_divisor).shape
                                  for f in frames])  # decoded maps are dropped at once
    serial_s, tables = _timed(lambda: list(iter_pair_tables(frames, 1, reading, False)))
    parallel_s, _ = _timed(lambda: list(iter_pair_tables(frames, workers, reading, False)))

    def run(metric: Union[STQuality, VideoPanopticQuality]) -> dict:
        """Feed every table to ``metric`` and return its result."""
        for frame, table in tables:
            metric.update_pairs(table, frame.seq_id)
        return metric.result()

    stq_s, stq = _timed(lambda: run(STQuality(num_classes, thing_ids)))
    vpq_s, vpq = _timed(lambda: run(VideoPanopticQuality(num_classes, thing_ids, (1, 2, 3, 4))))
    rows = [('decode PNGs only (1 process)', decode_s),
            ('decode + pair tables (1 process)', serial_s),
            (f'decode + pair tables ({workers} processes)', parallel_s),
            ('STQ accumulator (update + result)', stq_s),
            ('VPQ k=1..4 accumulator (update + result)', vpq_s)]
    print(f'{n} frames of {HEIGHT}x{WIDTH}, ~{np.mean([len(t.counts) for _, t in tables]):.0f} '
          f'(gt, pred) pairs per frame; CPU shared with other jobs, figures are noisy')
    for name, (wall, cpu) in rows:
        cpu_note = '' if 'processes' in name else f', CPU {1000 * cpu / n:5.1f} ms/frame'
        print(f'  {name:45s} {n / wall:9.1f} frames/s  ({wall:6.2f} s{cpu_note})')
    total = parallel_s[0] + stq_s[0] + vpq_s[0]
    cpu_total = serial_s[1] + stq_s[1] + vpq_s[1]
    print(f'STQ {100 * stq["STQ"]:.1f}  VPQ {100 * vpq["VPQ"]:.1f} on the synthetic data')
    print(f'STQ + VPQ 1..4 from one decoding pass, {workers} processes, {n} frames: '
          f'{total:.1f} s wall, {cpu_total:.1f} CPU-seconds in all')
    if n != KITTI_STEP_VAL_FRAMES:
        scale = KITTI_STEP_VAL_FRAMES / n
        print(f'  extrapolated to KITTI-STEP val ({KITTI_STEP_VAL_FRAMES} frames): '
              f'{total * scale:.1f} s wall; {cpu_total * scale / workers:.1f} s on {workers} '
              'idle cores')


def time_tools(res_dir: str, gt_dir: str, workers: int) -> None:
    """Wall time of ``evaluate_stq.py`` then ``evaluate_vpq.py`` (shared tables cache), as a
    user runs them: separate processes, start-up included."""
    cache = os.path.join(os.path.dirname(res_dir), 'tables.npz')
    for tool in ('evaluate_stq.py', 'evaluate_vpq.py'):
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(TOOLS, tool), '--help'], check=True,
                           capture_output=True)
            runs.append(time.perf_counter() - start)
        print(f'  {tool} --help: {min(runs):.2f} s (best of 5), {np.median(runs):.2f} s median')
    total = 0.0
    for tool in ('evaluate_stq.py', 'evaluate_vpq.py'):
        cmd = [sys.executable, os.path.join(TOOLS, tool), res_dir, '--gt-dir', gt_dir,
               '--workers', str(workers), '--tables-cache', cache, '--no-progress']
        start = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
        total += seconds
        print(f'  {tool:18s} {seconds:6.1f} s  -> {out.strip().splitlines()[-1]}')
    print(f'the two evaluator command lines: {total:.1f} s wall in all')


def main(argv: Optional[List[str]] = None) -> None:
    """Generate the data, run the benchmark, clean up."""
    parser = argparse.ArgumentParser(description='Benchmark the STQ / VPQ evaluators.')
    parser.add_argument('--sequences', type=int, default=3)
    parser.add_argument('--frames', type=int, default=60, help='frames per sequence')
    parser.add_argument('--workers', type=int, default=default_workers())
    parser.add_argument('--out', help='data folder (default: a temporary folder)')
    parser.add_argument('--keep', action='store_true', help='keep the generated data')
    parser.add_argument('--kitti-val', action='store_true',
                        help=f'generate all {KITTI_STEP_VAL_FRAMES} frames of a KITTI-STEP-val-'
                             'sized split (9 sequences) instead of --sequences x --frames')
    parser.add_argument('--tools', action='store_true',
                        help='also time tools/evaluate_stq.py + tools/evaluate_vpq.py')
    parser.add_argument('--num-classes', type=int, help='default: KITTI-STEP metainfo')
    parser.add_argument('--thing-ids', type=int, nargs='+', help='default: KITTI-STEP metainfo')
    args = parser.parse_args(argv)
    meta = dataset_metainfo('kitti-step')
    num_classes = args.num_classes if args.num_classes is not None else len(meta['classes'])
    thing_ids = args.thing_ids if args.thing_ids is not None else list(meta['thing_ids'])
    lengths = [args.frames] * args.sequences
    if args.kitti_val:
        lengths = [KITTI_STEP_VAL_FRAMES // 9 + (i < KITTI_STEP_VAL_FRAMES % 9) for i in range(9)]
    root = args.out or tempfile.mkdtemp(prefix='knet_metric_bench_')
    try:
        start = time.perf_counter()
        gt_dir, res_dir = make_data(root, lengths, num_classes, thing_ids)
        print(f'generated {len(lengths)} sequences, {sum(lengths)} frames in {root} '
              f'({time.perf_counter() - start:.1f} s)')
        benchmark(res_dir, gt_dir, args.workers, num_classes, thing_ids)
        if args.tools:
            time_tools(res_dir, gt_dir, args.workers)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
