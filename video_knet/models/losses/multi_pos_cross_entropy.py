"""Multi-positive cross-entropy for quasi-dense tracking embeddings (docs/model.md).

Follows qdtrack's ``MultiPosCrossEntropyLoss`` as used by the original Video K-Net's
``loss_track``: for a row ``i`` of similarities ``s`` with positive columns ``P`` and
negative columns ``Q`` (targets 1 and 0),

    ``loss_i = log(1 + sum_{p in P} sum_{q in Q} exp(s_q - s_p))``,

computed stably as a ``logsumexp`` over every (negative - positive) pair plus a 0 term. A row
with no positive or no negative gives 0. The reference reduces with
``avg_factor = row_weights.sum()``; the denominator is clamped to >= 1.
"""
from typing import Optional, Union

import torch
from torch import Tensor, nn

from knet.models.losses.utils import check_reduction, row_weight, weight_reduce_loss
from knet.registry import MODELS


def multi_pos_cross_entropy(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                            reduction: str = 'mean',
                            avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Multi-positive cross-entropy (see module docstring).

    Args:
        pred: (n, m) similarities (e.g. key · ref embedding dot products).
        target: (n, m) float 0/1 targets.
        weight: None or (n,) row weights.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: denominator of the mean (clamped to >= 1).

    Returns:
        The reduced loss; (n,) per-row losses for ``'none'``.
    """
    if pred.dim() != 2 or pred.shape != target.shape:
        raise ValueError(f'multi_pos_cross_entropy expects pred and target (n, m) of the same '
                         f'shape, got {tuple(pred.shape)} and {tuple(target.shape)}')
    pos = target == 1
    neg = target == 0
    # pair[i, p, q] = s[i, q] - s[i, p], valid when p is positive and q negative.
    pair = pred.unsqueeze(1) - pred.unsqueeze(2)
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)
    pair = pair.masked_fill(~valid, float('-inf'))
    logits = torch.cat([pair.flatten(1), pred.new_zeros((pred.size(0), 1))], dim=1)
    loss = torch.logsumexp(logits, dim=1)
    weight = row_weight(weight, loss, 'multi_pos_cross_entropy')
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class MultiPosCrossEntropyLoss(nn.Module):
    """Multi-positive cross-entropy module (``loss_track``, weight 0.25 in the reference).

    Args:
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred: (n, m) similarities.
            target: (n, m) float 0/1 targets.
            weight: None or (n,) row weights (1 if the row has a positive).
            avg_factor: denominator of the mean; the reference passes ``weight.sum()``.
            reduction_override: overrides ``self.reduction``.

        Returns:
            The weighted loss (scalar unless the reduction is ``'none'``).
        """
        reduction = check_reduction(reduction_override or self.reduction)
        return self.loss_weight * multi_pos_cross_entropy(pred, target, weight, reduction,
                                                          avg_factor)
