"""Element-wise weighting and reduction shared by every loss (docs/model.md, losses).

Follows the semantics of mmdet 2.18 ``mmdet/models/losses/utils.py`` (``reduce_loss`` and
``weight_reduce_loss``) with two documented guards:

* ``avg_factor`` is clamped to ``>= 1`` (docs/differences.md). Every ``avg_factor`` of the
  reference is a count (positives, kept elements, rows with a positive) that the callers already
  clamp to ``>= 1`` or that is ``>= 1`` whenever the loss is non-zero, so the clamp only turns the
  ``0 / 0`` case into ``0`` instead of NaN.
* ``'mean'`` over an empty loss tensor returns ``loss.sum()`` (a zero attached to the graph)
  instead of NaN, so heads with no positive sample still get finite losses.
"""
from typing import Optional, Union

import torch
from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')
#: Smallest denominator used when an ``avg_factor`` is given.
MIN_AVG_FACTOR = 1.0


def check_reduction(reduction: str) -> str:
    """Return ``reduction`` if it is one of ``'none'``, ``'mean'``, ``'sum'``; raise otherwise."""
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    return reduction


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Reduce an element-wise loss.

    Args:
        loss: element-wise loss of any shape.
        reduction: ``'none'`` (return as is), ``'mean'`` (mean over all elements; an empty
            tensor gives 0) or ``'sum'``.

    Returns:
        The reduced loss (a scalar unless ``reduction == 'none'``).
    """
    check_reduction(reduction)
    if reduction == 'none':
        return loss
    if reduction == 'sum' or loss.numel() == 0:
        return loss.sum()
    return loss.mean()


def row_weight(weight: Optional[Tensor], loss: Tensor, name: str) -> Optional[Tensor]:
    """Check that per-row ``weight`` has the shape of the per-row ``loss``; cast it to its dtype.

    Args:
        weight: None or the weights, expected of shape ``loss.shape``.
        loss: the per-row (N,) loss.
        name: the loss's name, for the error message.
    """
    if weight is None:
        return None
    if weight.shape != loss.shape:
        raise ValueError(f'{name}: weight must be (N,) = {tuple(loss.shape)}, got '
                         f'{tuple(weight.shape)}')
    return weight.to(loss.dtype)


def weight_reduce_loss(loss: Tensor, weight: Optional[Tensor] = None, reduction: str = 'mean',
                       avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Apply element-wise weights, then reduce (mmdet 2.18 semantics, see module docstring).

    Args:
        loss: element-wise loss, any shape.
        weight: weights broadcastable to ``loss`` (None = all ones).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: denominator of the mean. With ``'mean'`` the result is
            ``sum(weight * loss) / max(avg_factor, 1)``; without it, ``'mean'`` averages over *all*
            elements (weighted-out ones still count). ``'sum'`` with an ``avg_factor`` raises.

    Returns:
        The weighted, reduced loss.
    """
    check_reduction(reduction)
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    if reduction == 'none':
        return loss
    denominator = torch.as_tensor(avg_factor, dtype=loss.dtype, device=loss.device)
    return loss.sum() / denominator.clamp(min=MIN_AVG_FACTOR)
