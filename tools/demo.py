"""The one-command demo (``make demo``): the whole Video K-Net job on synthetic KITTI-STEP data.

``--dataset vipseg`` (or ``cityscapes-vps``) runs the same job on the synthetic twin of that
benchmark (``tools/make_toy_step.py --layout vipseg``) with its toy config, and scores the
official submission that inference writes (``RESULTS/submission/``) with the benchmark's own
definition (``tools/evaluate_vpq.py SUBMIT --format vipseg``; VIPSeg also STQ).

Steps 1 and 2 are skipped when their output is already complete (so a crashed or interrupted demo
resumes); inference and the later steps are always redone (seconds), so the figures belong to the
current checkpoint and code:

1. generate the synthetic dataset (``tools/make_toy_step.py``) in
   ``$KNET_DATA_ROOT/toy-step`` (default ``datasets/toy-step``; ``toy-vipseg``,
   ``toy-cityscapes-vps`` for the other twins): training scenes from ``--seed``,
   val scenes from ``--val-seed`` (held out: a seed never used for training or for tuning the
   demo recipe); a folder the generator made with other arguments is made anew;
2. train the toy Video K-Net config on CPU (``tools/train.py``; resumes from the last checkpoint);
3. run online inference on the val split (``tools/inference.py``; for VIPSeg and Cityscapes-VPS
   it also writes the official submission);
4. score STQ and VPQ (``tools/evaluate_stq.py``, ``tools/evaluate_vpq.py``; on the submission
   with ``--format`` for the benchmarks) and count the
   predicted thing segments that cover two or more ground-truth instances
   (``tools/analysis/instance_merge_rate.py``);
5. write colourised PNGs and one GIF per sequence (``tools/visualize.py``);

and finally prints where everything is and, as its last lines, the figures.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = 'configs/toy/video-knet_r18_toy.py'
#: Per ``--dataset``: its toy config, the data folder under $KNET_DATA_ROOT, the generator
#: layout, the official benchmark scored on the submission (None: our STEP evaluators on the
#: results folder) and the work dir.
DEMOS = {
    'kitti-step': dict(config=DEFAULT_CONFIG, data='toy-step', layout='kitti-step',
                       benchmark=None, work_dir='outputs/demo'),
    'vipseg': dict(config='configs/toy/video-knet_r18_toy_vipseg.py', data='toy-vipseg',
                   layout='vipseg', benchmark='vipseg', work_dir='outputs/demo-vipseg'),
    'cityscapes-vps': dict(config='configs/toy/video-knet_r18_toy_cityscapes-vps.py',
                           data='toy-cityscapes-vps', layout='cityscapes-vps',
                           benchmark='cityscapes-vps', work_dir='outputs/demo-cityscapes-vps',
                           # 30-frame clips as the dataset's, 6 labelled frames each;
                           # inference tracks through all 30 (results numbered by raw frame)
                           data_args=dict(frames=30), merge_args=['--frames', 'all']),
}
#: ``make_toy_step`` arguments of the demo data besides the seeds: 60 training sequences (more
#: scenes raised AQ on the tuning split; docs/demo_recipe.md) and 8 val sequences (160 frames).
DEMO_DATA = dict(train_seqs=60, val_seqs=8)
#: Seed of the demo's val scenes: held out, never used for training or tuning the recipe.
VAL_SEED = 1000


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run the Video K-Net demo on synthetic data.')
    parser.add_argument('--dataset', default='kitti-step', choices=sorted(DEMOS),
                        help='the synthetic twin to run on (default kitti-step)')
    parser.add_argument('--config', help='toy training config (default: the dataset\'s, '
                        + ', '.join(f'{k}: {v["config"]}' for k, v in DEMOS.items()) + ')')
    parser.add_argument('--work-dir', help='checkpoints, logs, results (default outputs/demo, '
                        'outputs/demo-<dataset> for the others)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the training scenes and of training (default 0)')
    parser.add_argument('--val-seed', type=int, default=VAL_SEED,
                        help=f'seed of the val scenes (default {VAL_SEED}: held out, never used '
                             'for training or for tuning the demo recipe)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch/OpenMP threads per process (default: the CPUs this process '
                             'may use; on a 2-core machine with nothing else running, a toy '
                             'training iteration took 0.40-0.55 s with 2 threads; give 1 when '
                             'something else keeps a core busy)')
    parser.add_argument('--fresh', action='store_true',
                        help='retrain and re-infer even if outputs exist (data is kept)')
    args = parser.parse_args(argv)
    demo = DEMOS[args.dataset]
    args.config = args.config or demo['config']
    args.work_dir = args.work_dir or demo['work_dir']
    args.layout = demo['layout']
    args.data_args = demo.get('data_args', {})
    return args


def run(step: str, cmd: List[str]) -> None:
    """Run one tool as a subprocess, streaming its output; stop the demo if it fails."""
    print(f'\n==> [{step}] {" ".join(cmd)}', flush=True)
    start = time.time()
    result = subprocess.run(cmd, cwd=REPO)
    if result.returncode != 0:
        sys.exit(f'demo: step "{step}" failed with exit code {result.returncode}; '
                 f'fix the error above and re-run `make demo` (finished steps are skipped)')
    print(f'==> [{step}] done in {time.time() - start:.0f}s', flush=True)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def make_data(args: argparse.Namespace) -> None:
    """Generate the demo data unless ``args.data_root`` already holds it, complete and made
    with the demo's arguments (a folder the generator made otherwise is made anew)."""
    from knet.datasets.toy_step import toy_step_complete  # torch import: only here
    root = osp.join(REPO, args.data_root)
    layout = getattr(args, 'layout', 'kitti-step')
    data_args = dict(DEMO_DATA, **getattr(args, 'data_args', {}))
    if toy_step_complete(root, seed=args.seed, val_seed=args.val_seed, layout=layout,
                         **data_args):
        print(f'==> [data] synthetic {layout} data found in {args.data_root}')
        return
    cmd = [sys.executable, 'tools/make_toy_step.py', '--out', args.data_root,
           '--seed', str(args.seed), '--val-seed', str(args.val_seed), '--layout', layout]
    cmd += [f'--{key.replace("_", "-")}={value}' for key, value in data_args.items()]
    run('data', cmd + ['--overwrite'])


