"""Runner-side utilities: checkpoint loading, hooks, profiling helpers.

Importing registers the hooks only; full checkpoint unpickling is switched on by an explicit
:func:`enable_full_checkpoint_loading` call of the entry points.
"""
from . import hooks  # noqa: F401  (CheckInvalidLossHook)
from .checkpoint import (
    enable_full_checkpoint_loading,
    full_checkpoint_loading_enabled,
    load_local_checkpoint,
)

__all__ = ['enable_full_checkpoint_loading', 'full_checkpoint_loading_enabled',
           'load_local_checkpoint']
