"""Pseudo sampler for mask assignment: every proposal is used, no subsampling.

Follows ``knet/det/mask_pseudo_sampler.py`` of the original K-Net (``MaskPseudoSampler`` /
``MaskSamplingResult``).
"""
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor

from knet.registry import TASK_UTILS
from .mask_hungarian_assigner import AssignResult


@dataclass
class MaskSamplingResult:
    """Positive / negative proposals of one image and their targets.

    Attributes:
        pos_inds: (n_pos,) long, ascending proposal indices with a match.
        neg_inds: (n_neg,) long, ascending proposal indices without a match.
        pos_assigned_gt_inds: (n_pos,) long, 0-based GT index of every positive.
        pos_gt_labels: (n_pos,) long GT label of every positive (None if the assignment has no
            labels).
        pos_masks: (n_pos, H, W) predicted masks of the positives.
        neg_masks: (n_neg, H, W) predicted masks of the negatives.
        pos_gt_masks: (n_pos, H, W) GT masks of the positives.
        num_gts: G.
    """

    pos_inds: Tensor
    neg_inds: Tensor
    pos_assigned_gt_inds: Tensor
    pos_gt_labels: Optional[Tensor]
    pos_masks: Tensor
    neg_masks: Tensor
    pos_gt_masks: Tensor
    num_gts: int
    assign_result: Optional[AssignResult] = field(default=None, repr=False)

    @property
    def num_pos(self) -> int:
        """Number of positives."""
        return int(self.pos_inds.numel())

    @property
    def num_neg(self) -> int:
        """Number of negatives."""
        return int(self.neg_inds.numel())


@TASK_UTILS.register_module()
class MaskPseudoSampler:
    """Turn an :class:`AssignResult` into a :class:`MaskSamplingResult` (all proposals kept)."""

    def sample(self, assign_result: AssignResult, mask_pred: Tensor,
               gt_masks: Tensor) -> MaskSamplingResult:
        """Split proposals into positives and negatives.

        Args:
            assign_result: assignment of the P proposals.
            mask_pred: (P, H, W) predicted masks (logits or probabilities).
            gt_masks: (G, H, W) GT masks.

        Returns:
            The :class:`MaskSamplingResult`.
        """
        if mask_pred.size(0) != assign_result.num_preds:
            raise ValueError(f'MaskPseudoSampler: {mask_pred.size(0)} masks but the assignment '
                             f'covers {assign_result.num_preds} proposals')
        gt_inds = assign_result.gt_inds
        pos_inds = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(-1)
        neg_inds = torch.nonzero(gt_inds == 0, as_tuple=False).squeeze(-1)
        pos_assigned_gt_inds = gt_inds[pos_inds] - 1
        if gt_masks.numel() == 0:
            pos_gt_masks = gt_masks.new_zeros((0,) + tuple(gt_masks.shape[1:]))
        else:
            pos_gt_masks = gt_masks[pos_assigned_gt_inds.to(gt_masks.device)]
        pos_gt_labels = None
        if assign_result.labels is not None:
            pos_gt_labels = assign_result.labels[pos_inds]
        return MaskSamplingResult(
            pos_inds=pos_inds, neg_inds=neg_inds, pos_assigned_gt_inds=pos_assigned_gt_inds,
            pos_gt_labels=pos_gt_labels, pos_masks=mask_pred[pos_inds],
            neg_masks=mask_pred[neg_inds], pos_gt_masks=pos_gt_masks,
            num_gts=assign_result.num_gts, assign_result=assign_result)
