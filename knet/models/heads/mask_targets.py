"""Ground-truth mask targets of K-Net at the assignment stride (docs/model.md).

Follows the target preparation of the original ``knet/det/knet.py`` (``KNet.forward_train``):

* thing masks (padded with 0 to the batch shape) are bilinearly resized to
  ``(pad_H // stride, pad_W // stride)``, so the targets are *soft*, never re-binarised;
* the semantic map gets 255 on the padded region beyond ``img_shape``; every stuff class present
  (model labels ``>= num_thing_classes``) becomes one mask, resized the same way.

The result is one :class:`MaskTargets` per image, consumed by the kernel head (RPN losses) and by
every update stage (Hungarian assignment and stage losses).
"""
from typing import List, NamedTuple, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from knet.structures import PanopticDataSample


class MaskTargets(NamedTuple):
    """Targets of one image at the assignment stride (h, w) = (pad_H / s, pad_W / s).

    Attributes:
        thing_masks: (G, h, w) float soft thing masks.
        thing_labels: (G,) int64 model labels in ``[0, num_thing_classes)``.
        stuff_masks: (S, h, w) float soft masks, one per stuff class present.
        stuff_labels: (S,) int64 model labels in ``[num_thing_classes, num_classes)``, ascending.
    """

    thing_masks: Tensor
    thing_labels: Tensor
    stuff_masks: Tensor
    stuff_labels: Tensor


def _resize_soft(masks: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bilinearly resize binary masks (M, H, W) to (M, h, w) float (align_corners=False)."""
    if masks.shape[0] == 0:
        return masks.new_zeros((0, ) + tuple(size), dtype=torch.float32)
    return F.interpolate(masks[None].float(), size=size, mode='bilinear',
                         align_corners=False)[0]


def _pad_to(tensor: Tensor, pad_hw: Tuple[int, int], value: float, name: str) -> Tensor:
    """Pad the last two axes of ``tensor`` at the bottom/right up to ``pad_hw``."""
    h, w = tensor.shape[-2:]
    if h > pad_hw[0] or w > pad_hw[1]:
        raise ValueError(f'{name} has spatial size {(h, w)}, larger than batch_input_shape '
                         f'{tuple(pad_hw)}; expected masks padded by the data preprocessor')
    if (h, w) == tuple(pad_hw):
        return tensor
    return F.pad(tensor, (0, pad_hw[1] - w, 0, pad_hw[0] - h), value=value)


def _thing_targets(sample: PanopticDataSample, pad_hw: Tuple[int, int],
                   num_thing_classes: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Padded binary thing masks (G, pad_H, pad_W) and their labels (G,)."""
    if not hasattr(sample, 'gt_instances'):
        raise KeyError('data_sample has no gt_instances; training needs gt_instances.masks '
                       '(N, H, W) uint8 and gt_instances.labels (N,) model labels')
    inst = sample.gt_instances
    labels = torch.as_tensor(inst.labels, device=device).long().reshape(-1)
    masks = torch.as_tensor(inst.masks, device=device)
    if masks.ndim != 3 or masks.shape[0] != labels.numel():
        raise ValueError(f'gt_instances.masks must be (N, H, W) with N = len(labels) = '
                         f'{labels.numel()}, got shape {tuple(masks.shape)}')
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_thing_classes):
        raise ValueError(f'gt_instances.labels must be thing model labels in '
                         f'[0, {num_thing_classes}), got {labels.tolist()}')
    return _pad_to(masks.float(), pad_hw, 0., 'gt_instances.masks'), labels


def _stuff_targets(sample: PanopticDataSample, pad_hw: Tuple[int, int], num_thing_classes: int,
                   num_classes: int, ignore_label: int,
                   device: torch.device) -> Tuple[Tensor, Tensor]:
    """Per-class binary stuff masks (S, pad_H, pad_W) and labels (S,) from ``gt_sem_seg``."""
    if not hasattr(sample, 'gt_sem_seg'):
        empty = torch.zeros((0, ) + tuple(pad_hw), device=device)
        return empty, torch.zeros(0, dtype=torch.long, device=device)
    sem = torch.as_tensor(sample.gt_sem_seg.sem_seg, device=device).long()
    if sem.ndim != 3 or sem.shape[0] != 1:
        raise ValueError(f'gt_sem_seg.sem_seg must be (1, H, W), got {tuple(sem.shape)}')
    sem = _pad_to(sem, pad_hw, ignore_label, 'gt_sem_seg.sem_seg')[0].clone()
    img_h, img_w = sample.metainfo.get('img_shape', pad_hw)[:2]
    sem[img_h:, :] = ignore_label
    sem[:, img_w:] = ignore_label
    present = torch.unique(sem)
    present = present[present != ignore_label]
    if present.numel() and (present.min() < 0 or present.max() >= num_classes):
        raise ValueError(f'gt_sem_seg.sem_seg holds labels {present.tolist()}; expected model '
                         f'labels in [0, {num_classes}) or {ignore_label}')
    stuff = present[present >= num_thing_classes]
    masks = (sem[None] == stuff[:, None, None]).float()
    return masks, stuff


def build_mask_targets(data_samples: Sequence[PanopticDataSample], num_thing_classes: int,
                       num_stuff_classes: int, mask_assign_stride: int,
                       ignore_label: int = 255,
                       device: torch.device = torch.device('cpu')) -> List[MaskTargets]:
    """Soft thing and stuff targets of a batch at stride ``mask_assign_stride``.

    Args:
        data_samples: B samples with ``gt_instances`` (masks (N, H, W) uint8, labels (N,) model
            labels) and optionally ``gt_sem_seg`` ((1, H, W) model labels, ``ignore_label`` =
            void); metainfo ``batch_input_shape`` (pad_H, pad_W) and ``img_shape``.
        num_thing_classes: number of thing classes (model labels ``0..num_thing_classes-1``).
        num_stuff_classes: number of stuff classes that follow the thing labels.
        mask_assign_stride: output stride s of the targets.
        ignore_label: void label of ``gt_sem_seg``.
        device: device of the returned tensors.

    Returns:
        B :class:`MaskTargets` with masks at (pad_H // s, pad_W // s).
    """
    targets = []
    for sample in data_samples:
        if 'batch_input_shape' not in sample.metainfo:
            raise KeyError('data_sample metainfo lacks batch_input_shape; it is set by '
                           'KNetDataPreprocessor')
        pad_h, pad_w = sample.metainfo['batch_input_shape'][:2]
        pad_hw = (int(pad_h), int(pad_w))
        size = (pad_hw[0] // mask_assign_stride, pad_hw[1] // mask_assign_stride)
        thing_masks, thing_labels = _thing_targets(sample, pad_hw, num_thing_classes, device)
        stuff_masks, stuff_labels = _stuff_targets(sample, pad_hw, num_thing_classes,
                                                   num_thing_classes + num_stuff_classes,
                                                   ignore_label, device)
        targets.append(MaskTargets(_resize_soft(thing_masks, size), thing_labels,
                                   _resize_soft(stuff_masks, size), stuff_labels))
    return targets
