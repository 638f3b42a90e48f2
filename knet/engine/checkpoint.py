"""Local checkpoint loading that works on torch >= 2.6.

torch 2.6 changed ``torch.load``'s default to ``weights_only=True``; mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` for local files, so loading its own checkpoints (which
hold message-hub state, numpy scalars and the config) fails. Importing this module (done by
``import knet``) re-registers mmengine's local-file scheme with ``weights_only=False``.

``force=True`` here overrides a *checkpoint-loader scheme* inside mmengine's ``CheckpointLoader``
(the only way to replace the '' prefix); it is not a registry registration. Only load checkpoints
you trust: unpickling can run code.
"""
import os.path as osp
from typing import Any, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def load_local_checkpoint(filename: str, map_location: Optional[Any] = None) -> Any:
    """Load a local checkpoint file with full unpickling (``weights_only=False``)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} does not exist')
    return torch.load(filename, map_location=map_location, weights_only=False)


CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
