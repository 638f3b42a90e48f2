"""Temporal kernel linking of Video K-Net (docs/model.md).

Follows ``VideoKernelUpdateHead`` (``previous_type='ffn'``) and ``VideoKernelIterHead`` of the
original Video K-Net's ``knet/video/kernel_update_head.py`` / ``kernel_iter_head.py``, as a
subclass of the image heads: the update stage runs :meth:`KernelUpdateHead.forward` unchanged
and then, when it receives the previous frame's kernels, computes *track kernels*

    t = attention_previous_norm(q + MHA(q, kv, kv)),  obj_feat_track = link_ffn_norm(t + FFN(t))

with q = this stage's refined kernels and kv = the previous kernels. The link changes neither
the class scores, nor the masks, nor the kernels passed on: it only feeds the tracking
embeddings. The original builds the link modules in every stage but only the last one uses them;
:class:`VideoKernelIterHead` builds them in the last stage only, so every parameter receives a
gradient (no ``find_unused_parameters`` under DDP) and a K-Net image checkpoint reports exactly
the link modules of that stage as missing.
"""
import copy
from typing import Any, List, Optional, Sequence, Union

from mmcv.cnn import build_norm_layer
from torch import Tensor

from knet.models.heads import KernelIterHead, KernelUpdateHead, StageOutput
from knet.models.heads.kernel_iter_head import per_stage_configs
from knet.models.heads.utils import ConfigType
from knet.models.layers import FFN, MultiheadAttention
from knet.registry import MODELS


@MODELS.register_module()
class VideoKernelUpdateHead(KernelUpdateHead):
    """A kernel update stage that can link its kernels to the previous frame's kernels.

    Args:
        with_link: build the link modules ``attention_previous``, ``attention_previous_norm``,
            ``link_ffn`` and ``link_ffn_norm`` (the last stage only, see
            :class:`VideoKernelIterHead`).
        link_num_heads: heads of ``attention_previous`` (8 in the original, hard-coded).
        feedforward_channels: hidden width of the stage FFN and of ``link_ffn``.
        num_ffn_fcs: Linear layers of both FFNs.
        ffn_act_cfg: activation of both FFNs.
        dropout: dropout of the attentions and FFNs (0 in every config).
        **kwargs: the other arguments of :class:`KernelUpdateHead`.
    """

    def __init__(self,
                 with_link: bool = True,
                 link_num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 num_ffn_fcs: int = 2,
                 ffn_act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 dropout: float = 0.0,
                 **kwargs) -> None:
        super().__init__(feedforward_channels=feedforward_channels, num_ffn_fcs=num_ffn_fcs,
                         ffn_act_cfg=ffn_act_cfg, dropout=dropout, **kwargs)
        self.with_link = with_link
        if with_link:
            kernel_dims = self.in_channels * self.conv_kernel_size**2
            self.attention_previous = MultiheadAttention(kernel_dims, link_num_heads,
                                                         attn_drop=dropout)
            self.attention_previous_norm = build_norm_layer(dict(type='LN'), kernel_dims)[1]
            self.link_ffn = FFN(self.in_channels, feedforward_channels, num_fcs=num_ffn_fcs,
                                act_cfg=ffn_act_cfg, ffn_drop=dropout)
            self.link_ffn_norm = build_norm_layer(dict(type='LN'), self.in_channels)[1]

    def link_kernels(self, obj_feat: Tensor, previous_obj_feats: Tensor) -> Tensor:
        """Cross-attend the current kernels to the previous ones, then FFN.

        Args:
            obj_feat: (B, N, C, K, K) refined kernels of this stage (queries).
            previous_obj_feats: (B, N', C, K, K) final-stage kernels of the previous (training:
                reference) frame (keys and values); not detached.

        Returns:
            (B, N, C, K, K) track kernels ``obj_feat_track``.
        """
        if previous_obj_feats.shape[0] != obj_feat.shape[0] or \
                previous_obj_feats.shape[2:] != obj_feat.shape[2:]:
            raise ValueError(f'previous_obj_feats {tuple(previous_obj_feats.shape)} does not fit '
                             f'the kernels {tuple(obj_feat.shape)}: expected (B, N, C, K, K)')
        batch, num_kernels = obj_feat.shape[:2]
        channels, k = self.in_channels, self.conv_kernel_size

        def as_seq(kernels: Tensor) -> Tensor:
            # (B, N, C, K, K) -> (N, B, K*K*C), the layout of the stage's self-attention.
            feat = kernels.reshape(kernels.shape[0], kernels.shape[1], channels, -1)
            return feat.permute(1, 0, 3, 2).reshape(kernels.shape[1], kernels.shape[0], -1)

        query, memory = as_seq(obj_feat), as_seq(previous_obj_feats)
        linked = self.attention_previous_norm(self.attention_previous(query, memory, memory))
        linked = linked.permute(1, 0, 2).reshape(batch, num_kernels, k * k, channels)
        linked = self.link_ffn_norm(self.link_ffn(linked))
        return linked.permute(0, 1, 3, 2).reshape(batch, num_kernels, channels, k, k)

    def forward(self, x: Tensor, kernels: Tensor, mask_preds: Tensor,
                previous_obj_feats: Optional[Tensor] = None) -> StageOutput:
        """One update stage, optionally linked to the previous frame.

        Args:
            x: (B, C, H, W) mask features ``x_feats`` (stride 8).
            kernels: (B, N, C, K, K) kernels of the previous stage.
            mask_preds: (B, N, H, W) mask logits of the previous stage.
            previous_obj_feats: (B, N, C, K, K) final kernels of the previous / reference frame,
                or None (first frame of a sequence, reference-frame pass, earlier stages).

        Returns:
            the outputs of :meth:`KernelUpdateHead.forward` with ``obj_feat_track``
            (B, N, C, K, K), or None when no previous kernels were given.
        """
        out = super().forward(x, kernels, mask_preds)
        if previous_obj_feats is None:
            return out
        if not self.with_link:
            raise RuntimeError('previous_obj_feats given to an update stage built with '
                               'with_link=False (only the last stage links kernels)')
        return out._replace(obj_feat_track=self.link_kernels(out.obj_feat, previous_obj_feats))


@MODELS.register_module()
class VideoKernelIterHead(KernelIterHead):
    """:class:`KernelIterHead` whose last stage alone owns the temporal link.

    ``mask_head`` (one config replicated S times, or a list of S configs) gets
    ``with_link=True`` for the last stage and ``with_link=False`` for the others. The previous
    kernels reach the last stage through ``last_stage_kwargs=dict(previous_obj_feats=...)``.

    Args: see :class:`KernelIterHead`; only these two are read here, the others pass through
    ``**kwargs``:

        num_stages: number of update stages S.
        mask_head: :class:`VideoKernelUpdateHead` config(s) (the default type differs from
            :class:`KernelIterHead`'s).
    """

    def __init__(self, *, num_stages: int = 3,
                 mask_head: Union[ConfigType, Sequence[ConfigType]] = dict(
                     type='VideoKernelUpdateHead'),
                 **kwargs: Any) -> None:
        super().__init__(num_stages=num_stages,
                         mask_head=self.link_last_stage(mask_head, num_stages), **kwargs)

    @staticmethod
    def link_last_stage(mask_head: Union[ConfigType, Sequence[ConfigType]],
                        num_stages: int) -> List[ConfigType]:
        """S stage configs with ``with_link`` set for the last stage only."""
        stages = per_stage_configs(mask_head, num_stages, 'mask_head')
        return [dict(copy.deepcopy(cfg), with_link=s == num_stages - 1)
                for s, cfg in enumerate(stages)]
