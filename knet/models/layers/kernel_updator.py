"""Kernel updater of the kernel update head, in the five variants of the ablation (docs/model.md).

One class, ``KernelUpdator(update_mode=...)``, replaces the original's five near-copies
(``knet/kernel_updator.py`` of K-Net and ``kernel_updator_{concatenate,skip,concatenate_skip,mlp}``
of the ablation). A mode is three independent choices, see ``_MODES``:

* gate feature: product ``I_in * D_in`` (gated, skip, mlp) or concatenation ``[I_in, D_in]`` with
  halved ``num_params_in`` (concat, concat_skip);
* kernel branch: sigmoid-gated ``LN(I_out)`` (gated, concat, mlp) or the raw previous kernel as an
  identity skip (skip, concat_skip; no ``input_gate`` / ``input_norm_*`` are built);
* projections: ``nn.Linear`` or a 2-layer MLP ``fc1 -> ReLU -> fc2`` (mlp).

Every mode ends with ``out = act(fc_norm(fc_layer(G)))``. Layer names and shapes match the original
checkpoints key for key. The projections that read the previous kernel or the gate feature take
``feat_channels`` inputs (the original declares ``in_channels``, which only works when both are
equal, as in every reference config); with ``in_channels == feat_channels`` they are identical.
"""
from typing import Dict, NamedTuple, Optional

import torch
from mmcv.cnn import build_activation_layer, build_norm_layer
from torch import Tensor, nn

from knet.registry import MODELS


class _ModeSpec(NamedTuple):
    """The three choices that make up an update mode (see module docstring)."""
    concat_gate: bool
    skip_kernel: bool
    mlp: bool


_MODES: Dict[str, _ModeSpec] = {
    'gated': _ModeSpec(concat_gate=False, skip_kernel=False, mlp=False),
    'concat': _ModeSpec(concat_gate=True, skip_kernel=False, mlp=False),
    'skip': _ModeSpec(concat_gate=False, skip_kernel=True, mlp=False),
    'concat_skip': _ModeSpec(concat_gate=True, skip_kernel=True, mlp=False),
    'mlp': _ModeSpec(concat_gate=False, skip_kernel=False, mlp=True),
}


class _TwoLayerMLP(nn.Module):
    """``fc1: Linear(in, out) -> ReLU -> fc2: Linear(out, out)``, the 'mlp' mode's projection."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, out_features)
        self.act = nn.ReLU(inplace=False)
        self.fc2 = nn.Linear(out_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Map (..., in_features) to (..., out_features)."""
        return self.fc2(self.act(self.fc1(x)))


