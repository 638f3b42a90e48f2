"""DETR-style sine positional encoding of the semantic FPN (docs/model.md).

Same computation as mmdet's ``SinePositionalEncoding``
(``mmdet/models/layers/positional_encoding.py``):
cumulative sums of the valid mask along y and x, optionally normalized by their last value
(+eps) and scaled by ``scale``; channel i uses ``temperature ** (2 * (i // 2) / num_feats)``,
even channels take sin and odd channels cos; output = concat(y-part, x-part).
"""
import math

import torch
from torch import Tensor, nn

from knet.registry import MODELS


@MODELS.register_module()
class SinePositionalEncoding(nn.Module):
    """Sine positional encoding with ``2 * num_feats`` channels.

    Args:
        num_feats: Channels per axis (the output has twice as many).
        temperature: Frequency base.
        normalize: Normalize the cumulative positions to (0, scale].
        scale: Scale of the normalized positions.
        eps: Added to the normalizer.
        offset: Added to the positions before normalization.
    """

    def __init__(self,
                 num_feats: int = 128,
                 temperature: int = 10000,
                 normalize: bool = True,
                 scale: float = 2 * math.pi,
                 eps: float = 1e-6,
                 offset: float = 0.) -> None:
        super().__init__()
        self.num_feats = num_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale
        self.eps = eps
        self.offset = offset

    def forward(self, mask: Tensor) -> Tensor:
        """Encode positions.

        Args:
            mask: (B, H, W) bool, True at padded (invalid) pixels.

        Returns:
            (B, 2 * num_feats, H, W) float32: channels [0, num_feats) encode y,
            [num_feats, 2 * num_feats) encode x.
        """
        not_mask = (~mask.bool()).to(torch.float32)
        y_embed = not_mask.cumsum(1)
        x_embed = not_mask.cumsum(2)
        if self.normalize:
            y_embed = (y_embed + self.offset) / (y_embed[:, -1:, :] + self.eps) * self.scale
            x_embed = (x_embed + self.offset) / (x_embed[:, :, -1:] + self.eps) * self.scale
        dim_t = torch.arange(self.num_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature**(2 * torch.div(dim_t, 2, rounding_mode='floor') / self.num_feats)
        parts = []
        for embed in (y_embed, x_embed):
            pos = embed[..., None] / dim_t
            pos = torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=4).flatten(3)
            parts.append(pos)
        return torch.cat(parts, dim=3).permute(0, 3, 1, 2).contiguous()
