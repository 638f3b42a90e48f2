"""Train a K-Net / Video K-Net model with the mmengine Runner (DESIGN.md §7).

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--load-from CKPT] [--amp]
        [--no-validate] [--cfg-options k=v ...] [--launcher none|pytorch|slurm] [--seed N]

Multi-GPU: ``bash tools/dist_train.sh CONFIG GPUS [WORK_DIR] [args]`` (torchrun) or
``bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [args]``.

``--resume`` without a path resumes from the latest checkpoint of the work dir (optimizer,
scheduler, iteration and epoch counters included); when the work dir holds none, training starts
normally, initialised from ``--load-from`` / the config's ``load_from`` if set. ``--resume CKPT``
resumes from that file. ``--load-from CKPT`` only loads weights (non-strict, after
``init_weights``, as the original). Checkpoints carry the config and the dataset metainfo in
``meta`` (mmengine ``Runner.save_checkpoint``).
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

import knet  # noqa: F401  (registers modules; fixes checkpoint loading on torch>=2.6)
import video_knet  # noqa: F401  (registers the video modules)

DEFAULT_SCOPE = 'knet'


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
    parser.add_argument('--amp', action='store_true', help='mixed-precision training (CUDA)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training (drops the val loop)')
    parser.add_argument('--seed', type=int, default=None, help='random seed (config default 0)')
    add_common_args(parser)
    return parser.parse_args(argv)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by ``train.py`` and ``test.py`` to ``parser``."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.batch_size=2 '
                        'custom_hooks.0.enabled=False')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank / --local_rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the options shared by the train and test tools.

    Sets ``LOCAL_RANK`` (for ``torch.distributed.launch``), merges ``--cfg-options``, fills
    ``default_scope='knet'``, the launcher, the work dir (``--work-dir`` > config >
    ``work_dirs/<config name>``) and switches distributed training to gloo without CUDA.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('default_scope') is None:
        cfg.default_scope = DEFAULT_SCOPE
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if not torch.cuda.is_available():
        env_cfg = cfg.setdefault('env_cfg', {})
        env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    return cfg


def prepare_cpu_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work without CUDA (gloo, CPU DDP).

    mmengine 0.10's ``init_dist('pytorch')`` always calls ``torch.cuda.set_device`` and its DDP
    wrapper passes ``device_ids=[LOCAL_RANK]``, both of which fail on CPU. Without CUDA the
    process group is therefore initialised here from torchrun's environment (the Runner then
    skips its own ``init_dist``) and DDP gets ``device_ids=None``.
    """
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False), device_ids=None)
    else:
        wrapper['device_ids'] = None


def apply_resume(cfg: Config, resume: Optional[str], load_from: Optional[str]) -> None:
    """Translate ``--resume [CKPT]`` / ``--load-from CKPT`` into ``cfg.resume`` / ``cfg.load_from``.

    Auto-resume (``resume='auto'``) picks the latest checkpoint of ``cfg.work_dir``; without one
    it falls back to plain weight loading from ``load_from`` (or the config's ``load_from``) so
    a pretrained ``load_from`` is never mistaken for a training state.
    """
    if load_from is not None:
        cfg.load_from = load_from
    if resume is None:
        cfg.resume = False
        return
    if resume != 'auto':
        if load_from is not None:
            raise ValueError('give either --resume CKPT or --load-from CKPT, not both')
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume: checkpoint {resume} does not exist')
        cfg.resume, cfg.load_from = True, resume
        return
    latest = find_latest_checkpoint(cfg.work_dir) if osp.isdir(cfg.work_dir) else None
    if latest is not None:
        cfg.resume, cfg.load_from = True, latest
    else:
        cfg.resume = False


def setup_config(args: argparse.Namespace) -> Config:
    """Build the final training config from the parsed command line."""
    cfg = load_config(args)
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


def build_runner(cfg: Config) -> Runner:
    """Build the Runner (or the config's ``runner_type``) from ``cfg``."""
    prepare_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def main(argv: Optional[Sequence[str]] = None) -> Runner:
    """Run training; returns the Runner after ``train()`` (used by the tests)."""
    args = parse_args(argv)
    runner = build_runner(setup_config(args))
    runner.train()
    return runner


if __name__ == '__main__':
    main()
