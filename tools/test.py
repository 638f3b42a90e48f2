"""Evaluate a checkpoint with the config's test loop and test evaluator.

Usage::

    python tools/test.py CONFIG CKPT [--work-dir DIR] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm]

Multi-GPU: ``bash tools/dist_test.sh CONFIG CKPT GPUS [args]`` or
``bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CKPT [args]``. The metrics are logged and
written to ``WORK_DIR/<timestamp>/<timestamp>.json`` by mmengine. The checkpoint must fit the
config's model exactly: a missing, unexpected or mis-shaped key is an error that lists them
(a table: key, checkpoint shape, model shape), before anything is evaluated. A command line over
:mod:`video_knet.apis.runner`; full checkpoint unpickling is switched on
(:func:`knet.engine.enable_full_checkpoint_loading`) to load our checkpoints on torch >= 2.6.
"""
import argparse
import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.config import Config

from knet.engine import enable_full_checkpoint_loading
from video_knet.apis import (
    add_common_args,
    build_runner,
    check_runner_checkpoint,
    load_runner_config,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments of the test tool (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Evaluate a video-knet checkpoint')
    parser.add_argument('config', help='config file (its test_dataloader / test_evaluator)')
    parser.add_argument('checkpoint', help='checkpoint file to evaluate')
    parser.add_argument('--work-dir', help='where logs and metrics go '
                        '(default: work_dirs/<config name>)')
    add_common_args(parser)
    return parser.parse_args(argv)


def setup_config(args: argparse.Namespace) -> Config:
    """Build the evaluation config: checkpoint as ``load_from``, no resume, test parts present."""
    cfg = load_runner_config(args)
    missing = [key for key in ('test_dataloader', 'test_evaluator', 'test_cfg')
               if cfg.get(key) is None]
    if missing:
        raise KeyError(f'{args.config}: tools/test.py needs {", ".join(missing)} in the config')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file {args.checkpoint} does not exist')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    return cfg


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Evaluate and return the metrics dict of ``runner.test()``."""
    args = parse_args(argv)
    enable_full_checkpoint_loading()
    runner = build_runner(setup_config(args))
    check_runner_checkpoint(runner, args.checkpoint,
                            hint='tools/test.py evaluates checkpoints of this config\'s model only')
    return runner.test()


if __name__ == '__main__':
    main()
