"""Swin Transformer backbone (torchvision implementation) for the larger model (docs/model.md).

A thin wrapper over ``torchvision.models.swin_transformer.SwinTransformer``: it keeps the
``features`` trunk, drops the classifier (``norm``, ``head``), adds one LayerNorm per returned stage
(``norm{i}``, as mmdet's ``SwinTransformer``) and returns NCHW maps at strides 4/8/16/32.
Parameter names follow torchvision (``features.*``), so a torchvision ImageNet ``swin_b`` file
loads directly; checkpoints of the original Video K-Net's Swin (Microsoft key layout:
``patch_embed.*``, ``layers.N.blocks.M.*``) convert with ``tools/convert_checkpoint.py``
(docs/compatibility.md).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torchvision.models.swin_transformer import SwinTransformer

from knet.registry import MODELS
from .pretrained import load_pretrained_backbone, resolve_pretrained

#: torchvision's Swin variants: embed_dim, depths, num_heads.
_ARCHS: Dict[str, dict] = {
    't': dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    's': dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    'b': dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
}


@MODELS.register_module()
class TVSwin(BaseModule):
    """Swin-T/S/B feature extractor returning four NCHW maps.

    Args:
        arch: ``'t'``, ``'s'``, ``'b'`` or a dict with ``embed_dim``, ``depths`` (4 ints) and
            ``num_heads`` (4 ints), e.g. a tiny variant for tests.
        window_size: Attention window (7 for ImageNet-1k 224 weights, 12 for the 384 ones).
        drop_path_rate: Stochastic-depth probability of the last block.
        out_indices: Stages to return (0..3).
        pretrained: Local torchvision checkpoint path loaded by :meth:`init_weights`.
        init_cfg: Alternatively ``dict(type='Pretrained', checkpoint=PATH)``.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 window_size: int = 7,
                 drop_path_rate: float = 0.3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=None)
        if isinstance(arch, str):
            if arch not in _ARCHS:
                raise ValueError(f'TVSwin: arch must be one of {sorted(_ARCHS)} or a dict, '
                                 f'got {arch!r}')
            arch = _ARCHS[arch]
        missing = {'embed_dim', 'depths', 'num_heads'} - set(arch)
        if missing or len(arch['depths']) != 4 or len(arch['num_heads']) != 4:
            raise ValueError(f'TVSwin: arch dict needs embed_dim and 4 depths / num_heads, '
                             f'got {arch}')
        if not out_indices or min(out_indices) < 0 or max(out_indices) > 3:
            raise ValueError(f'TVSwin: out_indices {out_indices} must lie in [0, 3]')
        net = SwinTransformer(patch_size=[4, 4], embed_dim=arch['embed_dim'],
                              depths=list(arch['depths']), num_heads=list(arch['num_heads']),
                              window_size=[window_size, window_size],
                              stochastic_depth_prob=drop_path_rate)
        self.features = net.features
        self.out_indices = tuple(out_indices)
        self.out_channels: List[int] = [arch['embed_dim'] * 2**i for i in range(4)]
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(self.out_channels[i]))
        self.pretrained = resolve_pretrained(pretrained, init_cfg, 'TVSwin')

    def init_weights(self) -> None:
        """Load ``pretrained`` if given (classifier ``head``/``norm`` keys are dropped)."""
        if self.pretrained is not None:
            load_pretrained_backbone(self, self.pretrained, drop_prefixes=('head.', 'norm.'),
                                     allow_missing=tuple(f'norm{i}.' for i in self.out_indices))
        self._is_init = True

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Run the network.

        Args:
            x: Images (B, 3, H, W), H and W preferably multiples of 32.

        Returns:
            For each stage i in ``out_indices``, a map (B, out_channels[i], H / 2**(i + 2),
            W / 2**(i + 2)).
        """
        outs = []
        for idx, layer in enumerate(self.features):
            x = layer(x)
            stage = (idx - 1) // 2
            if idx % 2 == 1 and stage in self.out_indices:
                out = getattr(self, f'norm{stage}')(x)
                outs.append(out.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
