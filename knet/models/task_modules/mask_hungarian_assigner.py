"""One-to-one Hungarian assignment of mask proposals to GT masks (docs/model.md).

Follows ``MaskHungarianAssigner`` of ``knet/det/mask_hungarian_assigner.py`` of the original
K-Net: the total cost is the sum of a focal class cost
(omitted when no class logits are given, i.e. for the RPN and stage 0), a mask cost and a dice
cost; ``scipy.optimize.linear_sum_assignment`` solves it on the CPU. Matched proposals are
positive; every other proposal is negative.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from knet.registry import TASK_UTILS

#: A cost given as a ``TASK_UTILS`` config dict or as a built callable ``(pred, gt) -> (P, G)``.
CostConfig = Union[dict, Callable[[Tensor, Tensor], Tensor]]


@dataclass
class AssignResult:
    """Result of an assignment of P proposals to G GT objects (mmdet ``AssignResult`` layout).

    Attributes:
        num_gts: G.
        gt_inds: (P,) long; 0 = negative, ``i + 1`` = matched to GT ``i``.
        labels: (P,) long; label of the matched GT, -1 for unmatched proposals.
        max_overlaps: unused by mask assigners (None), kept for the mmdet layout.
    """

    num_gts: int
    gt_inds: Tensor
    labels: Tensor
    max_overlaps: Optional[Tensor] = None

    @property
    def num_preds(self) -> int:
        """P, the number of proposals."""
        return int(self.gt_inds.numel())


def _build_cost(cfg: Optional[CostConfig]) -> Optional[Callable[[Tensor, Tensor], Tensor]]:
    """Build a cost from a config dict (``TASK_UTILS``); pass instances and None through."""
    if cfg is None or not isinstance(cfg, dict):
        return cfg
    return TASK_UTILS.build(cfg)


@TASK_UTILS.register_module()
class MaskHungarianAssigner:
    """Hungarian matcher of mask proposals to GT masks.

    Args:
        cls_cost: class cost config (or instance, or None to never use a class cost).
        mask_cost: mask cost config (or instance, or None).
        dice_cost: dice cost config (or instance, or None).
    """

    def __init__(self, cls_cost: Optional[CostConfig] = dict(type='FocalLossCost', weight=2.0),
                 mask_cost: Optional[CostConfig] = dict(type='MaskCost', weight=1.0,
                                                        pred_act=True),
                 dice_cost: Optional[CostConfig] = dict(type='DiceCost', weight=4.0,
                                                        pred_act=True)) -> None:
        self.cls_cost = _build_cost(cls_cost)
        self.mask_cost = _build_cost(mask_cost)
        self.dice_cost = _build_cost(dice_cost)

    @torch.no_grad()
    def compute_cost(self, mask_pred: Tensor, cls_pred: Optional[Tensor], gt_masks: Tensor,
                     gt_labels: Tensor) -> Tensor:
        """Total (P, G) matching cost (summed costs; the class cost only if ``cls_pred``)."""
        cost = mask_pred.new_zeros((mask_pred.size(0), gt_masks.size(0)), dtype=torch.float32)
        if cls_pred is not None and self.cls_cost is not None:
            cost = cost + self.cls_cost(cls_pred, gt_labels)
        if self.mask_cost is not None:
            cost = cost + self.mask_cost(mask_pred, gt_masks)
        if self.dice_cost is not None:
            cost = cost + self.dice_cost(mask_pred, gt_masks)
        return cost

    def assign(self, mask_pred: Tensor, cls_pred: Optional[Tensor], gt_masks: Tensor,
               gt_labels: Tensor) -> AssignResult:
        """Assign proposals to GT masks one to one.

        Args:
            mask_pred: (P, H, W) mask logits.
            cls_pred: (P, C_th) class logits, or None (no class cost).
            gt_masks: (G, H, W) soft GT masks at the size of ``mask_pred``.
            gt_labels: (G,) long GT labels.

        Returns:
            :class:`AssignResult`; with G = 0 every proposal is negative, with P < G only P GTs
            are matched.
        """
        num_preds, num_gts = mask_pred.size(0), gt_labels.size(0)
        if gt_masks.size(0) != num_gts:
            raise ValueError(f'MaskHungarianAssigner: {gt_masks.size(0)} GT masks but '
                             f'{num_gts} GT labels')
        if cls_pred is not None and cls_pred.size(0) != num_preds:
            raise ValueError(f'MaskHungarianAssigner: {cls_pred.size(0)} class rows for '
                             f'{num_preds} mask proposals')
        device = mask_pred.device
        gt_inds = torch.zeros(num_preds, dtype=torch.long, device=device)
        labels = torch.full((num_preds,), -1, dtype=torch.long, device=device)
        if num_gts == 0 or num_preds == 0:
            return AssignResult(num_gts, gt_inds, labels)
        cost = self.compute_cost(mask_pred, cls_pred, gt_masks, gt_labels)
        rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
        rows = torch.as_tensor(rows, dtype=torch.long, device=device)
        cols = torch.as_tensor(cols, dtype=torch.long, device=device)
        gt_inds[rows] = cols + 1
        labels[rows] = gt_labels.to(device).long()[cols]
        return AssignResult(num_gts, gt_inds, labels)
