"""Box helpers of the quasi-dense tracker (docs/model.md, tracker).

``bbox_overlaps`` is the pure-PyTorch IoU of mmdet's ``bbox_overlaps`` (mode ``'iou'``, no +1
on widths, union clamped by ``eps``). ``masks_to_boxes`` gives the tight box of each mask, as
Video K-Net's ``tensor_mask2box`` does before tracking.
"""
from typing import Sequence

import torch
from torch import Tensor

#: Box given to an empty mask by the reference; see :func:`masks_to_boxes`.
EMPTY_MASK_BOX = (-1., -1., 10., 10.)


def bbox_overlaps(bboxes1: Tensor, bboxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """Pairwise IoU of xyxy boxes (no +1 in the widths).

    Args:
        bboxes1: (n, 4) boxes (x1, y1, x2, y2).
        bboxes2: (m, 4) boxes.
        eps: lower clamp of the union.

    Returns:
        (n, m) IoU.
    """
    if bboxes1.dim() != 2 or bboxes1.size(-1) != 4 or bboxes2.dim() != 2 or \
            bboxes2.size(-1) != 4:
        raise ValueError(f'bbox_overlaps expects (n, 4) and (m, 4) boxes, got '
                         f'{tuple(bboxes1.shape)} and {tuple(bboxes2.shape)}')
    area1 = (bboxes1[:, 2] - bboxes1[:, 0]) * (bboxes1[:, 3] - bboxes1[:, 1])
    area2 = (bboxes2[:, 2] - bboxes2[:, 0]) * (bboxes2[:, 3] - bboxes2[:, 1])
    top_left = torch.max(bboxes1[:, None, :2], bboxes2[None, :, :2])
    bottom_right = torch.min(bboxes1[:, None, 2:], bboxes2[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = (area1[:, None] + area2[None, :] - inter).clamp(min=eps)
    return inter / union


def masks_to_boxes(masks: Tensor, empty_box: Sequence[float] = EMPTY_MASK_BOX) -> Tensor:
    """Tight xyxy box of every mask: (min x, min y, max x, max y) of its pixels (no +1).

    An empty mask gets ``empty_box`` (the reference's dummy (-1, -1, 10, 10)). All empty masks
    then overlap each other with IoU 1, so the tracker suppresses all but one of them: callers
    should rather leave empty masks out of tracking (``masks.flatten(1).any(1)``).

    Args:
        masks: (n, H, W) binary masks (bool or 0/1).
        empty_box: box of the empty masks.

    Returns:
        (n, 4) float boxes.
    """
    if masks.dim() != 3:
        raise ValueError(f'masks_to_boxes expects (n, H, W) masks, got {tuple(masks.shape)}')
    masks = masks.bool()
    num, height, width = masks.shape
    cols = masks.any(dim=1)
    rows = masks.any(dim=2)
    xs = torch.arange(width, device=masks.device)
    ys = torch.arange(height, device=masks.device)
    x1 = torch.where(cols, xs, width).min(dim=1).values
    x2 = torch.where(cols, xs, -1).max(dim=1).values
    y1 = torch.where(rows, ys, height).min(dim=1).values
    y2 = torch.where(rows, ys, -1).max(dim=1).values
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    empty = ~cols.any(dim=1)
    boxes[empty] = torch.tensor(list(empty_box), dtype=boxes.dtype, device=boxes.device)
    return boxes.view(num, 4)