@MODELS.register_module()
class KernelUpdator(nn.Module):
    """Update kernels with their assembled group features (docs/model.md, kernel updater).

    Args:
        in_channels: Channels of the group feature F.
        feat_channels: Channels of the kernels and of the gates.
        out_channels: Output channels (None = ``in_channels``).
        input_feat_shape: Kept for config compatibility (unused, as in the original).
        gate_sigmoid: Apply sigmoid to the gates.
        gate_norm_act: Apply ``gate_norm`` + activation to the gate feature.
        activate_out: Apply the activation to the two normalized "out" branches.
        act_cfg: Activation config.
        norm_cfg: Norm config (LayerNorm).
        update_mode: One of ``'gated'`` (K-Net), ``'concat'``, ``'skip'``, ``'concat_skip'``,
            ``'mlp'``.
    """

    def __init__(self,
                 in_channels: int = 256,
                 feat_channels: int = 64,
                 out_channels: Optional[int] = None,
                 input_feat_shape: int = 3,
                 gate_sigmoid: bool = True,
                 gate_norm_act: bool = False,
                 activate_out: bool = False,
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 norm_cfg: dict = dict(type='LN'),
                 update_mode: str = 'gated') -> None:
        super().__init__()
        if update_mode not in _MODES:
            raise ValueError(f'KernelUpdator: unknown update_mode {update_mode!r}; valid modes '
                             f'are {list(_MODES)}')
        self.mode = _MODES[update_mode]
        if self.mode.concat_gate and feat_channels % 2:
            raise ValueError(f'KernelUpdator: update_mode {update_mode!r} needs an even '
                             f'feat_channels, got {feat_channels}')
        self.update_mode = update_mode
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.out_channels = out_channels if out_channels else in_channels
        self.input_feat_shape = input_feat_shape
        self.gate_sigmoid = gate_sigmoid
        self.gate_norm_act = gate_norm_act
        self.activate_out = activate_out
        self.num_params_in = feat_channels // 2 if self.mode.concat_gate else feat_channels
        self.num_params_out = feat_channels
        self._build_layers(act_cfg, norm_cfg)

    def _build_layers(self, act_cfg: dict, norm_cfg: dict) -> None:
        """Create the projections and norms of the selected mode (names as in the original)."""
        linear = _TwoLayerMLP if self.mode.mlp else nn.Linear
        feat, skip = self.feat_channels, self.mode.skip_kernel
        self.dynamic_layer = linear(self.in_channels, self.num_params_in + self.num_params_out)
        self.input_layer = linear(
            feat, self.num_params_in if skip else self.num_params_in + self.num_params_out)
        if not skip:
            self.input_gate = linear(feat, feat)
        self.update_gate = linear(feat, feat)
        if self.gate_norm_act:
            self.gate_norm = build_norm_layer(norm_cfg, feat)[1]
        self.norm_in = build_norm_layer(norm_cfg, feat)[1]
        self.norm_out = build_norm_layer(norm_cfg, feat)[1]
        if not skip:
            self.input_norm_in = build_norm_layer(norm_cfg, feat)[1]
            self.input_norm_out = build_norm_layer(norm_cfg, feat)[1]
        self.activation = build_activation_layer(act_cfg)
        self.fc_layer = linear(feat, self.out_channels)
        self.fc_norm = build_norm_layer(norm_cfg, self.out_channels)[1]

    def _gate_feature(self, input_in: Tensor, param_in: Tensor) -> Tensor:
        """Gf from I_in (M, S, P) and D_in (M, P): product or [I_in, D_in] -> (M, S, feat)."""
        param_in = param_in.unsqueeze(-2)
        if self.mode.concat_gate:
            return torch.cat([input_in, param_in.expand_as(input_in)], dim=-1)
        return input_in * param_in

    def _gate(self, proj: nn.Module, norm: nn.Module, gate_feats: Tensor) -> Tensor:
        """sigma(norm(proj(Gf))) (without sigma when ``gate_sigmoid`` is False)."""
        gate = norm(proj(gate_feats))
        return gate.sigmoid() if self.gate_sigmoid else gate

    def _out_branch(self, norm: nn.Module, x: Tensor) -> Tensor:
        """norm(x), activated when ``activate_out``."""
        x = norm(x)
        return self.activation(x) if self.activate_out else x

    def _kernel_branch(self, kernel: Tensor, input_feats: Tensor, gate_feats: Tensor) -> Tensor:
        """Kernel term of G: raw kernel (skip modes) or sigma(gate) * LN(I_out); (M, S, feat)."""
        if self.mode.skip_kernel:
            return kernel
        input_gate = self._gate(self.input_gate, self.input_norm_in, gate_feats)
        input_out = self._out_branch(self.input_norm_out, input_feats[..., -self.num_params_out:])
        return input_gate * input_out

    def forward(self, update_feature: Tensor, input_feature: Tensor) -> Tensor:
        """Update the kernels.

        Args:
            update_feature: Group features F, (M, in_channels) or any shape with M *
                in_channels elements, e.g. (B, N, in_channels); M = B * N kernels.
            input_feature: Previous kernels, reshapable to (M, S, feat_channels)
                (S = K * K = 1 for 1x1 kernels).

        Returns:
            Updated kernels (M, S, out_channels).
        """
        update_feature = update_feature.reshape(-1, self.in_channels)
        num_kernels = update_feature.size(0)
        params = self.dynamic_layer(update_feature)
        param_in = params[:, :self.num_params_in]
        param_out = params[:, -self.num_params_out:]
        kernel = input_feature.reshape(num_kernels, -1, self.feat_channels)
        input_feats = self.input_layer(kernel)
        gate_feats = self._gate_feature(input_feats[..., :self.num_params_in], param_in)
        if self.gate_norm_act:
            gate_feats = self.activation(self.gate_norm(gate_feats))
        update_gate = self._gate(self.update_gate, self.norm_in, gate_feats)
        param_out = self._out_branch(self.norm_out, param_out)
        features = update_gate * param_out.unsqueeze(-2) + self._kernel_branch(
            kernel, input_feats, gate_feats)
        return self.activation(self.fc_norm(self.fc_layer(features)))
