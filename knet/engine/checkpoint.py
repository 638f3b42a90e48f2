"""Checkpoint loading: full unpickling on torch >= 2.6 (an explicit call) and key checking.

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

:func:`compare_state_dicts` lists the keys of a checkpoint that do not fit a model (missing,
unexpected, mis-shaped) as a :class:`KeyMismatch`, whose :meth:`~KeyMismatch.table` the tools
print before they refuse a checkpoint (:class:`CheckpointMismatchError`).
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from mmengine.runner.checkpoint import CheckpointLoader

#: The prefix of mmengine's scheme for local files (matches every path).
LOCAL_SCHEME = ''
#: Rows of :meth:`KeyMismatch.table` before ``... and N more``.
TABLE_ROWS = 20
#: Prefix of the keys of a checkpoint saved from a (Distributed)DataParallel wrapper.
WRAPPER_PREFIX = 'module.'
#: Model keys a checkpoint may lack: the batch counters of BN layers (unused at inference and
#: with a momentum; checkpoints of older torch versions lack them, torch and mmengine accept it).
OPTIONAL_KEY_SUFFIX = '.num_batches_tracked'

Shape = Tuple[int, ...]


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


def read_checkpoint(path: str) -> Tuple[Any, Dict[str, Any]]:
    """``(checkpoint, state_dict)`` of a checkpoint file, ``module.`` prefixes removed.

    Accepts the checkpoints of ``tools/train.py`` (``state_dict`` + ``meta``), those converted
    by ``tools/convert_checkpoint.py`` and a bare state dict. Switches on full unpickling
    (:func:`enable_full_checkpoint_loading`).

    Raises:
        FileNotFoundError: no such file.
        TypeError: the file holds no state dict (naming it).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path} does not exist')
    enable_full_checkpoint_loading()
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise TypeError(f'{path}: expected a checkpoint dict with a state_dict')
    state = {key[len(WRAPPER_PREFIX):] if key.startswith(WRAPPER_PREFIX) else key: value
             for key, value in state.items()}
    return checkpoint, state


def _shape(value: Any) -> Optional[Shape]:
    return tuple(value.shape) if hasattr(value, 'shape') else None


@dataclass
class KeyMismatch:
    """How a checkpoint's state dict differs from a model's, key by key (sorted).

    Attributes:
        missing: ``(key, model shape)`` of the model keys the checkpoint lacks.
        unexpected: ``(key, checkpoint shape)`` of the checkpoint keys the model lacks.
        mis_shaped: ``(key, checkpoint shape, model shape)`` of the keys whose shapes differ.
        matched: number of keys present in both with the same shape.
    """

    missing: List[Tuple[str, Optional[Shape]]] = field(default_factory=list)
    unexpected: List[Tuple[str, Optional[Shape]]] = field(default_factory=list)
    mis_shaped: List[Tuple[str, Optional[Shape], Optional[Shape]]] = field(default_factory=list)
    matched: int = 0

    def __bool__(self) -> bool:
        """True when any key differs."""
        return bool(self.missing or self.unexpected or self.mis_shaped)

    def counts(self) -> str:
        """E.g. ``2 mis-shaped, 23 missing, 0 unexpected keys (260 match)``."""
        return (f'{len(self.mis_shaped)} mis-shaped, {len(self.missing)} missing, '
                f'{len(self.unexpected)} unexpected keys ({self.matched} match)')

    def table(self, max_rows: int = TABLE_ROWS) -> str:
        """The differing keys as a table (mis-shaped first, then missing, then unexpected),
        at most ``max_rows`` rows, then ``... and N more``."""
        rows = ([('mis-shaped', key, ckpt, model) for key, ckpt, model in self.mis_shaped]
                + [('missing', key, None, model) for key, model in self.missing]
                + [('unexpected', key, ckpt, None) for key, ckpt in self.unexpected])
        cells = [(kind, key, '-' if ckpt is None else str(ckpt), '-' if model is None
                  else str(model)) for kind, key, ckpt, model in rows[:max_rows]]
        header = ('problem', 'key', 'checkpoint shape', 'model shape')
        widths = [max(len(row[i]) for row in [header] + cells) for i in range(3)]
        lines = ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)) + '  ' + row[3]
                 for row in [header] + cells]
        if len(rows) > max_rows:
            lines.append(f'... and {len(rows) - max_rows} more')
        return '\n'.join(lines)


def compare_state_dicts(checkpoint_state: Mapping[str, Any],
                        model_state: Mapping[str, Any]) -> KeyMismatch:
    """The keys of ``checkpoint_state`` that do not fit ``model_state`` (:class:`KeyMismatch`;
    a missing BN batch counter, :data:`OPTIONAL_KEY_SUFFIX`, is not reported)."""
    common = sorted(set(checkpoint_state) & set(model_state))
    mis_shaped = [(key, _shape(checkpoint_state[key]), _shape(model_state[key]))
                  for key in common if _shape(checkpoint_state[key]) != _shape(model_state[key])]
    return KeyMismatch(
        missing=[(key, _shape(model_state[key]))
                 for key in sorted(set(model_state) - set(checkpoint_state))
                 if not key.endswith(OPTIONAL_KEY_SUFFIX)],
        unexpected=[(key, _shape(checkpoint_state[key]))
                    for key in sorted(set(checkpoint_state) - set(model_state))],
        mis_shaped=mis_shaped, matched=len(common) - len(mis_shaped))


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model; the message holds the :meth:`KeyMismatch.table`."""

    def __init__(self, checkpoint: str, model_name: str, mismatch: KeyMismatch,
                 hint: str = '') -> None:
        self.mismatch = mismatch
        first = (f'{checkpoint}: no key matches the model of {model_name}'
                 if mismatch.matched == 0 and not mismatch.mis_shaped else
                 f'checkpoint {checkpoint} does not fit the model of {model_name}')
        super().__init__(f'{first}: {mismatch.counts()}\n{mismatch.table()}'
                         + (f'\n{hint}' if hint else ''))
