"""Feature Pyramid Network with mmdet semantics (docs/model.md).

Behaviour of ``mmdet/models/necks/fpn.py``: 1x1 lateral convs, top-down nearest upsampling and
addition, 3x3 output convs, optional extra stride-2 levels (up to P8 with 4 inputs and
``num_outs=7``). Sub-module names (``lateral_convs.{i}.conv``, ``fpn_convs.{i}.conv``) match the
original checkpoints key-for-key. Conv weights are Xavier-uniform, biases 0.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from knet.registry import MODELS

_EXTRA_MODES = ('on_input', 'on_lateral', 'on_output')


@MODELS.register_module()
class FPN(BaseModule):
    """Feature pyramid over backbone maps.

    Args:
        in_channels: Channels of every backbone output, e.g. [256, 512, 1024, 2048].
        out_channels: Channels of every pyramid level.
        num_outs: Number of returned levels (>= the number of used inputs).
        start_level: First backbone level used.
        end_level: Last backbone level used (-1 = the last one).
        add_extra_convs: False (extra levels by max-pooling), True (= 'on_input'),
            'on_input', 'on_lateral' or 'on_output' (source of the first extra stride-2 conv).
        relu_before_extra_convs: Apply ReLU before every extra conv but the first.
        norm_cfg: Optional norm of the convs (the reference uses none; convs then have bias).
        act_cfg: Optional activation of the convs (the reference uses none).
        upsample_mode: Interpolation mode of the top-down path.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_outs: int,
                 start_level: int = 0,
                 end_level: int = -1,
                 add_extra_convs: Union[bool, str] = False,
                 relu_before_extra_convs: bool = False,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 upsample_mode: str = 'nearest') -> None:
        super().__init__(init_cfg=None)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs
        self.start_level = start_level
        self.end_level = len(self.in_channels) - 1 if end_level == -1 else end_level
        self.relu_before_extra_convs = relu_before_extra_convs
        self.upsample_mode = upsample_mode
        if add_extra_convs is True:
            add_extra_convs = 'on_input'
        if add_extra_convs not in (False,) + _EXTRA_MODES:
            raise ValueError(f'FPN: add_extra_convs must be False, True or one of {_EXTRA_MODES}, '
                             f'got {add_extra_convs!r}')
        self.add_extra_convs = add_extra_convs
        if not 0 <= start_level <= self.end_level < len(self.in_channels):
            raise ValueError(f'FPN: need 0 <= start_level <= end_level < {len(self.in_channels)},'
                             f' got start_level={start_level}, end_level={end_level}')
        self.num_used = self.end_level - start_level + 1
        if num_outs < self.num_used:
            raise ValueError(f'FPN: num_outs={num_outs} < number of used inputs {self.num_used}')

        conv_kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False)
        self.lateral_convs = nn.ModuleList(
            ConvModule(self.in_channels[i], out_channels, 1, **conv_kw)
            for i in range(start_level, self.end_level + 1))
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, **conv_kw)
            for _ in range(self.num_used))
        if add_extra_convs:
            for i in range(num_outs - self.num_used):
                in_ch = (self.in_channels[self.end_level]
                         if i == 0 and add_extra_convs == 'on_input' else out_channels)
                self.fpn_convs.append(
                    ConvModule(in_ch, out_channels, 3, stride=2, padding=1, **conv_kw))
        self._init_conv_weights()

    def _init_conv_weights(self) -> None:
        """Xavier-uniform conv weights, zero biases (mmdet FPN ``init_cfg``)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        """Re-apply the Xavier init (called by mmengine's runner)."""
        self._init_conv_weights()
        self._is_init = True

    def _extra_levels(self, inputs: Sequence[Tensor], laterals: List[Tensor],
                      outs: List[Tensor]) -> None:
        """Append the levels beyond the used inputs to ``outs`` (in place)."""
        if not self.add_extra_convs:
            while len(outs) < self.num_outs:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            return
        sources = {'on_input': inputs[self.end_level], 'on_lateral': laterals[-1],
                   'on_output': outs[-1]}
        outs.append(self.fpn_convs[self.num_used](sources[self.add_extra_convs]))
        for i in range(self.num_used + 1, self.num_outs):
            src = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
            outs.append(self.fpn_convs[i](src))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Build the pyramid.

        Args:
            inputs: Backbone maps; input i is (B, in_channels[i], H_i, W_i).

        Returns:
            ``num_outs`` maps (B, out_channels, H_l, W_l); the extra levels halve the size of the
            previous one (ceil).
        """
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'FPN: expected {len(self.in_channels)} inputs, got {len(inputs)}')
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        for i in range(self.num_used - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode=self.upsample_mode)
        outs = [self.fpn_convs[i](laterals[i]) for i in range(self.num_used)]
        if self.num_outs > self.num_used:
            self._extra_levels(inputs, laterals, outs)
        return tuple(outs)
