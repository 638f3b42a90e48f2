"""Train a K-Net / Video K-Net model with the mmengine Runner (docs/model.md, "Training").

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--load-from CKPT]
        [--load-partial] [--amp] [--no-validate] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm] [--seed N]

Multi-GPU: ``bash tools/dist_train.sh CONFIG GPUS [WORK_DIR] [args]`` (torchrun) or
``bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [args]``.

``--resume`` without a path resumes from the latest checkpoint of the work dir (optimizer,
scheduler, iteration and epoch counters included); when the work dir holds none, training starts
normally, initialised from ``--load-from`` / the config's ``load_from`` if set. ``--resume CKPT``
resumes from that file, which must fit the model exactly. ``--load-from CKPT`` (or the config's
``load_from``) only loads weights, after ``init_weights`` as the original: the keys that do not
fit are printed as a table (key, checkpoint shape, model shape) before training; missing and
unexpected keys are allowed (a K-Net image checkpoint lacks the video modules of Video K-Net),
a key whose shape differs is an error unless ``--load-partial`` is given (those keys then keep
their initialisation). Checkpoints carry the config and the dataset metainfo in ``meta``
(mmengine ``Runner.save_checkpoint``).

A command line over :mod:`video_knet.apis.runner`; it switches on full checkpoint unpickling
(:func:`knet.engine.enable_full_checkpoint_loading`) so that resume works on torch >= 2.6.
"""
import argparse
from typing import Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from knet.engine import enable_full_checkpoint_loading
from video_knet.apis import (
    add_common_args,
    apply_resume,
    build_runner,
    check_runner_checkpoint,
    load_runner_config,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments of the training tool (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Train a video-knet model')
    parser.add_argument('config', help='training config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='resume from CKPT, or from the latest checkpoint of the work dir '
                        'when no CKPT is given')
    parser.add_argument('--load-from', metavar='CKPT',
                        help='initialise the weights from CKPT (no optimizer / counters)')
    parser.add_argument('--load-partial', action='store_true',
                        help='with --load-from: skip the checkpoint keys whose shapes differ from '
                        'the model\'s instead of failing')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training (CUDA)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training (drops the val loop)')
    parser.add_argument('--seed', type=int, default=None, help='random seed (config default 0)')
    add_common_args(parser)
    return parser.parse_args(argv)


def setup_config(args: argparse.Namespace) -> Config:
    """Build the final training config from the parsed command line."""
    cfg = load_runner_config(args)
    apply_resume(cfg, args.resume, args.load_from)
    if args.amp:
        wrapper = cfg.get('optim_wrapper')
        if wrapper is None:
            raise KeyError(f'{args.config}: --amp needs an `optim_wrapper` in the config')
        if not torch.cuda.is_available():
            raise RuntimeError('--amp needs a CUDA device (mmengine AmpOptimWrapper)')
        if wrapper.get('type', 'OptimWrapper') not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp: cannot convert optim_wrapper type {wrapper["type"]}')
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    return cfg


def check_checkpoint(runner: Runner, cfg: Config, load_partial: bool) -> None:
    """Compare the checkpoint the Runner will load with its model (module docstring)."""
    if cfg.get('load_from') is None:
        if load_partial:
            raise ValueError('--load-partial needs --load-from CKPT (or load_from in the config)')
        return
    if cfg.get('resume'):
        if load_partial:
            raise ValueError('--load-partial applies to --load-from, not to a resumed checkpoint')
        check_runner_checkpoint(runner, cfg.load_from,
                                hint='a resumed checkpoint must be a training state of this model')
        return
    check_runner_checkpoint(runner, cfg.load_from, keys_may_differ=True,
                            shapes_may_differ=load_partial,
                            hint='--load-partial skips the mis-shaped keys (they keep their '
                            'initialisation)')


def main(argv: Optional[Sequence[str]] = None) -> Runner:
    """Run training; returns the Runner after ``train()`` (used by the tests)."""
    args = parse_args(argv)
    enable_full_checkpoint_loading()
    cfg = setup_config(args)
    runner = build_runner(cfg)
    check_checkpoint(runner, cfg, args.load_partial)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