def final_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint written at the end of training (marker file), or None."""
    marker = osp.join(work_dir, 'train_done.txt')
    if osp.isfile(marker):
        with open(marker) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    return None


def train(args: argparse.Namespace, work_dir: str) -> str:
    """Train (or resume) and return the last checkpoint path."""
    ckpt = None if args.fresh else final_checkpoint(work_dir)
    if ckpt:
        print(f'\n==> [train] already finished: {ckpt}')
        return ckpt
    cmd = [sys.executable, 'tools/train.py', args.config, '--work-dir', work_dir,
           '--seed', str(args.seed), '--no-validate']
    if not args.fresh and osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        cmd.append('--resume')
    run('train', cmd)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    with open(osp.join(work_dir, 'train_done.txt'), 'w') as f:
        f.write(ckpt)
    return ckpt


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    start = time.time()
    demo = DEMOS[args.dataset]
    # The toy configs read their data from $KNET_DATA_ROOT/<folder> (default datasets/...).
    args.data_root = osp.join(os.environ.setdefault('KNET_DATA_ROOT', 'datasets'), demo['data'])
    threads = args.threads or available_cpus()
    os.environ.setdefault('OMP_NUM_THREADS', str(threads))  # inherited by every step
    work_dir = osp.abspath(osp.join(REPO, args.work_dir))
    results = osp.join(work_dir, 'results')
    os.makedirs(work_dir, exist_ok=True)

    make_data(args)
    ckpt = train(args, work_dir)
    infer = [sys.executable, 'tools/inference.py', args.config, ckpt, results, '--split', 'val']
    # Always redone (about 10 s): the demo owns its results folder, and predictions of another
    # checkpoint, config or code version would be refused by the manifest check (or be stale).
    run('inference', infer + ['--overwrite'])
    if demo['benchmark'] is None:
        figures = evaluate_step(args, work_dir, results)
    else:
        figures = evaluate_benchmark(args, demo['benchmark'], work_dir, results)
    print(f'\nDemo finished in {(time.time() - start) / 60:.1f} min.')
    print(f'  data:        {osp.join(REPO, args.data_root)}')
    print(f'  checkpoint:  {ckpt}')
    print(f'  predictions: {osp.join(results, "panoptic")}')
    if demo['benchmark'] is not None:
        print(f'  submission:  {osp.join(results, "submission")} (official {args.dataset} '
              'format)')
    print(f'  GIFs:        {osp.join(results, "colorized_gif")}')
    print(f'  metrics:     {", ".join(figures.pop("files"))}')
    for line in figures['lines']:
        print(line)


def merge_line(merge: dict) -> str:
    """The figures line of ``instance_merge_rate.py``'s JSON."""
    return (f'merged: {merge["merged"]} of {merge["pred_segments"]} predicted thing segments '
            f'cover two or more ground-truth instances '
            f'({percent(merge["merged"], merge["pred_segments"])}); split: {merge["split"]} of '
            f'{merge["gt_instances"]} instances ({percent(merge["split"], merge["gt_instances"])})')


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def evaluate_step(args: argparse.Namespace, work_dir: str, results: str) -> dict:
    """STQ, VPQ and the merge rate of the KITTI-STEP results folder, then the GIFs."""
    gt_dir = osp.join(args.data_root, 'video_sequence', 'val')
    stq_json, vpq_json = osp.join(work_dir, 'stq.json'), osp.join(work_dir, 'vpq.json')
    cache = ['--tables-cache', osp.join(work_dir, 'pair_tables.npz')]  # decode PNGs once
    if osp.isfile(cache[1]):
        os.remove(cache[1])  # tables of an earlier inference run would be stale
    run('STQ', [sys.executable, 'tools/evaluate_stq.py', results, '--gt-dir', gt_dir,
                '--json', stq_json] + cache)
    run('VPQ', [sys.executable, 'tools/evaluate_vpq.py', results, '--gt-dir', gt_dir,
                '--json', vpq_json] + cache)
    merge_json = osp.join(work_dir, 'merge_rate.json')
    run('merge rate', [sys.executable, 'tools/analysis/instance_merge_rate.py', results,
                       '--gt-dir', gt_dir, '--json', merge_json] + cache)
    run('visualize', [sys.executable, 'tools/visualize.py', results, '--img-dir', gt_dir])
    stq, vpq, merge = read_json(stq_json), read_json(vpq_json), read_json(merge_json)
    windows = ",".join(str(k) for k in vpq.get("window_sizes", [1, 2, 3, 4]))
    return dict(files=[stq_json, vpq_json, merge_json], lines=[
        f'STQ {stq["STQ"]:.3f}  AQ {stq["AQ"]:.3f}  SQ {stq["SQ"]:.3f}',
        f'VPQ {vpq["VPQ"]:.3f}  VPQ_th {vpq["VPQ_th"]:.3f}  VPQ_st {vpq["VPQ_st"]:.3f}'
        f'  (windows {windows})',
        merge_line(merge)])


