"""Building the mmengine Runner of ``tools/train.py`` and ``tools/test.py``.

:func:`add_common_args` adds the options both tools share, :func:`load_runner_config` turns them
into a config, :func:`apply_resume` translates ``--resume`` / ``--load-from`` and
:func:`build_runner` builds the Runner (CPU-only ``--launcher pytorch`` included) and
:func:`check_runner_checkpoint` compares the checkpoint the Runner will load with its model before
anything runs (mmengine itself only logs warnings and loads what fits). Loading our own
checkpoints on torch >= 2.6 needs :func:`knet.engine.enable_full_checkpoint_loading`, which the
tools call first.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import get_rank
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

import video_knet  # noqa: F401  (registers the image and video modules)
from knet.engine.checkpoint import (
    CheckpointMismatchError,
    KeyMismatch,
    compare_state_dicts,
    read_checkpoint,
)

#: Registry scope of the configs.
DEFAULT_SCOPE = 'knet'


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by ``train.py`` and ``test.py`` to ``parser``."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.batch_size=2 '
                        'custom_hooks.0.enabled=False')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank / --local_rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)


def load_runner_config(args: argparse.Namespace) -> Config:
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


def build_runner(cfg: Config) -> Runner:
    """Build the Runner (or the config's ``runner_type``) from ``cfg``."""
    prepare_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def check_runner_checkpoint(runner: Runner, checkpoint: str, keys_may_differ: bool = False,
                            shapes_may_differ: bool = False, hint: str = '') -> KeyMismatch:
    """Compare ``checkpoint`` with the Runner's model before the Runner loads it.

    Prints the table of the differing keys (:meth:`KeyMismatch.table`, on rank 0) when some
    differ but are allowed, e.g. a K-Net image checkpoint into Video K-Net, which lacks the video
    modules (``keys_may_differ``).

    Args:
        runner: the Runner (its model, unwrapped from DDP).
        checkpoint: the file the Runner will load (``load_from`` or the resumed one).
        keys_may_differ: missing and unexpected keys are allowed.
        shapes_may_differ: mis-shaped keys are allowed (mmengine then skips them).
        hint: added to the error, e.g. which option allows the mismatch.

    Raises:
        CheckpointMismatchError: a difference that is not allowed (the table in its message).
    """
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    mismatch = compare_state_dicts(read_checkpoint(checkpoint)[1], model.state_dict())
    name = runner.cfg.filename or 'the config'
    if (mismatch.mis_shaped and not shapes_may_differ) or (
            (mismatch.missing or mismatch.unexpected) and not keys_may_differ):
        raise CheckpointMismatchError(checkpoint, name, mismatch, hint)
    if mismatch and get_rank() == 0:
        print(f'checkpoint {checkpoint} loads partially into the model of {name}: '
              f'{mismatch.counts()}\n{mismatch.table()}', file=sys.stderr, flush=True)
    return mismatch
