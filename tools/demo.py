"""The one-command demo (``make demo``): the whole Video K-Net job on synthetic KITTI-STEP data.

Steps 1 and 2 are skipped when their output is already complete (so a crashed or interrupted demo
resumes); inference and the later steps are always redone (seconds), so the figures belong to the
current checkpoint and code:

1. generate the synthetic STEP dataset (``tools/make_toy_step.py``) in
   ``$KNET_DATA_ROOT/toy-step`` (default ``datasets/toy-step``): training scenes from ``--seed``,
   val scenes from ``--val-seed`` (held out: a seed never used for training or for tuning the
   demo recipe); a folder the generator made with other arguments is made anew;
2. train the toy Video K-Net config on CPU (``tools/train.py``; resumes from the last checkpoint);
3. run online inference on the val split (``tools/inference.py``);
4. score STQ and VPQ (``tools/evaluate_stq.py``, ``tools/evaluate_vpq.py``) and count the
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
#: ``make_toy_step`` arguments of the demo data besides the seeds: 60 training sequences (more
#: scenes raised AQ on the tuning split; docs/demo_recipe.md) and 8 val sequences (160 frames).
DEMO_DATA = dict(train_seqs=60, val_seqs=8)
#: Seed of the demo's val scenes: held out, never used for training or tuning the recipe.
VAL_SEED = 1000


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run the Video K-Net demo on synthetic data.')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='toy training config')
    parser.add_argument('--work-dir', default='outputs/demo', help='checkpoints, logs, results')
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
    return parser.parse_args(argv)


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
    if toy_step_complete(root, seed=args.seed, val_seed=args.val_seed, **DEMO_DATA):
        print(f'==> [data] synthetic KITTI-STEP data found in {args.data_root}')
        return
    cmd = [sys.executable, 'tools/make_toy_step.py', '--out', args.data_root,
           '--seed', str(args.seed), '--val-seed', str(args.val_seed)]
    cmd += [f'--{key.replace("_", "-")}={value}' for key, value in DEMO_DATA.items()]
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
    # The toy config reads its data from $KNET_DATA_ROOT/toy-step (default datasets/toy-step).
    args.data_root = osp.join(os.environ.setdefault('KNET_DATA_ROOT', 'datasets'), 'toy-step')
    threads = args.threads or available_cpus()
    os.environ.setdefault('OMP_NUM_THREADS', str(threads))  # inherited by every step
    work_dir = osp.abspath(osp.join(REPO, args.work_dir))
    results = osp.join(work_dir, 'results')
    gt_dir = osp.join(args.data_root, 'video_sequence', 'val')
    os.makedirs(work_dir, exist_ok=True)

    make_data(args)
    ckpt = train(args, work_dir)
    infer = [sys.executable, 'tools/inference.py', args.config, ckpt, results, '--split', 'val']
    # Always redone (about 10 s): the demo owns its results folder, and predictions of another
    # checkpoint, config or code version would be refused by the manifest check (or be stale).
    run('inference', infer + ['--overwrite'])
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

    with open(stq_json) as f:
        stq = json.load(f)
    with open(vpq_json) as f:
        vpq = json.load(f)
    with open(merge_json) as f:
        merge = json.load(f)
    print(f'\nDemo finished in {(time.time() - start) / 60:.1f} min.')
    print(f'  data:        {osp.join(REPO, args.data_root)}')
    print(f'  checkpoint:  {ckpt}')
    print(f'  predictions: {osp.join(results, "panoptic")}')
    print(f'  GIFs:        {osp.join(results, "colorized_gif")}')
    print(f'  metrics:     {stq_json}, {vpq_json}, {merge_json}')
    print(f'STQ {stq["STQ"]:.3f}  AQ {stq["AQ"]:.3f}  SQ {stq["SQ"]:.3f}')
    print(f'VPQ {vpq["VPQ"]:.3f}  VPQ_th {vpq["VPQ_th"]:.3f}  VPQ_st {vpq["VPQ_st"]:.3f}'
          f'  (windows {",".join(str(k) for k in vpq.get("window_sizes", [1, 2, 3, 4]))})')
    print(f'merged: {merge["merged"]} of {merge["pred_segments"]} predicted thing segments cover '
          f'two or more ground-truth instances ({percent(merge["merged"], merge["pred_segments"])})'
          f'; split: {merge["split"]} of {merge["gt_instances"]} instances '
          f'({percent(merge["split"], merge["gt_instances"])})')


def percent(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with one decimal, ``n/a`` for an empty whole."""
    return f'{100.0 * part / whole:.1f} %' if whole else 'n/a'


if __name__ == '__main__':
    main()