def evaluate_benchmark(args: argparse.Namespace, benchmark: str, work_dir: str,
                       results: str) -> dict:
    """The benchmark's official VPQ (and STQ where it has one) of the submission inference
    wrote, the merge rate of the results folder, then the GIFs."""
    from vseg.metrics.benchmark_eval import BENCHMARKS  # numpy only
    submit = osp.join(results, 'submission')
    files, lines = [], []
    vpq_json = osp.join(work_dir, 'vpq.json')
    run('VPQ', [sys.executable, 'tools/evaluate_vpq.py', submit, '--format', benchmark,
                '--gt-dir', args.data_root, '--json', vpq_json])
    vpq = read_json(vpq_json)
    files.append(vpq_json)
    windows = ','.join(vpq['per_window'])
    lines.append(f'VPQ {fraction(vpq["VPQ"])}  VPQ_th {fraction(vpq["VPQ_th"])}  VPQ_st '
                 f'{fraction(vpq["VPQ_st"])}  (official {benchmark}, windows {windows} frames)')
    if 'stq' in BENCHMARKS[benchmark].metrics:
        stq_json = osp.join(work_dir, 'stq.json')
        run('STQ', [sys.executable, 'tools/evaluate_stq.py', submit, '--format', benchmark,
                    '--gt-dir', args.data_root, '--json', stq_json])
        stq = read_json(stq_json)
        files.insert(0, stq_json)
        lines.insert(0, f'STQ {fraction(stq["STQ"])}  AQ {fraction(stq["AQ"])}  SQ '
                        f'{fraction(stq["SQ"])}  (official {benchmark})')
    merge_json = osp.join(work_dir, 'merge_rate.json')
    run('merge rate', [sys.executable, 'tools/analysis/instance_merge_rate.py', results,
                       '--dataset', benchmark, '--gt-dir', args.data_root, '--json', merge_json,
                       *DEMOS[args.dataset].get('merge_args', [])])
    files.append(merge_json)
    lines.append(merge_line(read_json(merge_json)))
    run('visualize', [sys.executable, 'tools/visualize.py', results, '--dataset', benchmark])
    return dict(files=files, lines=lines)


def fraction(value: Optional[float]) -> str:
    """A figure of an evaluator JSON (null = NaN: undefined) with three decimals."""
    return 'nan' if value is None else f'{value:.3f}'


def percent(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with one decimal, ``n/a`` for an empty whole."""
    return f'{100.0 * part / whole:.1f} %' if whole else 'n/a'


if __name__ == '__main__':
    main()
