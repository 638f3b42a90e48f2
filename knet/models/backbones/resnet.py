"""ResNet backbone with mmdet semantics on torchvision blocks (docs/model.md, backbone).

Follows ``mmdet/models/backbones/resnet.py`` behaviour: ``frozen_stages`` freezes the stem and the
first stages, ``norm_eval`` keeps every BatchNorm in eval mode, ``style='pytorch'`` puts the
stride on the 3x3 conv (torchvision's layout). Parameter names equal torchvision's minus ``fc``
(``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``, ``layer1.0.downsample.0.weight``), so a
torchvision ImageNet file loads directly and, under a detector, the keys are
``backbone.layer1.0.conv1.weight`` exactly like the original mmcv checkpoints.

``SyncBN`` builds ``torch.nn.SyncBatchNorm`` (same keys as BN). It also runs in a single CPU
process (it only synchronises when a process group is initialized and it is in train mode);
with ``norm_eval=True`` it behaves as a frozen BN anyway.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch.nn as nn
import torchvision.models as tvm
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from knet.registry import MODELS
from .pretrained import load_pretrained_backbone, resolve_pretrained

_ARCHS: Dict[int, Tuple[Callable[..., tvm.ResNet], int]] = {
    18: (tvm.resnet18, 1),
    34: (tvm.resnet34, 1),
    50: (tvm.resnet50, 4),
    101: (tvm.resnet101, 4),
}
_NORMS: Dict[str, Callable[[int], nn.Module]] = {
    'BN': nn.BatchNorm2d,
    'BN2d': nn.BatchNorm2d,
    'SyncBN': nn.SyncBatchNorm,
}


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet-18/34/50/101 returning the stage outputs C2..C5.

    Args:
        depth: 18, 34, 50 or 101.
        num_stages: Number of residual stages kept (1..4); later stages are removed.
        out_indices: Stages whose outputs are returned (0 = layer1, stride 4).
        frozen_stages: -1 freezes nothing; k >= 0 freezes the stem and layer1..layerk
            (requires_grad False, BN in eval mode).
        norm_cfg: ``dict(type='BN'|'SyncBN', requires_grad=bool)``.
        norm_eval: Keep every BatchNorm in eval mode during training.
        style: Only ``'pytorch'`` (stride on the 3x3 conv) is supported.
        pretrained: Local torchvision/mmcv checkpoint path loaded by :meth:`init_weights`.
        init_cfg: Alternatively ``dict(type='Pretrained', checkpoint=PATH)``.
    """

    def __init__(self,
                 depth: int = 50,
                 num_stages: int = 4,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_cfg: Optional[dict] = None,
                 norm_eval: bool = True,
                 style: str = 'pytorch',
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=None)
        if depth not in _ARCHS:
            raise ValueError(f'ResNet: depth must be one of {sorted(_ARCHS)}, got {depth}')
        if style != 'pytorch':
            raise ValueError(f"ResNet: only style='pytorch' is supported, got {style!r}")
        if not 1 <= num_stages <= 4:
            raise ValueError(f'ResNet: num_stages must be in 1..4, got {num_stages}')
        if not out_indices or max(out_indices) >= num_stages or min(out_indices) < 0:
            raise ValueError(f'ResNet: out_indices {out_indices} must lie in [0, {num_stages})')
        norm_cfg = dict(type='BN', requires_grad=True) if norm_cfg is None else dict(norm_cfg)
        norm_type = norm_cfg.get('type', 'BN')
        if norm_type not in _NORMS:
            raise ValueError(f'ResNet: norm_cfg.type must be one of {sorted(_NORMS)}, '
                             f'got {norm_type!r}')
        self.depth = depth
        self.num_stages = num_stages
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.pretrained = resolve_pretrained(pretrained, init_cfg, 'ResNet')

        constructor, expansion = _ARCHS[depth]
        net = constructor(weights=None, norm_layer=_NORMS[norm_type])
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.res_layers = [f'layer{i + 1}' for i in range(num_stages)]
        for name in self.res_layers:
            self.add_module(name, getattr(net, name))
        self.out_channels = [64 * 2**i * expansion for i in range(num_stages)]
        if not norm_cfg.get('requires_grad', True):
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.requires_grad_(False)
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        """Freeze the stem and layer1..layer{frozen_stages} (params and BN statistics)."""
        if self.frozen_stages < 0:
            return
        frozen = [self.conv1, self.bn1]
        frozen += [getattr(self, f'layer{i}')
                   for i in range(1, min(self.frozen_stages, self.num_stages) + 1)]
        for module in frozen:
            module.eval()
            module.requires_grad_(False)

    def init_weights(self) -> None:
        """Load ``pretrained`` if given; otherwise keep torchvision's default init."""
        if self.pretrained is not None:
            load_pretrained_backbone(self, self.pretrained, drop_prefixes=('fc.',))
        self._is_init = True

    def train(self, mode: bool = True) -> 'ResNet':
        """Switch mode, keeping frozen stages and (with ``norm_eval``) all BNs in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Run the network.

        Args:
            x: Images (B, 3, H, W).

        Returns:
            Outputs of the stages in ``out_indices``; stage i has shape
            (B, out_channels[i], H / 2**(i + 2), W / 2**(i + 2)).
        """
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
