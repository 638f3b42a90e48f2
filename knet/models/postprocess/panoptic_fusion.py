"""Panoptic fusion of K-Net's thing and stuff kernels (DESIGN.md §5.5, STYLE.md §2.1, §2.5).

Pure functions, no ``nn.Module``. ``order='joint'`` reproduces ``get_panoptic`` +
``merge_stuff_thing_stuff_joint`` of Video K-Net (``knet/video/knet_quansi_dense_embed_fc.py``):

1. thing candidates: the top ``max_per_img`` of the ``num_thing_kernels x num_thing_classes``
   thing scores (one proposal may appear with several labels);
2. stuff candidates: stuff kernel ``j`` with the diagonal score
   ``cls_scores[num_thing_kernels + j, num_thing_classes + j]`` and label ``num_thing_classes + j``;
3. all candidates sorted by descending score (ties: things first); every pixel goes to the
   candidate with the largest ``score * prob``;
4. a candidate is kept iff it is not a thing scoring below ``instance_score_thr``, it won
   ``area > 0`` pixels, ``orig_area = #(prob >= mask_thr) > 0`` and
   ``area / orig_area >= overlap_thr``. Pixels won by a rejected candidate stay unassigned.

Because every pixel has exactly one winner, the keep decisions are independent of each other and
are computed for all candidates at once (``bincount`` of the winners); the visiting order of the
reference only fixes the segment numbering (descending score), which we keep.

Unassigned pixels get :data:`IGNORE_LABEL` (255) in the *model-label* semantic map. The reference
writes 0 ("road") there (DESIGN.md §12 item 11); that legacy choice belongs to the caller, which
maps model labels to dataset ids.

``order='things_first'`` and ``'stuff_first'`` are simple paste-style alternatives (not used by
the reference configs): candidates are visited group by group (things, then stuff, or the
reverse), each by descending score; a candidate claims the still-free pixels where
``prob >= mask_thr`` and is kept iff the claimed area is non-empty and at least ``overlap_thr``
of its ``orig_area`` (the same visibility rule as the joint merge; the same thing score filter).
"""
from dataclasses import dataclass
from typing import Tuple, Union

import torch
from torch import Tensor

from knet.structures.panoptic import IGNORE_LABEL
from .mask_upsampling import UpsampledMasks

ORDERS = ('joint', 'things_first', 'stuff_first')
#: Integer type with the bit width of each float type: non-negative floats order as these.
_ORDERED_INT = {torch.float64: torch.int64, torch.float32: torch.int32,
                torch.float16: torch.int16, torch.bfloat16: torch.int16}


