"""Attention and feed-forward blocks with mmcv's semantics and parameter names (no mmcv-full:
plain PyTorch modules whose keys match the original checkpoints).

``MultiheadAttention`` is ``nn.MultiheadAttention`` (as ``.attn``) plus dropout and a residual
(identity = query), like ``mmcv.cnn.bricks.transformer.MultiheadAttention``. ``FFN`` is
Linear-act-Dropout-...-Linear-Dropout plus a residual, named ``layers.0.0`` / ``layers.1`` /
``layers.2`` like mmcv's ``FFN``. Not registered: mmcv already registers both names in the root
registry; import them from :mod:`knet.models.layers`.
"""
from typing import List, Optional

from mmcv.cnn import build_activation_layer
from torch import Tensor, nn


class MultiheadAttention(nn.Module):
    """Multi-head attention with residual connection.

    Args:
        embed_dims: Channels C of queries, keys and values.
        num_heads: Number of heads.
        attn_drop: Dropout on the attention weights.
        proj_drop: Dropout on the output before the residual.
        batch_first: Inputs are (B, N, C) instead of (N, B, C).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 batch_first: bool = False) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.batch_first = batch_first
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=attn_drop,
                                          batch_first=batch_first)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self,
                query: Tensor,
                key: Optional[Tensor] = None,
                value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None,
                key_pos: Optional[Tensor] = None,
                attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Attend and add the residual.

        Args:
            query: (N_q, B, C) ((B, N_q, C) with ``batch_first``).
            key: (N_k, B, C); defaults to ``query``.
            value: (N_k, B, C); defaults to ``key``.
            identity: Residual (N_q, B, C); defaults to ``query``.
            query_pos: Optional positional embedding added to ``query`` (not to the residual).
            key_pos: Optional positional embedding added to ``key``; defaults to ``query_pos``
                when ``key`` is None.
            attn_mask: Optional (N_q, N_k) or (B * num_heads, N_q, N_k) mask.
            key_padding_mask: Optional (B, N_k) bool mask, True = ignore.

        Returns:
            ``identity + proj_drop(attention)``, same shape as ``query``.
        """
        if key is None:
            key = query
            if key_pos is None:
                key_pos = query_pos
        if value is None:
            value = key
        if identity is None:
            identity = query
        if query_pos is not None:
            query = query + query_pos
        if key_pos is not None:
            key = key + key_pos
        out = self.attn(query, key, value, attn_mask=attn_mask,
                        key_padding_mask=key_padding_mask, need_weights=False)[0]
        return identity + self.proj_drop(out)


class FFN(nn.Module):
    """Feed-forward network with residual connection.

    Args:
        embed_dims: Input and output channels C.
        feedforward_channels: Hidden channels.
        num_fcs: Number of Linear layers (>= 2).
        act_cfg: Activation after every Linear but the last.
        ffn_drop: Dropout after every activation and after the last Linear.
        add_identity: Add the residual.
    """

    def __init__(self,
                 embed_dims: int,
                 feedforward_channels: int,
                 num_fcs: int = 2,
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 ffn_drop: float = 0.,
                 add_identity: bool = True) -> None:
        super().__init__()
        if num_fcs < 2:
            raise ValueError(f'FFN: num_fcs must be >= 2, got {num_fcs}')
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.add_identity = add_identity
        layers: List[nn.Module] = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(nn.Sequential(
                nn.Linear(in_channels, feedforward_channels), build_activation_layer(act_cfg),
                nn.Dropout(ffn_drop)))
            in_channels = feedforward_channels
        layers += [nn.Linear(feedforward_channels, embed_dims), nn.Dropout(ffn_drop)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor, identity: Optional[Tensor] = None) -> Tensor:
        """Apply the FFN.

        Args:
            x: (..., C).
            identity: Residual (..., C); defaults to ``x``.

        Returns:
            (..., C): ``identity + layers(x)`` (just ``layers(x)`` without ``add_identity``).
        """
        out = self.layers(x)
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out
