"""Typed outputs passed between the K-Net heads and the detectors.

Shapes use B images, N = N_th + num_stuff_classes kernels (N_th learned thing kernels, then one
stuff kernel per stuff class), C channels, K x K kernels, (H, W) the padded input size and
(H/8, W/8) the stride of the mask features ``x_feats``. Mask logits at the assignment stride s
(``mask_assign_stride`` of the detector) are (H/s, W/s).

* :class:`KernelHeadOutput`: the kernel head (``rpn_head``, :class:`ConvKernelHead`);
* :class:`StageOutput`: one kernel update stage (:class:`KernelUpdateHead` and its video
  subclass) as returned by :class:`KernelIterHead`;
* :class:`FrameOutput`: the final outputs of one frame (:meth:`KNet.predict_frame`,
  :meth:`KNet.loss_frame`), which the panoptic merge and the tracker read.

All are ``NamedTuple`` s like :class:`~knet.models.heads.mask_targets.MaskTargets`: immutable,
field access by name, ``_replace`` for a changed copy.
"""
from typing import NamedTuple, Optional

from torch import Tensor


class KernelHeadOutput(NamedTuple):
    """Outputs of :meth:`ConvKernelHead.forward` (thing kernels only; see ``with_stuff``).

    Attributes:
        kernels: (B, N_th, C, K, K) initial thing kernels: the learned kernel plus the sum of
            ``x_feats`` under its binarised initial mask.
        mask_preds: (B, N_th, H/8, W/8) initial thing mask logits.
        seg_preds: (B, num_classes, H/8, W/8) semantic logits (``conv_seg``); the stuff rows
            are the initial stuff masks.
        x_feats: (B, C, H/8, W/8) mask features (semantic + localization feature), the input of
            every update stage.
    """

    kernels: Tensor
    mask_preds: Tensor
    seg_preds: Tensor
    x_feats: Tensor


class StageOutput(NamedTuple):
    """Outputs of one kernel update stage.

    Attributes:
        cls_score: (B, N, num_classes) class logits.
        mask_preds: (B, N, H/8, W/8) mask logits (the next stage's input masks).
        obj_feat: (B, N, C, K, K) refined kernels (the next stage's input kernels).
        group_feats: (B, N, C) features assembled under the previous stage's masks.
        scaled_mask_preds: the mask logits at their output resolution: (B, N, H/s, W/s) when
            :class:`KernelIterHead` upsampled them by the stage's ``mask_upsample_stride``
            (training: every stage; test: the last one), else ``mask_preds`` itself; a stage
            alone returns ``mask_preds``.
        obj_feat_track: (B, N, C, K, K) track kernels of a video stage linked to the previous
            (training: reference) frame's kernels; None for image stages, unlinked video stages
            and a sequence's first frame.
    """

    cls_score: Tensor
    mask_preds: Tensor
    obj_feat: Tensor
    group_feats: Tensor
    scaled_mask_preds: Tensor
    obj_feat_track: Optional[Tensor] = None


class FrameOutput(NamedTuple):
    """Final outputs of a batch of frames, before post-processing.

    Attributes:
        cls_score: (B, N, num_classes) class logits of the last stage.
        scaled_mask_preds: (B, N, H/s, W/s) mask logits of the last stage at the assignment
            stride.
        obj_feat: (B, N, C, K, K) final kernels, un-linked (the kernel memory of Video K-Net).
        seg_preds: (B, num_classes, H/8, W/8) semantic logits of the kernel head.
        obj_feat_track: (B, N, C, K, K) track kernels of the last stage, or None when it was
            not linked.
    """

    cls_score: Tensor
    scaled_mask_preds: Tensor
    obj_feat: Tensor
    seg_preds: Tensor
    obj_feat_track: Optional[Tensor] = None

    @classmethod
    def from_stage(cls, final: StageOutput, seg_preds: Tensor) -> 'FrameOutput':
        """The frame output of the last stage's outputs and the kernel head's semantic logits."""
        return cls(cls_score=final.cls_score, scaled_mask_preds=final.scaled_mask_preds,
                   obj_feat=final.obj_feat, seg_preds=seg_preds,
                   obj_feat_track=final.obj_feat_track)