@dataclass
class PanopticFusionResult:
    """Panoptic segmentation of one image (model label space).

    Attributes:
        semantic: (H, W) int64 model labels, 255 = unassigned.
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
class _Candidates:
    """K candidates sorted by descending score: scores, labels, kernel indices, is_thing (K,)."""

    scores: Tensor
    labels: Tensor
    kernel_inds: Tensor
    is_thing: Tensor


def _candidates(cls_scores: Tensor, num_thing_kernels: int, num_thing_classes: int,
                max_per_img: int) -> _Candidates:
    """Thing top-k and stuff diagonal candidates, jointly sorted by descending score."""
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
    return _Candidates(scores[order], labels[order].long(), kernel_inds[order].long(),
                       is_thing[order])


def _first_of_kernel(kernel_inds: Tensor) -> Tensor:
    """(K,) bool: True for the first candidate (in candidate order) of each kernel index."""
    order = torch.argsort(kernel_inds, stable=True)
    sorted_inds = kernel_inds[order]
    first_sorted = torch.ones_like(sorted_inds, dtype=torch.bool)
    first_sorted[1:] = sorted_inds[1:] != sorted_inds[:-1]
    first = torch.empty_like(first_sorted)
    first[order] = first_sorted
    return first


def first_argmax(values: Tensor) -> Tensor:
    """``values.argmax(-1)`` for values >= +0 (no NaN), ~2x faster on CPU.

    The bit patterns of non-negative IEEE floats (up to +inf), read as integers of the same
    width, have the order of the floats, and equal floats have equal patterns, so the integer
    argmax has the same first maximum. (A NaN, which ``argmax`` ranks first, has an arbitrary
    sign bit: NaN mask logits give an undefined merge.)
    """
    return values.view(_ORDERED_INT[values.dtype]).argmax(-1)


def _joint_winners(cand: _Candidates, masks: UpsampledMasks, instance_score_thr: float,
                   overlap_thr: float, mask_thr: float) -> Tuple[Tensor, Tensor]:
    """Score-weighted argmax merge; returns ((H, W) winner, (K,) keep).

    Only the first candidate of each kernel enters the argmax: a later candidate of the same
    kernel (a thing proposal kept with a second label) has a score <= the first one's, hence a
    value <= at every pixel, and the argmax keeps the first maximum, so it never wins a pixel.
    The winners, areas and keep flags are therefore those of the argmax over all K candidates.
    The K' distinct masks are produced by row blocks, pixel-major (:meth:`UpsampledMasks.blocks`),
    weighted in place and reduced over the masks (the contiguous innermost axis) while in
    cache: no (K, H, W) tensor is ever held (:func:`first_argmax` on ``score * prob >= 0``).
    ``orig_area`` then matters only for the candidates that can be kept (won pixels, not a
    low-scoring thing), usually a few of K', and is mostly bounded tightly enough from the
    low-resolution masks (:func:`_visible`).
    """
    first = torch.nonzero(_first_of_kernel(cand.kernel_inds)).flatten()
    kernels, scores = cand.kernel_inds[first], cand.scores[first]
    winner = torch.empty(masks.size, dtype=torch.long, device=kernels.device)
    for top, block in masks.blocks(kernels):  # (rows, W, K')
        winner[top:top + block.size(0)] = first[first_argmax(block.mul_(scores))]
    area = torch.bincount(winner.flatten(), minlength=cand.scores.numel())
    keep = (area > 0) & ~(cand.is_thing & (cand.scores < instance_score_thr))
    keepable = torch.nonzero(keep).flatten()  # one candidate per kernel wins pixels
    keep[keepable] = _visible(masks, cand.kernel_inds[keepable], area[keepable], mask_thr,
                              overlap_thr)
    return winner, keep


def _visible_rule(area: Tensor, orig_area: Tensor, overlap_thr: float) -> Tensor:
    """``orig_area > 0`` and ``area / orig_area >= overlap_thr`` (in float64)."""
    return (orig_area > 0) & (area.double() / orig_area.clamp(min=1).double() >= overlap_thr)


def _visible(masks: UpsampledMasks, kernels: Tensor, area: Tensor, mask_thr: float,
             overlap_thr: float) -> Tensor:
    """:func:`_visible_rule` of distinct ``kernels`` with ``orig_area = #(prob >= mask_thr)``.

    The rule is monotone in ``orig_area``, so it is decided from the cheap bounds of
    :meth:`UpsampledMasks.count_bounds` when it has the same value at both ends; the others
    (masks whose visible fraction is near ``overlap_thr``) are counted exactly.
    """
    lower, upper = masks.count_bounds(kernels, mask_thr)
    visible = _visible_rule(area, upper, overlap_thr) & (lower > 0)  # true on [lower, upper]
    undecided = ~visible & (upper > 0) & _visible_rule(area, lower.clamp(min=1), overlap_thr)
    if bool(undecided.any()):
        exact = masks.count_at_least(kernels[undecided], mask_thr)
        visible[undecided] = _visible_rule(area[undecided], exact, overlap_thr)
    return visible


def _paste_winners(cand: _Candidates, masks: Tensor, instance_score_thr: float,
                   overlap_thr: float, mask_thr: float, things_first: bool
                   ) -> Tuple[Tensor, Tensor]:
    """Group-wise paste merge; returns ((H, W) winner, -1 where free, and (K,) keep)."""
    num_cand = masks.size(0)
    winner = torch.full(masks.shape[1:], -1, dtype=torch.long, device=masks.device)
    keep = torch.zeros(num_cand, dtype=torch.bool, device=masks.device)
    group_first = cand.is_thing if things_first else ~cand.is_thing
    visit = torch.cat([torch.nonzero(group_first).flatten(),
                       torch.nonzero(~group_first).flatten()]).tolist()
    for k in visit:
        if bool(cand.is_thing[k]) and float(cand.scores[k]) < instance_score_thr:
            continue
        binary = masks[k] >= mask_thr
        orig_area = int(binary.sum())
        free = binary & (winner < 0)
        area = int(free.sum())
        if area == 0 or orig_area == 0 or area / orig_area < overlap_thr:
            continue
        winner[free] = k
        keep[k] = True
    return winner, keep


def _build_result(cand: _Candidates, winner: Tensor, keep: Tensor) -> PanopticFusionResult:
    """Turn a (H, W) winner map (-1 = none) and (K,) keep flags into the fusion result."""
    num_cand = keep.numel()
    no_seg = keep.new_zeros(1)
    # Index K is a sentinel "no segment" entry so that -1 winners and K = 0 need no branch.
    keep_ext = torch.cat([keep, no_seg])
    segment = torch.where(winner >= 0, winner, torch.full_like(winner, num_cand))
    segment = torch.where(keep_ext[segment], segment, torch.full_like(segment, num_cand))
    labels_ext = torch.cat([cand.labels, cand.labels.new_full((1,), IGNORE_LABEL)])
    thing_keep = keep & cand.is_thing
    thing_rank = torch.cumsum(thing_keep.long(), 0) * thing_keep.long()
    thing_rank_ext = torch.cat([thing_rank, thing_rank.new_zeros(1)])
    thing_inds = torch.nonzero(thing_keep).flatten()
    stuff_inds = torch.nonzero(keep & ~cand.is_thing).flatten()
    return PanopticFusionResult(
        semantic=labels_ext[segment], instance=thing_rank_ext[segment],
        thing_masks=segment[None] == thing_inds[:, None, None],
        thing_labels=cand.labels[thing_inds], thing_scores=cand.scores[thing_inds],
        thing_kernel_inds=cand.kernel_inds[thing_inds], stuff_labels=cand.labels[stuff_inds],
        stuff_masks=segment[None] == stuff_inds[:, None, None],
        stuff_scores=cand.scores[stuff_inds])


def merge_things_stuff(cls_scores: Tensor, mask_probs: Union[Tensor, UpsampledMasks],
                       num_thing_kernels: int, num_thing_classes: int,
                       instance_score_thr: float = 0.25, overlap_thr: float = 0.6,
                       mask_thr: float = 0.5, max_per_img: int = 100,
                       order: str = 'joint') -> PanopticFusionResult:
    """Merge thing and stuff kernel predictions into one panoptic segmentation.

    Args:
        cls_scores: (N, C) sigmoid class probabilities of all N kernels (things first, then one
            stuff kernel per stuff class).
        mask_probs: (N, H, W) soft mask probabilities at the output size, as a tensor or as
            :class:`UpsampledMasks` (computed by row blocks, never held whole).
        num_thing_kernels: N_th, the thing proposals (the first N_th rows).
        num_thing_classes: C_th, the thing classes (the first C_th columns).
        instance_score_thr: things scoring below are dropped (their won pixels stay 255).
        overlap_thr: minimum visible fraction ``area / orig_area`` of a kept segment.
        mask_thr: binarization threshold of ``orig_area`` (and of the paste masks).
        max_per_img: number of thing candidates (top-k of the N_th x C_th thing scores).
        order: ``'joint'`` (reference), ``'things_first'`` or ``'stuff_first'``.

    Returns:
        :class:`PanopticFusionResult` in model labels.
    """
    if order not in ORDERS:
        raise ValueError(f'merge_things_stuff: order must be one of {ORDERS}, got {order!r}')
    if isinstance(mask_probs, Tensor):
        mask_probs = UpsampledMasks.from_dense(mask_probs)  # checks the (N, H, W) shape
    if cls_scores.dim() != 2 or mask_probs.shape[0] != cls_scores.size(0):
        raise ValueError(f'merge_things_stuff expects cls_scores (N, C) and mask_probs (N, H, W), '
                         f'got {tuple(cls_scores.shape)} and {tuple(mask_probs.shape)}')
    cand = _candidates(cls_scores, num_thing_kernels, num_thing_classes, max_per_img)
    if cand.scores.numel() == 0:
        winner = torch.full(mask_probs.size, -1, dtype=torch.long, device=cls_scores.device)
        keep = torch.zeros(0, dtype=torch.bool, device=cls_scores.device)
    elif order == 'joint':
        winner, keep = _joint_winners(cand, mask_probs, instance_score_thr, overlap_thr,
                                      mask_thr)
    else:
        winner, keep = _paste_winners(cand, mask_probs.dense()[cand.kernel_inds],
                                      instance_score_thr, overlap_thr, mask_thr,
                                      things_first=order == 'things_first')
    return _build_result(cand, winner, keep)
