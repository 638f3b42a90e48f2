"""Local checkpoint loading that works on torch >= 2.6, enabled by an explicit call.

torch 2.6 changed ``torch.load``'s default to ``weights_only=True``; mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` for local files, so loading its own checkpoints (which
hold message-hub state, numpy scalars and the config) fails, and with it ``--resume``.
:func:`enable_full_checkpoint_loading` re-registers mmengine's local-file scheme with
``weights_only=False``. Importing this module changes nothing: the entry points that load
checkpoints call it (``tools/train.py``, ``tools/test.py`` and the inference API
:func:`video_knet.apis.init_detector`, which ``tools/inference.py``, ``tools/video_demo.py`` and
``tools/analysis/benchmark.py`` use).

``force=True`` overrides a *checkpoint-loader scheme* inside mmengine's ``CheckpointLoader``
(the only way to replace the '' prefix); it is not a registry registration. Only load checkpoints
you trust: unpickling can run code.
"""
import os.path as osp
from typing import Any, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

#: The prefix of mmengine's scheme for local files (matches every path).
LOCAL_SCHEME = ''


def load_local_checkpoint(filename: str, map_location: Optional[Any] = None) -> Any:
    """Load a local checkpoint file with full unpickling (``weights_only=False``)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} does not exist')
    return torch.load(filename, map_location=map_location, weights_only=False)


def enable_full_checkpoint_loading() -> None:
    """Make mmengine load local checkpoints with :func:`load_local_checkpoint` (idempotent).

    Affects every later ``CheckpointLoader.load_checkpoint`` of the process: ``Runner`` resume
    and ``load_from``, ``mmengine.runner.load_checkpoint``.
    """
    CheckpointLoader.register_scheme(prefixes=LOCAL_SCHEME, loader=load_local_checkpoint,
                                     force=True)


def full_checkpoint_loading_enabled() -> bool:
    """True when mmengine's local-file scheme is :func:`load_local_checkpoint`."""
    return CheckpointLoader._schemes.get(LOCAL_SCHEME) is load_local_checkpoint
