"""Panoptic merge of K-Net's thing and stuff kernels: the definition, and the default backend.

Follows ``get_panoptic`` / ``rescale_masks`` of ``KernelIterHead`` (``knet/det/kernel_iter_head.py``
of the original K-Net) and ``merge_stuff_thing_stuff_joint`` of the original Video K-Net
(``knet/video/knet_quansi_dense_embed_fc.py``). Pure functions, no ``nn.Module``; the settings
are :class:`MergeSettings`. ``merge_order='joint'`` (the reference):

1. full-size masks (:func:`rescale_masks`): sigmoid, bilinear resize to the padded
   ``batch_input_shape``, crop to ``img_shape``, bilinear resize to ``ori_shape``;
2. thing candidates: the top ``max_per_img`` of the ``num_thing_kernels x num_thing_classes``
   thing scores (one proposal may appear with several labels); stuff candidates: stuff kernel
   ``j`` with the diagonal score ``cls_scores[num_thing_kernels + j, num_thing_classes + j]`` and
   label ``num_thing_classes + j``; all sorted by descending score (ties: things first);
3. every pixel goes to the candidate with the largest ``score * prob`` (the first one on ties);
4. a candidate is kept iff it is not a thing scoring below ``instance_score_thr``, it won
   ``area > 0`` pixels, ``orig_area = #(prob >= mask_thr) > 0`` and
   ``area / orig_area >= overlap_thr``. Pixels won by a rejected candidate stay unassigned.

The reference visits the candidates in descending score order, but every pixel has exactly one
winner, so the keep decisions are independent of each other; the order only numbers the
segments (descending score), which we keep.

Unassigned pixels get the label ``C`` (the number of classes, one past the last model label) in
the *model-label* semantic map, so no class count is excluded; with
``unassigned_fill='argmax'`` (a setting of :class:`MergeSettings`) they get instead the label
of their winner of step 3, the candidate with the largest ``score * prob`` at the pixel, which
was rejected in step 4 (they stay out of every segment: instance 0, in no mask). The caller maps
model labels to dataset ids and ``C`` to dataset class 0 (``'legacy'``, the default: the
original, "road" on KITTI-STEP) or to its ignore label (``'void'``); docs/compatibility.md has
the measured figures of each fill.

``merge_order='things_first'`` and ``'stuff_first'`` are simple paste-style alternatives (not
used by the reference configs): candidates are visited group by group (things, then stuff, or
the reverse), each by descending score; a candidate claims the still-free pixels where
``prob >= mask_thr`` and is kept by the same visibility rule and thing score filter; the
``'argmax'`` fill of their free pixels is the joint winner of step 3 all the same.

The same merge computed by cache-sized row blocks, without the full-size masks, is the
``'blocked'`` backend (:mod:`.blocked_merge`).
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .settings import MergeSettings


@dataclass
class PanopticFusionResult:
    """Panoptic segmentation of one image (model label space).

    Attributes:
        semantic: (H, W) int64 model labels, ``C`` (the number of classes) = unassigned
            (with ``unassigned_fill='argmax'`` only when there is no candidate at all).
        instance: (H, W) int64 thing segment index 1..n in descending score order, 0 = none.
        thing_masks: (n, H, W) bool masks of the thing segments (same order).
        thing_labels: (n,) int64 thing model labels.
        thing_scores: (n,) float scores.
        thing_kernel_inds: (n,) int64 proposal index (0..num_thing_kernels-1) of each segment.
        stuff_labels: (s,) int64 model labels of the stuff segments, descending score order.
        stuff_masks: (s, H, W) bool masks of the stuff segments.
        stuff_scores: (s,) float diagonal scores of the stuff segments.
    """

    semantic: Tensor
    instance: Tensor
    thing_masks: Tensor
    thing_labels: Tensor
    thing_scores: Tensor
    thing_kernel_inds: Tensor
    stuff_labels: Tensor
    stuff_masks: Tensor
    stuff_scores: Tensor


@dataclass
class Candidates:
    """K candidates sorted by descending score.

    Attributes:
        scores: (K,) float class probabilities.
        labels: (K,) int64 model labels.
        kernel_inds: (K,) int64 kernel (mask) of each candidate.
        is_thing: (K,) bool.
    """

    scores: Tensor
    labels: Tensor
    kernel_inds: Tensor
    is_thing: Tensor


def rescale_masks(mask_logits: Tensor, img_meta: Dict[str, Any]) -> Tensor:
    """(N, h, w) mask logits of the padded input -> (N, H_ori, W_ori) probabilities.

    sigmoid -> bilinear resize (``align_corners=False``) to ``batch_input_shape`` -> crop to
    ``img_shape`` -> bilinear resize to ``ori_shape``, skipped when the crop already has that
    size (a same-size bilinear resize is the identity). The probabilities are made contiguous
    first: PyTorch's bilinear kernel for masks-innermost (channels-last) tensors rounds the last
    bit differently, and the definition must not depend on the memory layout.
    """
    for key in ('batch_input_shape', 'img_shape', 'ori_shape'):
        if key not in img_meta:
            raise KeyError(f'data_sample metainfo lacks {key!r}, needed to rescale masks')
    if mask_logits.dim() != 3:
        raise ValueError(f'rescale_masks expects (N, h, w) mask logits, got '
                         f'{tuple(mask_logits.shape)}')
    pad_hw, img_hw, ori_hw = (tuple(img_meta[key][:2]) for key in
                              ('batch_input_shape', 'img_shape', 'ori_shape'))
    probs = mask_logits.sigmoid().contiguous()[None]
    probs = F.interpolate(probs, size=pad_hw, mode='bilinear', align_corners=False)
    probs = probs[..., :img_hw[0], :img_hw[1]]
    if img_hw != ori_hw:
        probs = F.interpolate(probs, size=ori_hw, mode='bilinear', align_corners=False)
    return probs[0]


def select_candidates(cls_scores: Tensor, num_thing_kernels: int, num_thing_classes: int,
                      max_per_img: int) -> Candidates:
    """Thing top-k and stuff diagonal candidates of (N, C) scores, sorted by descending score."""
    num_kernels, num_classes = cls_scores.shape
    num_stuff = num_kernels - num_thing_kernels
    if num_stuff < 0 or num_thing_classes + num_stuff > num_classes:
        raise ValueError(f'merge_things_stuff: cls_scores {tuple(cls_scores.shape)} cannot hold '
                         f'{num_thing_kernels} thing kernels x {num_thing_classes} thing classes '
                         f'plus one stuff class per remaining kernel')
    thing_scores = cls_scores[:num_thing_kernels, :num_thing_classes].flatten()
    k = min(max_per_img, thing_scores.numel())
    thing_scores, flat_inds = thing_scores.topk(k, sorted=True)
    stuff_j = torch.arange(num_stuff, device=cls_scores.device)
    scores = torch.cat([thing_scores, cls_scores[num_thing_kernels + stuff_j,
                                                 num_thing_classes + stuff_j]])
    labels = torch.cat([flat_inds % max(num_thing_classes, 1), num_thing_classes + stuff_j])
    kernel_inds = torch.cat([flat_inds // max(num_thing_classes, 1),
                             num_thing_kernels + stuff_j])
    is_thing = torch.arange(scores.numel(), device=scores.device) < k
    order = scores.argsort(descending=True, stable=True)
    return Candidates(scores[order], labels[order].long(), kernel_inds[order].long(),
                      is_thing[order])


def visible(area: Tensor, orig_area: Tensor, overlap_thr: float) -> Tensor:
    """``area > 0``, ``orig_area > 0`` and ``area / orig_area >= overlap_thr`` (in float64,
    like the original's Python division)."""
    return (area > 0) & (orig_area > 0) & \
        (area.double() / orig_area.clamp(min=1).double() >= overlap_thr)


def joint_argmax(cand: Candidates, mask_probs: Tensor) -> Tensor:
    """Step 3 of the module docstring: the (H, W) candidate with the largest ``score * prob``
    at every pixel (the first one on ties)."""
    values = mask_probs[cand.kernel_inds].mul_(cand.scores[:, None, None])  # (K, H, W)
    return values.max(0).indices


def joint_winners(cand: Candidates, mask_probs: Tensor,
                  settings: MergeSettings) -> Tuple[Tensor, Tensor]:
    """Steps 3 and 4 of the module docstring; returns ((H, W) winner, (K,) keep)."""
    orig_area = torch.stack([(probs >= settings.mask_thr).sum() for probs in mask_probs])
    orig_area = orig_area[cand.kernel_inds]  # mask by mask: no (N, H, W) int64 copy
    winner = joint_argmax(cand, mask_probs)
    area = torch.bincount(winner.flatten(), minlength=cand.scores.numel())
    low_thing = cand.is_thing & (cand.scores < settings.instance_score_thr)
    return winner, ~low_thing & visible(area, orig_area, settings.overlap_thr)


def paste_winners(cand: Candidates, mask_probs: Tensor,
                  settings: MergeSettings) -> Tuple[Tensor, Tensor]:
    """Group-wise paste merge; returns ((H, W) winner, -1 where free, and (K,) keep)."""
    winner = torch.full(mask_probs.shape[1:], -1, dtype=torch.long, device=mask_probs.device)
    keep = torch.zeros(cand.scores.numel(), dtype=torch.bool, device=mask_probs.device)
    first = cand.is_thing if settings.merge_order == 'things_first' else ~cand.is_thing
    visit = torch.cat([torch.nonzero(first).flatten(), torch.nonzero(~first).flatten()])
    for k in visit.tolist():
        if bool(cand.is_thing[k]) and float(cand.scores[k]) < settings.instance_score_thr:
            continue
        binary = mask_probs[cand.kernel_inds[k]] >= settings.mask_thr
        free = binary & (winner < 0)
        if bool(visible(free.sum(), binary.sum(), settings.overlap_thr)):
            winner[free] = k
            keep[k] = True
    return winner, keep


def build_result(cand: Candidates, winner: Tensor, keep: Tensor, num_classes: int,
                 fill: Optional[Tensor] = None) -> PanopticFusionResult:
    """Turn a (H, W) winner map (-1 = none) and (K,) keep flags into the fusion result.

    The unassigned pixels get the label ``num_classes`` (C), or with ``fill`` (a (H, W)
    candidate index per pixel: the ``'argmax'`` fill) the label of that candidate.
    """
    num_cand = keep.numel()
    # Index K is a sentinel "no segment" entry so that -1 winners and K = 0 need no branch.
    keep_ext = torch.cat([keep, keep.new_zeros(1)])
    segment = torch.where(winner >= 0, winner, torch.full_like(winner, num_cand))
    segment = torch.where(keep_ext[segment], segment, torch.full_like(segment, num_cand))
    labels_ext = torch.cat([cand.labels, cand.labels.new_full((1,), num_classes)])
    semantic = labels_ext[segment]
    if fill is not None:
        semantic = torch.where(segment == num_cand, cand.labels[fill], semantic)
    thing_keep = keep & cand.is_thing
    thing_rank = torch.cumsum(thing_keep.long(), 0) * thing_keep.long()
    thing_rank_ext = torch.cat([thing_rank, thing_rank.new_zeros(1)])
    thing_inds = torch.nonzero(thing_keep).flatten()
    stuff_inds = torch.nonzero(keep & ~cand.is_thing).flatten()
    return PanopticFusionResult(
        semantic=semantic, instance=thing_rank_ext[segment],
        thing_masks=segment[None] == thing_inds[:, None, None],
        thing_labels=cand.labels[thing_inds], thing_scores=cand.scores[thing_inds],
        thing_kernel_inds=cand.kernel_inds[thing_inds], stuff_labels=cand.labels[stuff_inds],
        stuff_masks=segment[None] == stuff_inds[:, None, None],
        stuff_scores=cand.scores[stuff_inds])


def check_merge_inputs(cls_scores: Tensor, mask_shape: Tuple[int, ...]) -> None:
    """Raise ValueError unless ``cls_scores`` is (N, C) and the masks are (N, H, W)."""
    if cls_scores.dim() != 2 or len(mask_shape) != 3 or mask_shape[0] != cls_scores.size(0):
        raise ValueError(f'merge_things_stuff expects cls_scores (N, C) and mask_probs (N, H, W), '
                         f'got {tuple(cls_scores.shape)} and {tuple(mask_shape)}')


def merge_things_stuff(cls_scores: Tensor, mask_probs: Tensor, num_thing_kernels: int,
                       num_thing_classes: int,
                       settings: MergeSettings = MergeSettings()) -> PanopticFusionResult:
    """Merge thing and stuff kernel predictions into one panoptic segmentation.

    Args:
        cls_scores: (N, C) sigmoid class probabilities of all N kernels (things first, then one
            stuff kernel per stuff class).
        mask_probs: (N, H, W) soft mask probabilities at the output size (:func:`rescale_masks`).
        num_thing_kernels: N_th, the thing proposals (the first N_th rows).
        num_thing_classes: C_th, the thing classes (the first C_th columns).
        settings: thresholds, ``max_per_img``, ``merge_order`` and ``unassigned_fill``
            (``merge_backend`` is not read here).

    Returns:
        :class:`PanopticFusionResult` in model labels.
    """
    check_merge_inputs(cls_scores, tuple(mask_probs.shape))
    cand = select_candidates(cls_scores, num_thing_kernels, num_thing_classes,
                             settings.max_per_img)
    if cand.scores.numel() == 0:  # nothing to fill with: unassigned pixels stay C
        winner = torch.full(mask_probs.shape[1:], -1, dtype=torch.long, device=cls_scores.device)
        keep = torch.zeros(0, dtype=torch.bool, device=cls_scores.device)
        return build_result(cand, winner, keep, cls_scores.size(1))
    argmax_fill = settings.unassigned_fill == 'argmax'
    if settings.merge_order == 'joint':
        winner, keep = joint_winners(cand, mask_probs, settings)
        fill = winner if argmax_fill else None
    else:
        winner, keep = paste_winners(cand, mask_probs, settings)
        fill = joint_argmax(cand, mask_probs) if argmax_fill else None
    return build_result(cand, winner, keep, cls_scores.size(1), fill)


class DenseMerge:
    """The ``'dense'`` merge backend: :func:`rescale_masks`, then :func:`merge_things_stuff`.

    Holds no state: the full-size (N, H, W) probabilities are computed per frame.
    """

    name = 'dense'

    def rescale(self, mask_logits: Tensor, img_meta: Dict[str, Any]) -> Tensor:
        """(N, h, w) mask logits -> (N, H_ori, W_ori) probabilities (:func:`rescale_masks`)."""
        return rescale_masks(mask_logits, img_meta)

    def merge(self, cls_scores: Tensor, mask_probs: Tensor, num_thing_kernels: int,
              num_thing_classes: int, settings: MergeSettings) -> PanopticFusionResult:
        """:func:`merge_things_stuff` of the rescaled masks."""
        return merge_things_stuff(cls_scores, mask_probs, num_thing_kernels, num_thing_classes,
                                  settings)
