"""Small helpers shared by the K-Net heads' losses.

The rank-target rule follows ``ConvKernelHead.loss`` / ``KernelUpdateHead.loss`` of the original
``knet/det/kernel_head.py`` and ``knet/det/kernel_update_head.py``.
"""
from typing import Optional, Union

import torch
from mmengine import dist
from mmengine.config import ConfigDict
from torch import Tensor

#: A module config (plain dict or mmengine ``ConfigDict``), as in mmdet's typing aliases.
ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]


def reduce_mean(value: Tensor) -> Tensor:
    """Average a tensor over all distributed ranks (identity when not distributed)."""
    value = value.clone()
    if dist.get_world_size() > 1:
        dist.all_reduce(value, op='mean')
    return value


def rank_targets(pos_mask: Tensor, mask_targets: Tensor, ignore_label: int) -> Tensor:
    """Per-pixel index of the positive kernel that owns the pixel, for the rank loss.

    Every pixel starts as ``ignore_label``; for each positive kernel j in ascending order the
    pixels where its (soft) target is non-zero get value j, so later positives overwrite
    earlier ones, i.e. the largest covering positive index wins.

    Args:
        pos_mask: (B, N) bool, which kernels are positives.
        mask_targets: (B, N, H, W) float mask targets of the kernels.
        ignore_label: value of pixels covered by no positive.

    Returns:
        (B, H, W) int64 targets in ``[0, N)`` or ``ignore_label``.
    """
    num_kernels = mask_targets.shape[1]
    index = torch.arange(num_kernels, device=mask_targets.device).view(1, -1, 1, 1)
    covered = pos_mask[:, :, None, None] & (mask_targets != 0)
    best = torch.where(covered, index, torch.full_like(index, -1)).amax(dim=1)
    return torch.where(best >= 0, best, torch.full_like(best, ignore_label))


def accuracy(cls_score: Tensor, labels: Tensor) -> Tensor:
    """Top-1 accuracy in percent of (M, C) scores against (M,) labels (0 when M = 0)."""
    if labels.numel() == 0:
        return cls_score.new_tensor(0.)
    correct = (cls_score.argmax(dim=1) == labels).float().sum()
    return correct * (100.0 / labels.numel())
