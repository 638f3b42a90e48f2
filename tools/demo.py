"""The one-command demo (``make demo``): the whole Video K-Net job on synthetic KITTI-STEP data.

Steps 1 and 2 are skipped when their output is already complete (so a crashed or interrupted demo
resumes); inference and the later steps are always redone (seconds), so the figures belong to the
current checkpoint and code:

1. generate the synthetic STEP dataset (``tools/make_toy_step.py``) in
   ``$KNET_DATA_ROOT/toy-step`` (default ``datasets/toy-step``);
2. train the toy Video K-Net config on CPU (``tools/train.py``; resumes from the last checkpoint);
3. run online inference on the val split (``tools/inference.py``);
4. score STQ and VPQ (``tools/evaluate_stq.py``, ``tools/evaluate_vpq.py``);
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


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run the Video K-Net demo on synthetic data.')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='toy training config')
    parser.add_argument('--work-dir', default='outputs/demo', help='checkpoints, logs, results')
    parser.add_argument('--seed', type=int, default=0, help='dataset and training seed')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch/OpenMP threads per process (default 1: on a 2-core machine '
                             'a toy training iteration took 0.9 s with 1 thread and 2.0 s with 2 '
                             'when anything else was running; dataloader workers use the rest)')
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


def dataset_complete(data_root: str) -> bool:
    """True when both splits of the synthetic dataset exist and hold frames."""
    return all(
        osp.isdir(osp.join(data_root, 'video_sequence', split))
        and any(name.endswith('_panoptic.png')
                for name in os.listdir(osp.join(data_root, 'video_sequence', split)))
        for split in ('train', 'val'))


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
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))  # inherited by every step
    work_dir = osp.abspath(osp.join(REPO, args.work_dir))
    results = osp.join(work_dir, 'results')
    gt_dir = osp.join(args.data_root, 'video_sequence', 'val')
    os.makedirs(work_dir, exist_ok=True)

    if dataset_complete(osp.join(REPO, args.data_root)):
        print(f'==> [data] synthetic KITTI-STEP data found in {args.data_root}')
    else:
        run('data', [sys.executable, 'tools/make_toy_step.py', '--out', args.data_root,
                     '--seed', str(args.seed)])
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
    run('visualize', [sys.executable, 'tools/visualize.py', results, '--img-dir', gt_dir])

    with open(stq_json) as f:
        stq = json.load(f)
    with open(vpq_json) as f:
        vpq = json.load(f)
    print(f'\nDemo finished in {(time.time() - start) / 60:.1f} min.')
    print(f'  data:        {osp.join(REPO, args.data_root)}')
    print(f'  checkpoint:  {ckpt}')
    print(f'  predictions: {osp.join(results, "panoptic")}')
    print(f'  GIFs:        {osp.join(results, "colorized_gif")}')
    print(f'  metrics:     {stq_json}, {vpq_json}')
    print(f'STQ {stq["STQ"]:.3f}  AQ {stq["AQ"]:.3f}  SQ {stq["SQ"]:.3f}')
    print(f'VPQ {vpq["VPQ"]:.3f}  VPQ_th {vpq["VPQ_th"]:.3f}  VPQ_st {vpq["VPQ_st"]:.3f}'
          f'  (windows {",".join(str(k) for k in vpq.get("window_sizes", [1, 2, 3, 4]))})')


if __name__ == '__main__':
    main()
