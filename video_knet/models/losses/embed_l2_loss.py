"""L2 loss on embedding cosine similarities with hard negative mining (docs/model.md).

Follows qdtrack's ``L2Loss`` as used by the original Video K-Net's ``loss_track_aux`` (weight 1.0,
``neg_pos_ub=3``, ``pos_margin=0``, ``neg_margin=0.1``, ``hard_mining=True``):

1. elements with a weight <= 0 take no part (neither positive nor negative);
2. predictions of positives (target 1) are shifted by ``-pos_margin``, of negatives (target 0) by
   ``-neg_margin``; then clamped to [0, 1];
3. if ``#neg / (#pos + 1) > neg_pos_ub`` only the ``neg_pos_ub * #pos`` negatives with the largest
   squared error are kept (random ones if ``hard_mining=False``); the others get weight 0;
4. loss = sum of the weighted squared errors / the number of elements with weight > 0 (unless
   an ``avg_factor`` is given), the denominator clamped to >= 1.

The denominator ``#pos + 1`` of step 3 is the reference's. Unlike the reference, the inputs are
never modified in place.
"""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn

from knet.models.losses.utils import check_reduction, weight_reduce_loss
from knet.registry import MODELS


@MODELS.register_module()
class L2Loss(nn.Module):
    """Margin L2 loss with negative subsampling (see module docstring).

    Args:
        neg_pos_ub: upper bound of the kept negatives per positive (<= 0: keep all).
        pos_margin: shift subtracted from the positive predictions.
        neg_margin: shift subtracted from the negative predictions.
        hard_mining: keep the hardest negatives (else a random subset).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, neg_pos_ub: int = 3, pos_margin: float = 0., neg_margin: float = 0.1,
                 hard_mining: bool = True, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.neg_pos_ub = neg_pos_ub
        self.pos_margin = pos_margin
        self.neg_margin = neg_margin
        self.hard_mining = hard_mining
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def _select(self, error: Tensor, neg: Tensor, num_keep: int) -> Tensor:
        """(n, m) bool mask of the ``num_keep`` negatives to keep among ``neg``."""
        neg_flat = torch.nonzero(neg.flatten()).flatten()
        if self.hard_mining:
            chosen = error.detach().flatten()[neg_flat].topk(num_keep).indices
        else:
            chosen = torch.randperm(neg_flat.numel(), device=neg.device)[:num_keep]
        kept = torch.zeros(neg.numel(), dtype=torch.bool, device=neg.device)
        kept[neg_flat[chosen]] = True
        return kept.view_as(neg)

    def update_weight(self, pred: Tensor, target: Tensor, weight: Optional[Tensor]
                      ) -> Tuple[Tensor, Tensor]:
        """Apply the margins and clamp, then mine negatives.

        Args:
            pred: (n, m) similarities.
            target: (n, m) float 0/1 targets.
            weight: None, (n,) row weights or (n, m) element weights.

        Returns:
            ``(pred, weight)``: the shifted, clamped (n, m) predictions (a new tensor) and the
            (n, m) weights with the dropped negatives set to 0.
        """
        if weight is None:
            weight = torch.ones_like(target, dtype=pred.dtype)
        elif weight.dim() == 1:
            weight = weight.to(pred.dtype)[:, None].expand_as(target)
        weight = weight.to(pred.dtype)
        valid = weight > 0
        pos = valid & (target == 1)
        neg = valid & (target == 0)
        pred = pred - self.pos_margin * pos.to(pred.dtype) - self.neg_margin * neg.to(pred.dtype)
        pred = pred.clamp(min=0, max=1)
        num_pos, num_neg = int(pos.sum()), int(neg.sum())
        if self.neg_pos_ub > 0 and num_neg / (num_pos + 1) > self.neg_pos_ub:
            error = (pred - target.to(pred.dtype)) ** 2
            kept = self._select(error, neg, int(num_pos * self.neg_pos_ub))
            weight = weight * (~(neg & ~kept)).to(pred.dtype)
        return pred, weight

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred: (n, m) cosine similarities (not modified).
            target: (n, m) float 0/1 targets (not modified).
            weight: None, (n,) row weights or (n, m) element weights.
            avg_factor: denominator of the mean; default: the number of kept elements.
            reduction_override: overrides ``self.reduction``.

        Returns:
            The weighted loss (scalar unless the reduction is ``'none'``).
        """
        reduction = check_reduction(reduction_override or self.reduction)
        if pred.dim() != 2 or pred.shape != target.shape:
            raise ValueError(f'L2Loss expects pred and target (n, m) of the same shape, got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        pred, weight = self.update_weight(pred, target, weight)
        if avg_factor is None:
            avg_factor = (weight > 0).sum()
        loss = (pred - target.to(pred.dtype)) ** 2
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
