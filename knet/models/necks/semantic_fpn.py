"""Semantic FPN wrapper producing the stride-8 mask features (docs/model.md).

Follows the behaviour of K-Net's ``knet/det/semantic_fpn_wrapper.py``: every used pyramid level
is brought to a common stride by 3x3 ConvModules (conv -> norm -> act) and bilinear x2 upsampling
(or stride-2 convs for the finest level), the coarsest level first receives a sine positional
encoding (and optionally two coordinate channels), the level outputs are summed, and two 1x1
ConvModules give the thing/localization feature (``conv_pred``) and the stuff feature
(``aux_convs.0``). Convs are N(0, 0.01) with zero bias.

Level ``l`` (relative stride 2**l to level 0) with ``d = end_level - upsample_times`` gets:
``l == 0``: ``d`` stride-2 convs (one stride-1 conv when ``d == 0``); ``l >= 1``: ``l`` convs, the
first ``l - d`` of them followed by an ``nn.Upsample(x2)``. The output stride is that of level ``d``
(stride 8 for P2..P5 with ``end_level=3, upsample_times=2``).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from knet.registry import MODELS


@MODELS.register_module()
class SemanticFPNWrapper(BaseModule):
    """Fuse FPN levels into mask features at one stride.

    Args:
        in_channels: Channels of the FPN maps.
        feat_channels: Channels of the per-level branches.
        out_channels: Channels of the outputs.
        start_level: First FPN level used.
        end_level: Last (coarsest) FPN level used.
        upsample_times: Number of x2 upsamplings of the coarsest level.
        positional_encoding: Config of a positional encoding (e.g. ``SinePositionalEncoding``)
            added to level ``cat_coors_level``; its channels must equal ``in_channels``.
        cat_coors: Concatenate (x, y) coordinates in [-1, 1] to level ``cat_coors_level``.
        cat_coors_level: Level receiving the encoding/coordinates (None = ``end_level``).
        out_positional_encoding: Config of a positional encoding added to the thing output
            (after ``conv_pred``), so the thing kernels see position directly; its channels must
            equal ``out_channels``. Not in the original (None there, and in every config here):
            tried for the CPU demo, it did not reduce merged look-alike instances
            (docs/demo_recipe.md).
        num_aux_convs: Number of extra 1x1 output heads (1 gives the stuff feature).
        norm_cfg: Norm of every conv (the reference: GN with 32 groups).
        act_cfg: Activation of the per-level convs.
        out_act_cfg: Activation of ``conv_pred`` and ``aux_convs``.
        conv_cfg: Optional conv config.
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: int,
                 out_channels: int,
                 start_level: int = 0,
                 end_level: int = 3,
                 upsample_times: int = 2,
                 positional_encoding: Optional[dict] = None,
                 cat_coors: bool = False,
                 cat_coors_level: Optional[int] = None,
                 out_positional_encoding: Optional[dict] = None,
                 num_aux_convs: int = 1,
                 norm_cfg: Optional[dict] = dict(type='GN', num_groups=32, requires_grad=True),
                 act_cfg: Optional[dict] = dict(type='ReLU', inplace=True),
                 out_act_cfg: Optional[dict] = dict(type='ReLU'),
                 conv_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=None)
        if not 0 <= start_level <= end_level:
            raise ValueError(f'SemanticFPNWrapper: need 0 <= start_level <= end_level, got '
                             f'{start_level}, {end_level}')
        num_down = end_level - upsample_times
        if upsample_times < 0 or num_down < 0 or max(start_level, 1) < num_down:
            raise ValueError(f'SemanticFPNWrapper: upsample_times={upsample_times} does not fit '
                             f'levels {start_level}..{end_level}: only level 0 can be '
                             f'downsampled, so need 0 <= end_level - upsample_times <= '
                             f'max(start_level, 1)')
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.out_channels = out_channels
        self.start_level = start_level
        self.end_level = end_level
        self.upsample_times = upsample_times
        self.cat_coors = cat_coors
        self.cat_coors_level = end_level if cat_coors_level is None else cat_coors_level
        self._conv_kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False)
        self.positional_encoding = self._build_encoding(positional_encoding, in_channels,
                                                        'positional encoding', 'in_channels')
        self.out_positional_encoding = self._build_encoding(
            out_positional_encoding, out_channels, 'output positional encoding', 'out_channels')
        self.convs_all_levels = nn.ModuleList(
            self._build_level(level) for level in range(start_level, end_level + 1))
        self.conv_pred = ConvModule(feat_channels, out_channels, 1, conv_cfg=conv_cfg,
                                    norm_cfg=norm_cfg, act_cfg=out_act_cfg)
        self.aux_convs = nn.ModuleList(
            ConvModule(feat_channels, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=out_act_cfg) for _ in range(num_aux_convs))
        self._init_conv_weights()

    @staticmethod
    def _build_encoding(cfg: Optional[dict], channels: int, key: str,
                        channels_key: str) -> Optional[nn.Module]:
        """Build the positional encoding ``cfg`` (None: none) giving ``channels`` channels."""
        if cfg is None:
            return None
        encoding = MODELS.build(cfg)
        got = 2 * getattr(encoding, 'num_feats', channels // 2)
        if got != channels:
            raise ValueError(f'SemanticFPNWrapper: {key} gives {got} channels but '
                             f'{channels_key}={channels}')
        return encoding

    @staticmethod
    def _add_encoding(encoding: nn.Module, x: Tensor) -> Tensor:
        """``x`` plus ``encoding`` of a map of its size (every position valid)."""
        valid = x.new_zeros((x.shape[0], ) + x.shape[-2:], dtype=torch.bool)
        return x + encoding(valid).to(x.dtype)

    def _build_level(self, level: int) -> nn.Sequential:
        """Build the conv/upsample branch bringing ``level`` to the output stride."""
        in_ch = self.in_channels + (2 if self.cat_coors and level == self.cat_coors_level else 0)
        num_down = self.end_level - self.upsample_times
        branch = nn.Sequential()
        if level == 0:
            for k in range(max(num_down, 1)):
                branch.add_module(f'conv{k}', ConvModule(
                    in_ch if k == 0 else self.feat_channels, self.feat_channels, 3,
                    stride=2 if num_down > 0 else 1, padding=1, **self._conv_kw))
            return branch
        for j in range(level):
            branch.add_module(f'conv{j}', ConvModule(
                in_ch if j == 0 else self.feat_channels, self.feat_channels, 3, padding=1,
                **self._conv_kw))
            if j < level - num_down:
                branch.add_module(f'upsample{j}', nn.Upsample(
                    scale_factor=2, mode='bilinear', align_corners=False))
        return branch

    def _init_conv_weights(self) -> None:
        """Every Conv2d ~ N(0, 0.01), bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, mean=0., std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        """Re-apply the N(0, 0.01) init (called by mmengine's runner)."""
        self._init_conv_weights()
        self._is_init = True

    @staticmethod
    def _coord_feat(x: Tensor) -> Tensor:
        """Coordinates (B, 2, H, W): channel 0 = x, channel 1 = y, both linspace(-1, 1)."""
        b, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
        return torch.stack([grid_x, grid_y]).expand(b, -1, -1, -1)

    def forward(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Fuse the levels.

        Args:
            inputs: FPN maps; level l is (B, in_channels, H / s_l, W / s_l).

        Returns:
            ``[out, *aux]``: ``out`` from ``conv_pred`` (thing/localization feature) and one map per
            aux conv (the stuff feature), each (B, out_channels, H / s, W / s) with s the stride of
            level ``end_level - upsample_times`` (8 in the reference).
        """
        if len(inputs) <= self.end_level:
            raise ValueError(f'SemanticFPNWrapper: needs levels up to {self.end_level}, got '
                             f'{len(inputs)} inputs')
        fused = None
        for level, branch in zip(range(self.start_level, self.end_level + 1),
                                 self.convs_all_levels):
            x = inputs[level]
            if level == self.cat_coors_level:
                if self.positional_encoding is not None:
                    x = self._add_encoding(self.positional_encoding, x)
                if self.cat_coors:
                    x = torch.cat([x, self._coord_feat(x)], dim=1)
            y = branch(x)
            fused = y if fused is None else fused + y
        out = self.conv_pred(fused)
        if self.out_positional_encoding is not None:
            out = self._add_encoding(self.out_positional_encoding, out)
        return [out] + [conv(fused) for conv in self.aux_convs]
