"""Dice loss on mask logits: ``loss_dice`` of the stages and ``loss_rpn_dice`` (docs/model.md).

The mmdet 2.18 ``mmdet/models/losses/dice_loss.py`` V-Net form, per sample ``i``:

    ``loss_i = 1 - 2 * sum(p * t) / ((sum(p ** 2) + eps) + (sum(t ** 2) + eps))``

with ``p = sigmoid(pred)`` when ``activate``. ``naive_dice=True`` gives the plain form
``1 - (2 * sum(p * t) + eps) / (sum(p) + sum(t) + eps)``.
"""
from typing import Optional, Union

from torch import Tensor, nn

from knet.registry import MODELS
from .utils import check_reduction, row_weight, weight_reduce_loss


def dice_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None, eps: float = 1e-3,
              reduction: str = 'mean', naive_dice: bool = False,
              avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Dice loss of probabilities (see module docstring).

    Args:
        pred: (N, ...) probabilities.
        target: (N, ...) float targets in [0, 1] (soft masks allowed).
        weight: None or (N,) per-sample weights.
        eps: smoothing term.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        naive_dice: use the plain dice form instead of the V-Net one.
        avg_factor: denominator of the mean.

    Returns:
        The reduced loss; (N,) per-sample losses for ``'none'``. N = 0 gives 0 for ``'mean'``.
    """
    if pred.shape != target.shape:
        raise ValueError(f'dice_loss: pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)} must have the same shape')
    pred = pred.flatten(1)
    target = target.flatten(1).to(pred.dtype)
    inter = (pred * target).sum(1)
    if naive_dice:
        dice = (2 * inter + eps) / (pred.sum(1) + target.sum(1) + eps)
    else:
        dice = 2 * inter / ((pred * pred).sum(1) + eps + (target * target).sum(1) + eps)
    loss = 1 - dice
    return weight_reduce_loss(loss, row_weight(weight, loss, 'dice_loss'), reduction, avg_factor)


@MODELS.register_module()
class DiceLoss(nn.Module):
    """Dice loss module (mmdet 2.18 ``DiceLoss``).

    Args:
        use_sigmoid: activation applied when ``activate`` (only sigmoid is supported).
        activate: apply the sigmoid to ``pred`` (False: ``pred`` already holds probabilities).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        naive_dice: plain dice instead of the V-Net form.
        loss_weight: multiplier of the loss.
        eps: smoothing term.
    """

    def __init__(self, use_sigmoid: bool = True, activate: bool = True, reduction: str = 'mean',
                 naive_dice: bool = False, loss_weight: float = 1.0, eps: float = 1e-3) -> None:
        super().__init__()
        if activate and not use_sigmoid:
            raise NotImplementedError('DiceLoss: only the sigmoid activation is implemented')
        self.use_sigmoid = use_sigmoid
        self.activate = activate
        self.reduction = check_reduction(reduction)
        self.naive_dice = naive_dice
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred: (N, ...) mask logits (probabilities when ``activate=False``).
            target: (N, ...) float targets.
            weight: None or (N,) per-sample weights.
            avg_factor: denominator of the mean.
            reduction_override: overrides ``self.reduction``.

        Returns:
            The weighted loss (scalar unless the reduction is ``'none'``).
        """
        reduction = check_reduction(reduction_override or self.reduction)
        if self.activate:
            pred = pred.sigmoid()
        return self.loss_weight * dice_loss(pred, target, weight, eps=self.eps,
                                            reduction=reduction, naive_dice=self.naive_dice,
                                            avg_factor=avg_factor)
