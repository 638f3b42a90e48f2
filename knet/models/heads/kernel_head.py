"""K-Net kernel head (the "RPN"): initial kernels, masks and semantic logits (docs/model.md).

Follows ``ConvKernelHead`` of the original K-Net's ``knet/det/kernel_head.py``
(``_decode_init_proposals``, ``forward_train``, ``loss``, ``_get_target_single``) with the
settings the STEP configs use (``cat_stuff_mask=True``, ``use_binary=True``,
``proposal_feats_with_obj=True``, ``feat_refine=False``). The semantic FPN is built inside the
head as ``localization_fpn`` so its parameters keep the original ``rpn_head.localization_fpn.*``
checkpoint keys. Inside :class:`~knet.models.detectors.KNet` the class counts and
``feat_downsample_stride`` are set by the detector.
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule, ModuleList, bias_init_with_prob, normal_init
from torch import Tensor

from knet.registry import MODELS, TASK_UTILS
from .mask_targets import MaskTargets
from .outputs import KernelHeadOutput
from .utils import ConfigType, OptConfigType, rank_targets


@MODELS.register_module()
class ConvKernelHead(BaseModule):
    """Produces N_th learned thing kernels + N_st stuff kernels and their initial masks.

    Args:
        num_proposals: number of thing kernels N_th (``init_kernels`` output channels).
        in_channels: channels of the semantic-FPN outputs.
        out_channels: channels C of the kernels and of ``x_feats``.
        num_thing_classes: thing classes (model labels ``0..num_thing_classes-1``).
        num_stuff_classes: stuff classes; one stuff kernel each (rows of ``conv_seg``).
        localization_fpn: config of the semantic FPN (``SemanticFPNWrapper``), returning
            ``[loc_feat, sem_feat]`` at stride 8.
        conv_kernel_size: spatial size K of the kernels (stuff kernels require K = 1).
        num_loc_convs: 1x1 ConvModules on the localization feature.
        num_seg_convs: 1x1 ConvModules on the semantic feature.
        norm_cfg: norm of those convs (GN 32 in the original).
        act_cfg: activation of those convs.
        feat_downsample_stride: upsampling factor of the stride-8 masks to the assignment stride
            (set by the detector: 8 / ``mask_assign_stride``).
        kernel_init_std: std of the normal init of ``init_kernels`` (1.0 in the original).
        hard_mask_thr: binarisation threshold of sigmoid masks for kernel pooling.
        loss_mask: config of the BCE mask loss (``loss_rpn_mask``).
        loss_dice: config of the dice loss (``loss_rpn_dice``).
        loss_rank: optional config of the proposal rank CE (``loss_rpn_rank``, ignore 255).
        loss_seg: config of the semantic loss on ``conv_seg``: softmax CE, to which the head
            passes ``ignore_index = num_classes`` (the label of unlabelled pixels; a config
            need not state it, another value is an error), or sigmoid focal, which sets the
            ``conv_seg`` bias prior.
        ignore_label: ignore value of the rank targets.
        train_cfg: ``dict(assigner=..., sampler=...)`` for the RPN assignment; needed by
            :meth:`loss` only.
        init_cfg: mmengine init config (unused: :meth:`init_weights` implements the original's
            initialisation).
    """

    def __init__(self,
                 num_proposals: int = 100,
                 in_channels: int = 256,
                 out_channels: int = 256,
                 num_thing_classes: int = 80,
                 num_stuff_classes: int = 53,
                 localization_fpn: OptConfigType = None,
                 conv_kernel_size: int = 1,
                 num_loc_convs: int = 1,
                 num_seg_convs: int = 1,
                 norm_cfg: ConfigType = dict(type='GN', num_groups=32, requires_grad=True),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 feat_downsample_stride: int = 2,
                 kernel_init_std: float = 1.0,
                 hard_mask_thr: float = 0.5,
                 loss_mask: ConfigType = dict(type='CrossEntropyLoss', use_sigmoid=True,
                                              loss_weight=1.0),
                 loss_dice: ConfigType = dict(type='DiceLoss', loss_weight=4.0),
                 loss_rank: OptConfigType = None,
                 loss_seg: ConfigType = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                             alpha=0.25, loss_weight=1.0),
                 ignore_label: int = 255,
                 train_cfg: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if localization_fpn is None:
            raise ValueError('ConvKernelHead needs a localization_fpn config '
                             '(e.g. dict(type="SemanticFPNWrapper", ...))')
        if conv_kernel_size != 1 and num_stuff_classes > 0:
            raise ValueError('stuff kernels are rows of the 1x1 conv_seg: conv_kernel_size must '
                             f'be 1 when num_stuff_classes > 0, got {conv_kernel_size}')
        self.num_proposals = num_proposals
        self.out_channels = out_channels
        self.num_thing_classes = num_thing_classes
        self.num_stuff_classes = num_stuff_classes
        self.num_classes = num_thing_classes + num_stuff_classes
        self.conv_kernel_size = conv_kernel_size
        self.feat_downsample_stride = feat_downsample_stride
        self.kernel_init_std = kernel_init_std
        self.hard_mask_thr = hard_mask_thr
        self.ignore_label = ignore_label

        self.localization_fpn = MODELS.build(localization_fpn)
        self.loc_convs = self._conv_stack(in_channels, out_channels, num_loc_convs, norm_cfg,
                                          act_cfg)
        self.seg_convs = self._conv_stack(in_channels, out_channels, num_seg_convs, norm_cfg,
                                          act_cfg)
        self.init_kernels = nn.Conv2d(out_channels, num_proposals, conv_kernel_size,
                                      padding=conv_kernel_size // 2, bias=False)
        self.conv_seg = nn.Conv2d(out_channels, self.num_classes, 1)

        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_rank = MODELS.build(loss_rank) if loss_rank is not None else None
        self.loss_seg = MODELS.build(loss_seg)
        self.seg_use_sigmoid = bool(getattr(self.loss_seg, 'use_sigmoid', False))
        self._check_seg_ignore_index()

        self.train_cfg = train_cfg
        if train_cfg is not None:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
            self.sampler = TASK_UTILS.build(train_cfg['sampler'])

    @staticmethod
    def _conv_stack(in_channels: int, out_channels: int, num_convs: int, norm_cfg: ConfigType,
                    act_cfg: ConfigType) -> ModuleList:
        """``num_convs`` 1x1 conv + norm + act modules (no conv bias, as in the original)."""
        return ModuleList(
            ConvModule(in_channels if i == 0 else out_channels, out_channels, 1,
                       norm_cfg=norm_cfg, act_cfg=act_cfg) for i in range(num_convs))

    def _check_seg_ignore_index(self) -> None:
        """A softmax ``loss_seg`` may not state an ignore label other than ``num_classes``.

        The semantic targets mark unlabelled pixels with ``num_classes`` and :meth:`_seg_loss`
        passes that label as ``ignore_index``, so configs need not repeat the class count.
        """
        ignore_index = getattr(self.loss_seg, 'ignore_index', None)
        if not self.seg_use_sigmoid and ignore_index not in (None, self.num_classes):
            raise ValueError(f'rpn_head.loss_seg.ignore_index = {ignore_index} but unlabelled '
                             f'pixels have label num_classes = {self.num_classes}: remove '
                             'ignore_index from the config (it follows the class counts)')

    def init_weights(self) -> None:
        """Conv2d ~ N(0, 0.01) (bias 0), ``init_kernels`` ~ N(0, kernel_init_std).

        The ``conv_seg`` bias gets the prior -log(99) when ``loss_seg`` is a sigmoid loss.
        """
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                normal_init(module, mean=0., std=0.01, bias=0.)
        seg_bias = bias_init_with_prob(0.01) if self.seg_use_sigmoid else 0.
        normal_init(self.conv_seg, mean=0., std=0.01, bias=seg_bias)
        normal_init(self.init_kernels, mean=0., std=self.kernel_init_std)

    def forward(self, feats: Sequence[Tensor]) -> KernelHeadOutput:
        """Initial thing kernels and masks, semantic logits and the shared mask features.

        Args:
            feats: FPN levels P2..P5, each (B, C_in, H/s, W/s).

        Returns:
            ``kernels`` (B, N_th, C, K, K), ``mask_preds`` (B, N_th, H/8, W/8), ``seg_preds``
            (B, num_classes, H/8, W/8) and ``x_feats`` (B, C, H/8, W/8).
        """
        loc_feats, sem_feats = self.localization_fpn(feats)
        for conv in self.loc_convs:
            loc_feats = conv(loc_feats)
        for conv in self.seg_convs:
            sem_feats = conv(sem_feats)
        mask_preds = self.init_kernels(loc_feats)
        seg_preds = self.conv_seg(sem_feats)
        x_feats = sem_feats + loc_feats
        binary = (mask_preds.sigmoid() > self.hard_mask_thr).float()
        pooled = torch.einsum('bnhw,bchw->bnc', binary, x_feats)
        kernels = self.init_kernels.weight[None] + pooled[..., None, None]
        return KernelHeadOutput(kernels=kernels, mask_preds=mask_preds, seg_preds=seg_preds,
                                x_feats=x_feats)

    def with_stuff(self, outputs: KernelHeadOutput) -> Tuple[Tensor, Tensor]:
        """Append the stuff kernels (``conv_seg.weight[num_thing:]``, no bias) and masks.

        Args:
            outputs: the outputs of :meth:`forward`.

        Returns:
            ``(kernels, mask_preds)``: (B, N, C, K, K) and (B, N, H/8, W/8) with
            N = N_th + num_stuff_classes; stuff kernel j predicts model label num_thing + j.
        """
        kernels, mask_preds = outputs.kernels, outputs.mask_preds
        stuff_kernels = self.conv_seg.weight[self.num_thing_classes:]
        stuff_kernels = stuff_kernels[None].expand(kernels.shape[0], -1, -1, -1, -1)
        stuff_masks = outputs.seg_preds[:, self.num_thing_classes:]
        return (torch.cat([kernels, stuff_kernels], dim=1),
                torch.cat([mask_preds, stuff_masks], dim=1))

    def _upsample(self, preds: Tensor) -> Tensor:
        """Bilinear x``feat_downsample_stride`` upsampling (align_corners=False)."""
        if self.feat_downsample_stride == 1:
            return preds
        return F.interpolate(preds, scale_factor=self.feat_downsample_stride, mode='bilinear',
                             align_corners=False)

    def _targets_single(self, mask_pred: Tensor,
                        target: MaskTargets) -> Tuple[Tensor, Tensor, Tensor]:
        """Assign one image's thing masks and build its RPN targets.

        Args:
            mask_pred: (N_th, h, w) thing mask logits at the assignment stride.
            target: the image's targets at the same (h, w).

        Returns:
            ``(labels, mask_targets, seg_targets)``: (N_th,) labels (``num_classes`` =
            negative), (N_th, h, w) mask targets and (h, w) semantic targets (stuff masks
            first, then matched things overwriting; ``num_classes`` = unlabelled).
        """
        assign_result = self.assigner.assign(mask_pred.detach(), None, target.thing_masks,
                                             target.thing_labels)
        sampling = self.sampler.sample(assign_result, mask_pred, target.thing_masks)
        labels = mask_pred.new_full((mask_pred.shape[0], ), self.num_classes, dtype=torch.long)
        mask_targets = torch.zeros_like(mask_pred)
        seg_targets = mask_pred.new_full(mask_pred.shape[-2:], self.num_classes,
                                         dtype=torch.long)
        for stuff_mask, stuff_label in zip(target.stuff_masks, target.stuff_labels):
            seg_targets[stuff_mask != 0] = stuff_label
        pos_inds = sampling.pos_inds
        if pos_inds.numel() > 0:
            labels[pos_inds] = sampling.pos_gt_labels
            mask_targets[pos_inds] = sampling.pos_gt_masks.to(mask_targets.dtype)
            for gt_mask, gt_label in zip(sampling.pos_gt_masks, sampling.pos_gt_labels):
                seg_targets[gt_mask != 0] = gt_label
        return labels, mask_targets, seg_targets

    def loss(self, outputs: KernelHeadOutput,
             targets: Sequence[MaskTargets]) -> Dict[str, Tensor]:
        """RPN losses ``loss_rpn_{mask,dice,rank,seg}``.

        Args:
            outputs: the outputs of :meth:`forward` (only ``mask_preds`` and ``seg_preds`` are
                read).
            targets: B per-image targets at the assignment stride, which must equal the stride-8
                maps upsampled by ``feat_downsample_stride``.

        Returns:
            dict of scalar losses.
        """
        if self.train_cfg is None:
            raise RuntimeError('ConvKernelHead.loss needs train_cfg with assigner and sampler')
        mask_preds = self._upsample(outputs.mask_preds)
        seg_preds = self._upsample(outputs.seg_preds)
        target_hw = tuple(targets[0].thing_masks.shape[-2:])
        if tuple(mask_preds.shape[-2:]) != target_hw:
            raise ValueError(f'RPN masks upsampled x{self.feat_downsample_stride} have size '
                             f'{tuple(mask_preds.shape[-2:])} but targets have {target_hw}: '
                             'mask_assign_stride must equal 8 / feat_downsample_stride')
        per_image = [self._targets_single(m, t) for m, t in zip(mask_preds, targets)]
        labels = torch.stack([p[0] for p in per_image])
        mask_targets = torch.stack([p[1] for p in per_image])
        seg_targets = torch.stack([p[2] for p in per_image])
        losses = self._mask_losses(mask_preds, labels, mask_targets)
        losses['loss_rpn_seg'] = self._seg_loss(seg_preds, seg_targets)
        return losses

    def _mask_losses(self, mask_preds: Tensor, labels: Tensor,
                     mask_targets: Tensor) -> Dict[str, Tensor]:
        """BCE, dice and rank losses of (B, N_th, h, w) logits on positive kernels."""
        pos = labels < self.num_classes
        losses = {}
        if pos.any():
            pos_preds, pos_targets = mask_preds[pos], mask_targets[pos]
            losses['loss_rpn_mask'] = self.loss_mask(pos_preds, pos_targets)
            losses['loss_rpn_dice'] = self.loss_dice(pos_preds, pos_targets)
            if self.loss_rank is not None:
                rank = rank_targets(pos, mask_targets, self.ignore_label)
                losses['loss_rpn_rank'] = self.loss_rank(mask_preds, rank)
        else:
            zero = mask_preds.sum() * 0
            losses['loss_rpn_mask'] = zero
            losses['loss_rpn_dice'] = zero
            if self.loss_rank is not None:
                losses['loss_rpn_rank'] = zero
        return losses

    def _seg_loss(self, seg_preds: Tensor, seg_targets: Tensor) -> Tensor:
        """Semantic loss of (B, num_classes, h, w) logits against (B, h, w) targets.

        Softmax CE ignores label ``num_classes`` and averages over all pixels (ignored ones
        count in the denominator, as in the original); sigmoid focal uses avg_factor =
        #labelled pixels (clamped to >= 1).
        """
        flat_preds = seg_preds.permute(0, 2, 3, 1).reshape(-1, seg_preds.shape[1])
        flat_targets = seg_targets.reshape(-1)
        if self.seg_use_sigmoid:
            num_labelled = (flat_targets < self.num_classes).sum().float().clamp(min=1.0)
            return self.loss_seg(flat_preds, flat_targets, avg_factor=num_labelled)
        return self.loss_seg(flat_preds, flat_targets, ignore_index=self.num_classes)
