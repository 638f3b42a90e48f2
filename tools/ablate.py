"""Run an ablation study end to end: train, infer, evaluate, tabulate.

Usage::

    python tools/ablate.py CONFIG_OR_GLOB [...] --work-root DIR [--gpus N] [--device cpu|cuda]
        [--cfg-options k=v ...] [--data-root DIR] [--gt-dir DIR] [--split val] [--dry-run]
    python tools/ablate.py --toy --work-root DIR [--toy-iters N]

The config files are the only declaration of a study: one experiment per file (quote globs, e.g.
``'configs/video_knet_kitti_step/ablations/*.py'``). ``--toy`` is the preset of :data:`TOY`: the toy
Video K-Net and its variants under ``configs/toy/ablations/`` (four kernel-updater modes, three
reference intervals) on the synthetic KITTI-STEP data on CPU, generated with
``tools/make_toy_step.py`` when missing.

For every experiment: train with ``tools/train.py`` (``tools/dist_train.sh`` when ``--gpus`` > 1),
run ``tools/inference.py`` on the split with the last checkpoint, score the results with
``tools/evaluate_stq.py`` and ``tools/evaluate_vpq.py`` (``--json``); each stage is a subprocess.
Then ``DIR/results.md`` gets one Markdown table per knob, ``| experiment | value | STQ | AQ | SQ |
VPQ | VPQ k=1 |`` in percent with one decimal. The tables come from the configs themselves: an
experiment whose config inherits a single ``_base_`` file is grouped by that parent and by the keys
it changes (its diff to the parent; a changed ``type`` stands for its whole sub-config), and the
parent, when it is in the run too, is the first row of each of its tables. VPQ is the mean over the
windows k = 1..4; ``VPQ k=1`` is the per-frame figure that the original README reports.

Per experiment, ``DIR/{name}/`` (``name``: the config file's stem) holds ``config.py`` (the merged
config that training and inference both use), ``train/`` (work dir), ``results/`` (inference
output), ``stq.json``, ``vpq.json``, ``logs/{stage}.log``, ``state.json`` (finished stages) and,
once everything is done, ``done.json`` with the figures. Re-running is idempotent: finished
experiments are skipped, a crashed one continues at its first unfinished stage (training with
``--resume``, i.e. from the latest checkpoint of its work dir; inference skips complete
sequences). Changing an unfinished experiment's config is refused (delete ``DIR/{name}`` to start
it again). Experiments whose merged configs are identical are run once.

This file is the command line; the study (configs, diffs, tables, figures) is
:mod:`video_knet.apis.ablation` and the stages :mod:`video_knet.apis.ablation_runner`.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import DictAction

from video_knet.apis.ablation import (
    Plan,
    data_root_of,
    expand_configs,
    format_value,
    load_config,
    make_plans,
    results_markdown,
    short_key,
)
from video_knet.apis.ablation_runner import Settings, run_all, run_command

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The ``--toy`` preset: the toy Video K-Net (the base of every table) and its ablations.
TOY = ('configs/toy/video-knet_r18_toy.py', 'configs/toy/ablations/*.py')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Train, infer and evaluate one experiment per '
                                     'config file; write WORK_ROOT/results.md')
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='config files or quoted globs, one experiment per file')
    parser.add_argument('--toy', action='store_true', help='the toy preset: ' + ' '.join(TOY)
                        + ' on the synthetic KITTI-STEP data (CPU)')
    parser.add_argument('--work-root', required=True, help='folder of all experiment outputs')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes per experiment (>1: dist_train.sh and torchrun '
                        'inference)')
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='device (default: cuda if available, cpu with --toy)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides for every experiment, e.g. train_cfg.max_iters=100')
    parser.add_argument('--data-root', help='override the data_root of every dataloader')
    parser.add_argument('--split', default='val', help='split inferred and evaluated')
    parser.add_argument('--gt-dir', help='ground-truth folder of the evaluators (default: '
                        'DATA_ROOT/video_sequence/SPLIT)')
    parser.add_argument('--legacy-stq', action='store_true',
                        help="STQ as the original evaluate_stq.py (README parity)")
    parser.add_argument('--validate', action='store_true',
                        help='keep the validation loop during training (off by default)')
    parser.add_argument('--toy-iters', type=int,
                        help='with --toy: train N iterations (train_cfg.max_iters=N)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the plan and the empty tables; run nothing')
    parser.add_argument('--verbose', action='store_true', help='echo the stage outputs')
    args = parser.parse_args(argv)
    if bool(args.configs) == args.toy:
        parser.error('give config files or --toy (not both)')
    if args.toy_iters is not None and not args.toy:
        parser.error('--toy-iters applies to --toy only; use --cfg-options '
                     'train_cfg.max_iters=N')
    if args.gpus < 1:
        parser.error(f'--gpus must be >= 1, got {args.gpus}')
    return args


def ensure_toy_data(root: str, log_path: str) -> None:
    """Generate the synthetic KITTI-STEP data in ``root`` unless both splits exist."""
    splits = [osp.join(root, 'video_sequence', split) for split in ('train', 'val')]
    if all(osp.isdir(path) and os.listdir(path) for path in splits):
        print(f'[ablate] toy data: {root}', flush=True)
        return
    print(f'[ablate] generating the synthetic KITTI-STEP data in {root} ...', flush=True)
    run_command([sys.executable, osp.join(REPO_ROOT, 'tools', 'make_toy_step.py'), '--out',
                 root], log_path)


def select_configs(args: argparse.Namespace) -> Tuple[List[str], Dict[str, Any], Optional[str]]:
    """The config files, the global overrides and the data root override of the command line.

    With ``--toy``: the :data:`TOY` configs, ``--toy-iters`` as ``train_cfg.max_iters`` and the
    toy data root (the toy config's unless ``--data-root``), generated when missing.
    """
    options = dict(args.cfg_options)
    if not args.toy:
        return expand_configs(args.configs), options, args.data_root
    configs = expand_configs(TOY, REPO_ROOT)
    if args.toy_iters is not None:
        options['train_cfg.max_iters'] = int(args.toy_iters)
    data_root = args.data_root or data_root_of(load_config(configs[0]))
    if not args.dry_run:
        ensure_toy_data(data_root, osp.join(osp.abspath(args.work_root), 'toy_data.log'))
    return configs, options, data_root


def describe(plans: Sequence[Plan]) -> Iterator[str]:
    """One line per experiment: its config and what it changes with respect to its parent."""
    for number, plan in enumerate(plans, 1):
        changes = ' '.join(f'{short_key(key)}={format_value(new)}'
                           for key, (_, new) in plan.diff.items())
        same = f' (same config as {plan.same_as})' if plan.same_as else ''
        yield (f'[ablate] ({number}/{len(plans)}) {plan.name}: '
               f'{osp.relpath(plan.config, REPO_ROOT)} {changes}{same}')


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Run the study; returns the done records by experiment name (exit 1 on failures)."""
    args = parse_args(argv)
    load_config.cache_clear()  # configs as they are on disk now
    device = args.device
    if device is None:
        import torch
        device = 'cuda' if torch.cuda.is_available() and not args.toy else 'cpu'
    settings = Settings(work_root=osp.abspath(args.work_root),
                        tools_dir=osp.join(REPO_ROOT, 'tools'), gpus=args.gpus, device=device,
                        split=args.split, legacy_stq=args.legacy_stq, validate=args.validate,
                        verbose=args.verbose)
    configs, options, data_root = select_configs(args)
    plans = make_plans(configs, options, data_root, args.gt_dir, args.split)
    for line in describe(plans):
        print(line, flush=True)
    if args.dry_run:
        print(results_markdown(plans, {}, {}, 'Dry run: nothing was trained.'))
        return {}
    records, failures = run_all(plans, settings)
    if failures:
        print(f'[ablate] failed: {", ".join(failures)} (re-run the same command to resume)')
        sys.exit(1)
    return records


if __name__ == '__main__':
    main()
