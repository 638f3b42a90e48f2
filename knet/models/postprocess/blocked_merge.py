"""The ``'blocked'`` merge backend: the joint merge of :mod:`.panoptic_fusion` by row blocks.

The same candidates, winners and keep decisions as :func:`.panoptic_fusion.merge_things_stuff`,
computed without ever holding the (K, H, W) full-size masks (~220 MB at KITTI-STEP size), which
makes the merge ~2-5x faster on CPU (docs/PERFORMANCE.md, "Merge backends"):

* the masks are :class:`UpsampledMasks`: low-resolution probabilities resized by cache-sized
  blocks of output rows, pixel-major (rows, W, K) so that ``F.interpolate`` takes its
  channels-last kernel and the reductions over the masks run along contiguous memory;
* only the first candidate of each kernel enters the argmax (see :func:`_joint_winners`), and
  the argmax runs on the integer view of the non-negative values (:func:`first_argmax`);
* ``orig_area`` is needed only for the candidates that can be kept, and is mostly decided from
  low-resolution bounds (:func:`_visible`).

The probability values are those of PyTorch's channels-last bilinear kernel, within one float32
ulp of the NCHW kernel of :func:`.panoptic_fusion.rescale_masks`; at an exact near-tie that ulp
can decide a pixel differently from the ``'dense'`` backend. Given the same probabilities
(:meth:`UpsampledMasks.dense`), both backends give equal results (tested).
"""
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from .mask_upsampling import UpsampledMasks
from .panoptic_fusion import (
    Candidates,
    PanopticFusionResult,
    build_result,
    check_merge_inputs,
    merge_things_stuff,
    select_candidates,
    visible,
)
from .settings import MergeSettings

#: Integer type with the bit width of each float type: non-negative floats order as these.
_ORDERED_INT = {torch.float64: torch.int64, torch.float32: torch.int32,
                torch.float16: torch.int16, torch.bfloat16: torch.int16}


def first_argmax(values: Tensor) -> Tensor:
    """``values.argmax(-1)`` for values >= +0 (no NaN), ~2x faster on CPU.

    The bit patterns of non-negative IEEE floats (up to +inf), read as integers of the same
    width, have the order of the floats, and equal floats have equal patterns, so the integer
    argmax has the same first maximum. (A NaN, which ``argmax`` ranks first, has an arbitrary
    sign bit: NaN mask logits give an undefined merge.)
    """
    return values.view(_ORDERED_INT[values.dtype]).argmax(-1)


def _first_of_kernel(kernel_inds: Tensor) -> Tensor:
    """(K,) bool: True for the first candidate (in candidate order) of each kernel index."""
    order = torch.argsort(kernel_inds, stable=True)
    sorted_inds = kernel_inds[order]
    first_sorted = torch.ones_like(sorted_inds, dtype=torch.bool)
    first_sorted[1:] = sorted_inds[1:] != sorted_inds[:-1]
    first = torch.empty_like(first_sorted)
    first[order] = first_sorted
    return first


def _joint_winners(cand: Candidates, masks: UpsampledMasks,
                   settings: MergeSettings) -> Tuple[Tensor, Tensor]:
    """Score-weighted argmax merge by row blocks; returns ((H, W) winner, (K,) keep).

    Only the first candidate of each kernel enters the argmax: a later candidate of the same
    kernel (a thing proposal kept with a second label) has a score <= the first one's, hence a
    value <= at every pixel, and the argmax keeps the first maximum, so it never wins a pixel.
    The winners, areas and keep flags are therefore those of the argmax over all K candidates.
    The K' distinct masks are produced by row blocks, pixel-major (:meth:`UpsampledMasks.blocks`),
    weighted in place and reduced over the masks while in cache.
    """
    first = torch.nonzero(_first_of_kernel(cand.kernel_inds)).flatten()
    kernels, scores = cand.kernel_inds[first], cand.scores[first]
    winner = torch.empty(masks.size, dtype=torch.long, device=kernels.device)
    for top, block in masks.blocks(kernels):  # (rows, W, K')
        winner[top:top + block.size(0)] = first[first_argmax(block.mul_(scores))]
    area = torch.bincount(winner.flatten(), minlength=cand.scores.numel())
    keep = (area > 0) & ~(cand.is_thing & (cand.scores < settings.instance_score_thr))
    keepable = torch.nonzero(keep).flatten()  # one candidate per kernel wins pixels
    keep[keepable] = _visible(masks, cand.kernel_inds[keepable], area[keepable], settings)
    return winner, keep


