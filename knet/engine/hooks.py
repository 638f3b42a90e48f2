"""Runner hooks of video-knet: a guard against non-finite losses.

:class:`CheckInvalidLossHook` stops training as soon as a loss term becomes NaN or infinite and
names the offending term(s) and the iteration, instead of silently training on garbage. It follows
the idea of mmdet's ``CheckInvalidLossHook`` (which only asserts on the summed loss) and extends
it to report every non-finite term. Enabled in ``configs/_base_/default_runtime.py``; disable with
``--cfg-options custom_hooks.0.enabled=False`` (or by removing it from ``custom_hooks``).
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from knet.registry import HOOKS

DATA_BATCH = Optional[Union[dict, tuple, list]]


class InvalidLossError(RuntimeError):
    """Raised by :class:`CheckInvalidLossHook` when a loss term is NaN or infinite."""


def _scalar(value: Union[torch.Tensor, float]) -> float:
    """A logged value as a Python float (mean of a tensor, without autograd)."""
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean())
    return float(value)


def find_invalid_terms(outputs: Dict[str, Union[torch.Tensor, float]],
                       keyword: str = 'loss') -> List[str]:
    """Names of the logged loss terms that are not finite.

    Args:
        outputs: the ``log_vars`` returned by ``model.train_step``: term name -> scalar tensor
            (or float). Only names containing ``keyword`` are checked (these are the terms that
            mmengine sums into the total ``'loss'``); other logged values such as accuracies may
            legitimately be NaN.
        keyword: substring selecting the checked names.

    Returns:
        The non-finite term names, in logging order. The total ``'loss'`` is listed only when no
        individual term explains it (e.g. an overflow of the sum).
    """
    bad = []
    for name, value in outputs.items():
        if keyword not in name:
            continue
        if isinstance(value, torch.Tensor):
            finite = bool(torch.isfinite(value.detach()).all())
        else:
            finite = math.isfinite(float(value))
        if not finite:
            bad.append(name)
    if len(bad) > 1 and 'loss' in bad:
        bad.remove('loss')
    return bad


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Stop training with a clear error when a loss term becomes NaN or infinite.

    The check runs after every ``interval``-th training iteration on the logged loss terms. In
    distributed training the verdict is all-reduced, so every rank stops together instead of the
    healthy ranks hanging in the next collective; the message names the terms seen on this rank.

    Args:
        interval: check every ``interval`` iterations (1 = every iteration; the check costs one
            scalar synchronisation, which the logger performs anyway).
        enabled: ``False`` turns the hook into a no-op (keeps configs overridable from the CLI).
        keyword: only logged names containing this substring are checked.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 1, enabled: bool = True, keyword: str = 'loss') -> None:
        if interval < 1:
            raise ValueError(f'CheckInvalidLossHook: interval must be >= 1, got {interval}')
        self.interval = interval
        self.enabled = enabled
        self.keyword = keyword

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Raise :class:`InvalidLossError` if a loss term of this iteration is not finite.

        Args:
            runner: the mmengine Runner (``runner.iter`` is still the 0-based index of the
                iteration that just ran).
            batch_idx: index of the batch within the epoch.
            data_batch: the batch (unused).
            outputs: ``log_vars`` of ``model.train_step``: name -> scalar tensor.
        """
        if not self.enabled or outputs is None:
            return
        if not self.every_n_train_iters(runner, self.interval):
            return
        bad = find_invalid_terms(outputs, self.keyword)
        flag = torch.tensor([float(len(bad) > 0)])
        if dist.is_distributed():
            dist.all_reduce(flag, op='sum')
        if flag.item() == 0:
            return
        raise InvalidLossError(self._message(runner, batch_idx, outputs, bad))

    @staticmethod
    def _message(runner, batch_idx: int, outputs: Dict[str, torch.Tensor],
                 bad: Sequence[str]) -> str:
        """Human-readable failure message naming the terms, the iteration and the epoch."""
        where = f'iteration {runner.iter + 1}'
        if isinstance(getattr(runner, 'train_loop', None), EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1})'
        if not bad:
            return (f'Non-finite loss on another rank at {where}; training stopped by '
                    'CheckInvalidLossHook.')
        values = ', '.join(f'{name}={_scalar(outputs[name]):.4g}' for name in bad)
        return (f'Non-finite loss at {where}: {values}. Training stopped by '
                'CheckInvalidLossHook; lower the learning rate, check the data of this '
                'iteration, or disable the check with '
                '--cfg-options custom_hooks.0.enabled=False.')
