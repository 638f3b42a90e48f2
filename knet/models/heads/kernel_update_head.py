"""One K-Net kernel update stage and its losses (docs/model.md).

Follows ``KernelUpdateHead`` of the original K-Net's ``knet/det/kernel_update_head.py``
(``forward``, ``init_weights``, ``_get_target_single``, ``loss``), with the original's parameter
names (checkpoint keys). The forward pass is split into the named steps of the paper:
group-feature assembling -> adaptive kernel update -> kernel interaction (MHSA) -> FFN -> class
and mask prediction. :meth:`KernelUpdateHead.forward` returns a :class:`StageOutput`, so a video
subclass can call ``super().forward`` and fill ``obj_feat_track``. Inside
:class:`~knet.models.detectors.KNet` the class counts and ``mask_upsample_stride`` are set by
the detector.
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor

from knet.models.layers import FFN, MultiheadAttention
from knet.models.task_modules import MaskSamplingResult
from knet.registry import MODELS
from .mask_targets import MaskTargets
from .outputs import StageOutput
from .utils import ConfigType, OptConfigType, accuracy, rank_targets, reduce_mean


@MODELS.register_module()
class KernelUpdateHead(BaseModule):
    """Refines N kernels once and predicts their classes and masks.

    Args:
        num_thing_classes: thing classes; thing kernels are trained on these columns only.
        num_stuff_classes: stuff classes; the last ``num_stuff_classes`` kernels are the stuff
            kernels with fixed, class-indexed targets.
        in_channels: channels C of kernels and features.
        out_channels: channels of the dynamic mask kernels (``fc_mask`` output; = C).
        num_heads: heads of the kernel self-attention.
        num_cls_fcs: Linear(no bias)-LN-ReLU blocks of the class branch.
        num_mask_fcs: Linear(no bias)-LN-ReLU blocks of the mask branch.
        feedforward_channels: hidden width of the FFN.
        num_ffn_fcs: Linear layers of the FFN.
        dropout: dropout of attention and FFN (0 in every config).
        conv_kernel_size: spatial size K of the kernels.
        hard_mask_thr: binarisation threshold of sigmoid masks in feature assembling.
        mask_upsample_stride: factor from the stride-8 masks to the loss/assignment stride
            (read by :class:`KernelIterHead`; set by the detector: 8 / ``mask_assign_stride``).
        ffn_act_cfg: activation of the FFN.
        norm_cfg: norm of the class/mask branches (LN).
        act_cfg: activation of the class/mask branches.
        feat_transform_cfg: extra ConvModule args of the 1x1 ``feat_transform`` (no norm/act).
        kernel_updator_cfg: config of the adaptive kernel update (``KernelUpdator``).
        loss_cls: sigmoid focal loss config on (B*N, num_classes) logits.
        loss_mask: BCE config on positive masks.
        loss_dice: dice loss config on positive masks.
        loss_rank: optional rank CE config over the N kernels per pixel (ignore 255).
        ignore_label: ignore value of the rank targets.
        init_cfg: mmengine init config (unused: :meth:`init_weights` implements the original's
            initialisation).
    """

    def __init__(self,
                 num_thing_classes: int = 80,
                 num_stuff_classes: int = 53,
                 in_channels: int = 256,
                 out_channels: int = 256,
                 num_heads: int = 8,
                 num_cls_fcs: int = 1,
                 num_mask_fcs: int = 1,
                 feedforward_channels: int = 2048,
                 num_ffn_fcs: int = 2,
                 dropout: float = 0.0,
                 conv_kernel_size: int = 1,
                 hard_mask_thr: float = 0.5,
                 mask_upsample_stride: int = 2,
                 ffn_act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 norm_cfg: ConfigType = dict(type='LN'),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 feat_transform_cfg: ConfigType = dict(conv_cfg=dict(type='Conv2d'),
                                                       act_cfg=None),
                 kernel_updator_cfg: ConfigType = dict(type='KernelUpdator', in_channels=256,
                                                       feat_channels=256, out_channels=256),
                 loss_cls: ConfigType = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                             alpha=0.25, loss_weight=2.0),
                 loss_mask: ConfigType = dict(type='CrossEntropyLoss', use_sigmoid=True,
                                              loss_weight=1.0),
                 loss_dice: ConfigType = dict(type='DiceLoss', loss_weight=4.0),
                 loss_rank: OptConfigType = None,
                 ignore_label: int = 255,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_thing_classes = num_thing_classes
        self.num_stuff_classes = num_stuff_classes
        self.num_classes = num_thing_classes + num_stuff_classes
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv_kernel_size = conv_kernel_size
        self.hard_mask_thr = hard_mask_thr
        self.mask_upsample_stride = mask_upsample_stride
        self.ignore_label = ignore_label
        kernel_dims = in_channels * conv_kernel_size**2

        self.feat_transform = ConvModule(in_channels, in_channels, 1, **feat_transform_cfg)
        self.kernel_update_conv = MODELS.build(kernel_updator_cfg)
        self.attention = MultiheadAttention(kernel_dims, num_heads, attn_drop=dropout)
        self.attention_norm = build_norm_layer(dict(type='LN'), kernel_dims)[1]
        self.ffn = FFN(in_channels, feedforward_channels, num_fcs=num_ffn_fcs, act_cfg=ffn_act_cfg,
                       ffn_drop=dropout)
        self.ffn_norm = build_norm_layer(dict(type='LN'), in_channels)[1]
        self.cls_fcs = self._fc_stack(num_cls_fcs, norm_cfg, act_cfg)
        self.fc_cls = nn.Linear(in_channels, self.num_classes)
        self.mask_fcs = self._fc_stack(num_mask_fcs, norm_cfg, act_cfg)
        self.fc_mask = nn.Linear(in_channels, out_channels)

        self.loss_cls = MODELS.build(loss_cls)
        if not getattr(self.loss_cls, 'use_sigmoid', False):
            raise ValueError('KernelUpdateHead supports sigmoid classification only '
                             f'(loss_cls.use_sigmoid=True), got {loss_cls}')
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_rank = MODELS.build(loss_rank) if loss_rank is not None else None

    def _fc_stack(self, num_fcs: int, norm_cfg: ConfigType, act_cfg: ConfigType) -> nn.ModuleList:
        """``num_fcs`` x [Linear(no bias), norm, act], flattened (keys ``.0``, ``.1``, ...)."""
        layers = nn.ModuleList()
        for _ in range(num_fcs):
            layers.append(nn.Linear(self.in_channels, self.in_channels, bias=False))
            layers.append(build_norm_layer(norm_cfg, self.in_channels)[1])
            layers.append(build_activation_layer(act_cfg))
        return layers

    def init_weights(self) -> None:
        """Xavier-uniform on every parameter with dim > 1, then the ``fc_cls`` bias prior."""
        super().init_weights()
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        nn.init.constant_(self.fc_cls.bias, bias_init_with_prob(0.01))

    def assemble_group_features(self, x: Tensor, mask_preds: Tensor) -> Tensor:
        """Sum the features under each binarised mask (no gradient to the masks).

        Args:
            x: (B, C, H, W) transformed features.
            mask_preds: (B, N, h, w) mask logits, resized to (H, W) when they differ.

        Returns:
            (B, N, C) group features.
        """
        if mask_preds.shape[-2:] != x.shape[-2:]:
            mask_preds = F.interpolate(mask_preds, size=x.shape[-2:], mode='bilinear',
                                       align_corners=False)
        binary = (mask_preds.sigmoid() > self.hard_mask_thr).float()
        return torch.einsum('bnhw,bchw->bnc', binary, x)

    def update_kernels(self, group_feats: Tensor, kernels: Tensor) -> Tensor:
        """Adaptive kernel update.

        Args:
            group_feats: (B, N, C) assembled features.
            kernels: (B, N, C, K, K) kernels of the previous stage.

        Returns:
            (B, N, K*K, C) updated kernels.
        """
        batch, num_kernels = kernels.shape[:2]
        kernels = kernels.reshape(batch * num_kernels, self.in_channels, -1).permute(0, 2, 1)
        updated = self.kernel_update_conv(group_feats.reshape(batch * num_kernels, -1), kernels)
        return updated.reshape(batch, num_kernels, -1, self.in_channels)

    def interact_kernels(self, obj_feat: Tensor) -> Tensor:
        """Self-attention among the N kernels (residual) + LayerNorm, then FFN + LayerNorm.

        Args:
            obj_feat: (B, N, K*K, C) kernels.

        Returns:
            (B, N, K*K, C) kernels after MHSA and FFN.
        """
        batch, num_kernels = obj_feat.shape[:2]
        seq = obj_feat.reshape(batch, num_kernels, -1).permute(1, 0, 2)
        seq = self.attention_norm(self.attention(seq))
        obj_feat = seq.permute(1, 0, 2).reshape(batch, num_kernels, -1, self.in_channels)
        return self.ffn_norm(self.ffn(obj_feat))

    def predict_cls(self, obj_feat: Tensor) -> Tensor:
        """(B, N, K*K, C) kernels -> (B, N, num_classes) class logits."""
        cls_feat = obj_feat.sum(dim=-2)
        for layer in self.cls_fcs:
            cls_feat = layer(cls_feat)
        return self.fc_cls(cls_feat)

    def predict_masks(self, obj_feat: Tensor, x: Tensor) -> Tensor:
        """Dynamic convolution of the transformed features with per-kernel weights.

        Args:
            obj_feat: (B, N, K*K, C) kernels.
            x: (B, C, H, W) transformed features.

        Returns:
            (B, N, H, W) mask logits.
        """
        mask_feat = obj_feat
        for layer in self.mask_fcs:
            mask_feat = layer(mask_feat)
        batch, num_kernels = obj_feat.shape[:2]
        k = self.conv_kernel_size
        weights = self.fc_mask(mask_feat).permute(0, 1, 3, 2).reshape(
            batch, num_kernels, self.out_channels, k, k)
        masks = [F.conv2d(x[i:i + 1], weights[i], padding=k // 2) for i in range(batch)]
        return torch.cat(masks, dim=0)

    def forward(self, x: Tensor, kernels: Tensor, mask_preds: Tensor) -> StageOutput:
        """One update stage.

        Args:
            x: (B, C, H, W) mask features ``x_feats`` (stride 8), the same for every stage.
            kernels: (B, N, C, K, K) kernels of the previous stage.
            mask_preds: (B, N, H, W) mask logits of the previous stage.

        Returns:
            ``cls_score`` (B, N, num_classes) logits, ``mask_preds`` (B, N, H, W) logits (also
            as ``scaled_mask_preds``: a stage does not upsample), ``obj_feat`` (B, N, C, K, K)
            the refined kernels (next stage's input) and ``group_feats`` (B, N, C) the
            assembled features; no ``obj_feat_track``.
        """
        x = self.feat_transform(x)
        group_feats = self.assemble_group_features(x, mask_preds)
        obj_feat = self.update_kernels(group_feats, kernels)
        obj_feat = self.interact_kernels(obj_feat)
        cls_score = self.predict_cls(obj_feat)
        new_masks = self.predict_masks(obj_feat, x)
        batch, num_kernels = obj_feat.shape[:2]
        kernel_shape = (self.in_channels, self.conv_kernel_size, self.conv_kernel_size)
        obj_feat = obj_feat.permute(0, 1, 3, 2).reshape(batch, num_kernels, *kernel_shape)
        return StageOutput(cls_score=cls_score, mask_preds=new_masks, obj_feat=obj_feat,
                           group_feats=group_feats, scaled_mask_preds=new_masks)

    def get_targets(self, sampling_results: Sequence[MaskSamplingResult],
                    targets: Sequence[MaskTargets],
                    num_kernels: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Classification and mask targets of a batch.

        Args:
            sampling_results: B results of ``MaskPseudoSampler.sample`` over the
                N_th = N - num_stuff_classes thing kernels.
            targets: B per-image targets at the loss stride (h, w).
            num_kernels: N, thing + stuff kernels.

        Returns:
            ``(labels, label_weights, mask_targets)``: (B*N,) labels (``num_classes`` =
            background), (B*N, num_classes) weights and (B*N, h, w) soft mask targets.
        """
        per_image = [self._targets_single(s, t, num_kernels)
                     for s, t in zip(sampling_results, targets)]
        labels, label_weights, mask_targets = (torch.cat(parts, dim=0)
                                               for parts in zip(*per_image))
        return labels, label_weights, mask_targets

    def _targets_single(self, sampling: MaskSamplingResult, target: MaskTargets,
                        num_kernels: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Thing rows from the matching, then the fixed class-indexed stuff rows."""
        num_things = num_kernels - self.num_stuff_classes
        ref = target.thing_masks
        size = tuple(ref.shape[-2:])
        labels = ref.new_full((num_kernels, ), self.num_classes, dtype=torch.long)
        label_weights = ref.new_zeros((num_kernels, self.num_classes))
        mask_targets = ref.new_zeros((num_kernels, ) + size)
        label_weights[:num_things, :self.num_thing_classes] = 1.0
        pos_inds = sampling.pos_inds
        if pos_inds.numel() > 0:
            if sampling.pos_gt_labels is None:
                raise ValueError('stage targets need an assignment with labels (gt_labels '
                                 'given to the assigner)')
            labels[pos_inds] = sampling.pos_gt_labels
            mask_targets[pos_inds] = sampling.pos_gt_masks.to(mask_targets.dtype)
        stuff_rows = target.stuff_labels - self.num_thing_classes + num_things
        labels[stuff_rows] = target.stuff_labels
        mask_targets[stuff_rows] = target.stuff_masks.to(mask_targets.dtype)
        stuff_cols = torch.arange(self.num_stuff_classes, device=ref.device)
        label_weights[num_things + stuff_cols, self.num_thing_classes + stuff_cols] = 1.0
        return labels, label_weights, mask_targets

    def loss_by_feat(self, cls_score: Tensor, mask_preds: Tensor,
                     sampling_results: Sequence[MaskSamplingResult],
                     targets: Sequence[MaskTargets]) -> Dict[str, Tensor]:
        """Stage losses ``loss_cls``, ``loss_mask``, ``loss_dice`` [, ``loss_rank``] + pos_acc.

        Args:
            cls_score: (B, N, num_classes) class logits.
            mask_preds: (B, N, h, w) mask logits at the loss stride.
            sampling_results: B sampling results of the thing kernels.
            targets: B per-image targets at (h, w).

        Returns:
            dict of scalar losses (and ``pos_acc``, logged only).
        """
        batch, num_kernels = mask_preds.shape[:2]
        labels, label_weights, mask_targets = self.get_targets(sampling_results, targets,
                                                               num_kernels)
        pos = labels < self.num_classes
        avg_factor = reduce_mean(pos.sum().float()).clamp(min=1.0)
        flat_cls = cls_score.reshape(batch * num_kernels, -1)
        losses = dict(
            loss_cls=self.loss_cls(flat_cls, labels, label_weights, avg_factor=avg_factor),
            pos_acc=accuracy(flat_cls[pos].detach(), labels[pos]))
        flat_masks = mask_preds.reshape(batch * num_kernels, *mask_preds.shape[-2:])
        if pos.any():
            losses['loss_mask'] = self.loss_mask(flat_masks[pos], mask_targets[pos])
            losses['loss_dice'] = self.loss_dice(flat_masks[pos], mask_targets[pos])
            if self.loss_rank is not None:
                rank = rank_targets(pos.view(batch, num_kernels),
                                    mask_targets.view(batch, num_kernels, *mask_targets.shape[1:]),
                                    self.ignore_label)
                losses['loss_rank'] = self.loss_rank(mask_preds, rank)
        else:
            zero = mask_preds.sum() * 0
            losses.update(loss_mask=zero, loss_dice=zero)
            if self.loss_rank is not None:
                losses['loss_rank'] = zero
        return losses