def _visible(masks: UpsampledMasks, kernels: Tensor, area: Tensor,
             settings: MergeSettings) -> Tensor:
    """:func:`.panoptic_fusion.visible` of distinct ``kernels`` (each with ``area > 0``) with
    ``orig_area = #(prob >= mask_thr)``.

    The rule is monotone in ``orig_area``, so it is decided from the cheap bounds of
    :meth:`UpsampledMasks.count_bounds` when it has the same value at both ends; the others
    (masks whose visible fraction is near ``overlap_thr``) are counted exactly.
    """
    lower, upper = masks.count_bounds(kernels, settings.mask_thr)
    overlap_thr = settings.overlap_thr
    decided = visible(area, upper, overlap_thr) & (lower > 0)  # true on [lower, upper]
    undecided = ~decided & (upper > 0) & visible(area, lower.clamp(min=1), overlap_thr)
    if bool(undecided.any()):
        exact = masks.count_at_least(kernels[undecided], settings.mask_thr)
        decided[undecided] = visible(area[undecided], exact, overlap_thr)
    return decided


def blocked_merge_things_stuff(cls_scores: Tensor, masks: Union[Tensor, UpsampledMasks],
                               num_thing_kernels: int, num_thing_classes: int,
                               settings: MergeSettings = MergeSettings()
                               ) -> PanopticFusionResult:
    """:func:`.panoptic_fusion.merge_things_stuff` of the masks, joint order by row blocks.

    Args:
        cls_scores: (N, C) sigmoid class probabilities.
        masks: (N, H, W) mask probabilities, as :class:`UpsampledMasks` or a tensor.
        num_thing_kernels: N_th, the thing proposals (the first N_th rows).
        num_thing_classes: C_th, the thing classes (the first C_th columns).
        settings: the merge settings; the paste orders run on ``masks.dense()``.

    Returns:
        :class:`PanopticFusionResult` in model labels.
    """
    if isinstance(masks, Tensor):
        masks = UpsampledMasks.from_dense(masks)  # checks the (N, H, W) shape
    check_merge_inputs(cls_scores, masks.shape)
    cand = select_candidates(cls_scores, num_thing_kernels, num_thing_classes,
                             settings.max_per_img)
    if settings.merge_order != 'joint' or cand.scores.numel() == 0:
        return merge_things_stuff(cls_scores, masks.dense(), num_thing_kernels,
                                  num_thing_classes, settings)
    winner, keep = _joint_winners(cand, masks, settings)
    fill = winner if settings.unassigned_fill == 'argmax' else None
    return build_result(cand, winner, keep, cls_scores.size(1), fill)


class BlockedMerge:
    """The ``'blocked'`` merge backend; owns the buffer of the low-resolution probabilities.

    The buffer (a tensor like the mask logits, kept between frames) spares a fresh ~56 MB
    allocation per KITTI-STEP frame, whose page faults cost ~3x the sigmoid itself on CPU. The
    masks returned by :meth:`rescale` live in it until the next call; merge results never
    alias it.
    """

    name = 'blocked'

    def __init__(self) -> None:
        self._probs: Optional[Tensor] = None

    def _buffer_like(self, mask_logits: Tensor) -> Tensor:
        """The buffer, reallocated when shape, strides, dtype, device or inference mode change
        (an inference-mode tensor cannot be written outside inference mode, and back)."""
        buffer = self._probs
        if buffer is None or buffer.shape != mask_logits.shape or \
                buffer.stride() != mask_logits.stride() or buffer.dtype != mask_logits.dtype \
                or buffer.device != mask_logits.device or \
                buffer.is_inference() != torch.is_inference_mode_enabled():
            buffer = self._probs = torch.empty_like(mask_logits)
        return buffer

    def rescale(self, mask_logits: Tensor, img_meta: Dict[str, Any]) -> UpsampledMasks:
        """(N, h, w) mask logits (no autograd) -> lazily upsampled (N, H_ori, W_ori) masks."""
        return UpsampledMasks.from_logits(mask_logits, img_meta, self._buffer_like(mask_logits))

    def merge(self, cls_scores: Tensor, masks: UpsampledMasks, num_thing_kernels: int,
              num_thing_classes: int, settings: MergeSettings) -> PanopticFusionResult:
        """:func:`blocked_merge_things_stuff` of the rescaled masks."""
        return blocked_merge_things_stuff(cls_scores, masks, num_thing_kernels,
                                          num_thing_classes, settings)
