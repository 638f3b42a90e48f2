"""Sigmoid focal loss: ``loss_cls`` of the stages, Cityscapes ``loss_rpn_seg`` (docs/model.md).

Pure-PyTorch replacement of mmcv's CUDA ``sigmoid_focal_loss`` used by mmdet 2.18
``mmdet/models/losses/focal_loss.py``: per element

    ``BCEWithLogits(x, t) * (alpha t + (1 - alpha)(1 - t)) * ((1 - p) t + p (1 - t)) ** gamma``

with ``p = sigmoid(x)``. Integer labels ``0..C`` are one-hot encoded over the ``C`` classes, the
label ``C`` (background) giving an all-zero row.
"""
from typing import Optional, Union

import torch.nn.functional as F
from torch import Tensor, nn

from knet.registry import MODELS
from .utils import check_reduction, weight_reduce_loss


def _one_hot_targets(pred: Tensor, target: Tensor) -> Tensor:
    """(N,) long labels in [0, C] (C = background) or (N, C) targets -> (N, C) float targets."""
    num_classes = pred.size(1)
    if target.shape == pred.shape:
        return target.to(pred.dtype)
    if target.dim() != 1 or target.size(0) != pred.size(0):
        raise ValueError(f'sigmoid_focal_loss: target must be (N,) labels or (N, C) like pred '
                         f'{tuple(pred.shape)}, got {tuple(target.shape)}')
    if target.numel() and (int(target.min()) < 0 or int(target.max()) > num_classes):
        raise ValueError(f'sigmoid_focal_loss: labels must lie in [0, {num_classes}] '
                         f'({num_classes} = background)')
    return F.one_hot(target.long(), num_classes + 1)[:, :num_classes].to(pred.dtype)


def sigmoid_focal_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                       gamma: float = 2.0, alpha: float = 0.25, reduction: str = 'mean',
                       avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Sigmoid focal loss on (N, C) logits (formula in the module docstring).

    Args:
        pred: (N, C) logits.
        target: (N,) long labels in [0, C] (C = background, all-zero row) or (N, C) float
            targets in [0, 1].
        weight: None, (N,) per-sample or (N, C) per-element weights.
        gamma: focusing parameter.
        alpha: weight of the positive targets (``1 - alpha`` for the negatives).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: denominator of the mean (clamped to >= 1, see :func:`weight_reduce_loss`).

    Returns:
        The reduced loss; (N, C) element-wise losses for ``'none'``.
    """
    if pred.dim() != 2:
        raise ValueError(f'sigmoid_focal_loss expects (N, C) logits, got {tuple(pred.shape)}')
    target = _one_hot_targets(pred, target)
    prob = pred.sigmoid()
    pt = (1 - prob) * target + prob * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction='none') * focal_weight
    if weight is not None:
        weight = weight.to(loss.dtype)
        if weight.shape != loss.shape:
            if weight.dim() != 1 or weight.size(0) != loss.size(0):
                raise ValueError(f'sigmoid_focal_loss: weight must be (N,) or (N, C) for pred '
                                 f'{tuple(pred.shape)}, got {tuple(weight.shape)}')
            weight = weight.view(-1, 1)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss module (mmdet 2.18 ``FocalLoss`` with ``use_sigmoid=True``).

    Args:
        use_sigmoid: must be True (the softmax focal loss is not part of the reference).
        gamma: focusing parameter.
        alpha: weight of the positive targets.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0, alpha: float = 0.25,
                 reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        if not use_sigmoid:
            raise NotImplementedError('FocalLoss: only the sigmoid focal loss is implemented')
        self.use_sigmoid = use_sigmoid
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred: (N, C) logits.
            target: (N,) long labels in [0, C] (C = background) or (N, C) float targets.
            weight: None, (N,) or (N, C) weights.
            avg_factor: denominator of the mean.
            reduction_override: overrides ``self.reduction``.

        Returns:
            The weighted loss (scalar unless the reduction is ``'none'``).
        """
        reduction = check_reduction(reduction_override or self.reduction)
        return self.loss_weight * sigmoid_focal_loss(
            pred, target, weight, gamma=self.gamma, alpha=self.alpha, reduction=reduction,
            avg_factor=avg_factor)
