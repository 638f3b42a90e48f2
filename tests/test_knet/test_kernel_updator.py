"""Tests of KernelUpdator (5 modes), FFN and MultiheadAttention."""
import pytest
import torch
import torch.nn.functional as F

from knet.models.layers import FFN, KernelUpdator, MultiheadAttention
from knet.registry import MODELS

MODES = ['gated', 'concat', 'skip', 'concat_skip', 'mlp']
COUNTS = dict(gated=463_104, concat=397_312, skip=330_496, concat_skip=264_704, mlp=1_185_792)
LN5 = ['norm_in', 'norm_out', 'input_norm_in', 'input_norm_out', 'fc_norm']
LN3 = ['norm_in', 'norm_out', 'fc_norm']
# Linear weight shapes per mode (biases have the first dim), LayerNorms of 256.
KEYS = {
    'gated': (dict(dynamic_layer=(512, 256), input_layer=(512, 256), input_gate=(256, 256),
                   update_gate=(256, 256), fc_layer=(256, 256)), LN5),
    'concat': (dict(dynamic_layer=(384, 256), input_layer=(384, 256), input_gate=(256, 256),
                    update_gate=(256, 256), fc_layer=(256, 256)), LN5),
    'skip': (dict(dynamic_layer=(512, 256), input_layer=(256, 256), update_gate=(256, 256),
                  fc_layer=(256, 256)), LN3),
    'concat_skip': (dict(dynamic_layer=(384, 256), input_layer=(128, 256),
                         update_gate=(256, 256), fc_layer=(256, 256)), LN3),
    'mlp': ({'dynamic_layer.fc1': (512, 256), 'dynamic_layer.fc2': (512, 512),
             'input_layer.fc1': (512, 256), 'input_layer.fc2': (512, 512),
             'input_gate.fc1': (256, 256), 'input_gate.fc2': (256, 256),
             'update_gate.fc1': (256, 256), 'update_gate.fc2': (256, 256),
             'fc_layer.fc1': (256, 256), 'fc_layer.fc2': (256, 256)}, LN5),
}


def _build(mode: str, channels: int = 256, **kw) -> KernelUpdator:
    return MODELS.build(dict(type='KernelUpdator', in_channels=channels, feat_channels=channels,
                             out_channels=channels, update_mode=mode, **kw))


@pytest.mark.parametrize('mode', MODES)
def test_keys_shapes_and_parameter_counts(mode: str) -> None:
    upd = _build(mode)
    linears, norms = KEYS[mode]
    expected = {}
    for name, shape in linears.items():
        expected[f'{name}.weight'] = shape
        expected[f'{name}.bias'] = shape[:1]
    for name in norms:
        expected[f'{name}.weight'] = expected[f'{name}.bias'] = (256, )
    assert {k: tuple(v.shape) for k, v in upd.state_dict().items()} == expected
    assert sum(p.numel() for p in upd.parameters()) == COUNTS[mode]


@pytest.mark.parametrize('mode', MODES)
def test_shapes_every_mode(mode: str) -> None:
    upd = KernelUpdator(32, 32, 48, update_mode=mode)
    out = upd(torch.randn(2, 5, 32), torch.randn(2, 5, 32, 1, 1))
    assert out.shape == (10, 1, 48)
    out = upd(torch.randn(6, 32), torch.randn(6, 9, 32))
    assert out.shape == (6, 9, 48)
    assert (out >= 0).all()


def test_default_feat_channels_reshape_like_original() -> None:
    upd = KernelUpdator()  # in 256, feat 64: the kernel is read as (M, 256 / 64, 64)
    assert upd(torch.randn(3, 256), torch.randn(3, 256)).shape == (3, 4, 256)


def test_errors() -> None:
    with pytest.raises(ValueError, match="'gated', 'concat', 'skip', 'concat_skip', 'mlp'"):
        KernelUpdator(update_mode='gru')
    with pytest.raises(ValueError, match='even'):
        KernelUpdator(16, 15, update_mode='concat')


def _ln(x, norm):
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, 1e-5)


def _proj(x, layer, mlp):
    if mlp:
        return F.linear(F.relu(F.linear(x, layer.fc1.weight, layer.fc1.bias)),
                        layer.fc2.weight, layer.fc2.bias)
    return F.linear(x, layer.weight, layer.bias)


def _reference(upd: KernelUpdator, mode: str, feats: torch.Tensor, kernels: torch.Tensor):
    """The update rules (docs/model.md) by hand: feats (M, C), kernels (M, 1, C) -> (M, 1, C)."""
    c = feats.shape[-1]
    mlp = mode == 'mlp'
    n_in = c // 2 if 'concat' in mode else c
    d = _proj(feats, upd.dynamic_layer, mlp)
    i = _proj(kernels, upd.input_layer, mlp)
    d_in, d_out, i_in = d[:, :n_in], d[:, n_in:], i[..., :n_in]
    if 'concat' in mode:
        gf = torch.cat([i_in, d_in[:, None]], dim=-1)
    else:
        gf = i_in * d_in[:, None]
    g_upd = torch.sigmoid(_ln(_proj(gf, upd.update_gate, mlp), upd.norm_in))
    if 'skip' in mode:
        kernel_term = kernels
    else:
        g_in = torch.sigmoid(_ln(_proj(gf, upd.input_gate, mlp), upd.input_norm_in))
        kernel_term = g_in * _ln(i[..., n_in:], upd.input_norm_out)
    g = g_upd * _ln(d_out, upd.norm_out)[:, None] + kernel_term
    return F.relu(_ln(_proj(g, upd.fc_layer, mlp), upd.fc_norm))


@pytest.mark.parametrize('mode', MODES)
def test_numerics_against_written_out_formula(mode: str) -> None:
    torch.manual_seed(0)
    upd = _build(mode, channels=16)
    with torch.no_grad():
        for m in upd.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    feats, kernels = torch.randn(7, 16), torch.randn(7, 1, 16)
    out = upd(feats, kernels.view(7, 16, 1, 1))
    assert torch.allclose(out, _reference(upd, mode, feats, kernels), atol=1e-5)


def test_gated_handles_kernel_size_3() -> None:
    upd = _build('gated', channels=8)
    feats, kernels = torch.randn(4, 8), torch.randn(4, 9, 8)
    out = upd(feats, kernels)
    per_position = torch.cat([upd(feats, kernels[:, s]) for s in range(9)], dim=1)
    assert torch.allclose(out, per_position, atol=1e-6)


@pytest.mark.parametrize('mode', ['skip', 'concat_skip'])
def test_skip_modes_pass_kernel_through_with_zero_dynamic_layer(mode: str) -> None:
    upd = _build(mode, channels=16)
    with torch.no_grad():
        upd.dynamic_layer.weight.zero_()
        upd.dynamic_layer.bias.zero_()
    kernels = torch.randn(5, 1, 16)
    out = upd(torch.randn(5, 16), kernels)
    # D = 0 -> norm_out(D_out) = its bias = 0, so G = kernel.
    expected = F.relu(upd.fc_norm(upd.fc_layer(kernels)))
    assert torch.allclose(out, expected, atol=1e-6)
    assert not hasattr(upd, 'input_gate') and not hasattr(upd, 'input_norm_out')


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('gate_norm_act, activate_out', [(False, False), (True, True)])
def test_gradients_reach_every_parameter(mode: str, gate_norm_act: bool,
                                         activate_out: bool) -> None:
    upd = _build(mode, channels=16, gate_norm_act=gate_norm_act, activate_out=activate_out)
    assert hasattr(upd, 'gate_norm') == gate_norm_act
    kernels = torch.randn(6, 1, 16, requires_grad=True)
    out = upd(torch.randn(6, 16), kernels)
    (out * torch.randn_like(out)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in upd.parameters())
    assert kernels.grad is not None and torch.isfinite(out).all()


def test_gate_sigmoid_false_uses_raw_gates() -> None:
    upd = _build('gated', channels=8, gate_sigmoid=False)
    with torch.no_grad():
        upd.input_norm_in.weight.zero_()
        upd.norm_in.weight.zero_()  # raw gates = LN bias = 0: G = 0
    out = upd(torch.randn(3, 8), torch.randn(3, 1, 8))
    assert torch.allclose(out, F.relu(upd.fc_norm(upd.fc_layer(torch.zeros(3, 1, 8)))))


# ---------------------------------------------------------------- FFN / attention


def test_ffn_names_and_numerics() -> None:
    ffn = FFN(256, 2048, num_fcs=2, ffn_drop=0.)
    shapes = {k: tuple(v.shape) for k, v in ffn.state_dict().items()}
    assert shapes == {'layers.0.0.weight': (2048, 256), 'layers.0.0.bias': (2048, ),
                      'layers.1.weight': (256, 2048), 'layers.1.bias': (256, )}
    assert isinstance(ffn.layers[2], torch.nn.Dropout)
    small = FFN(4, 6)
    x, identity = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    hidden = F.relu(x @ small.layers[0][0].weight.T + small.layers[0][0].bias)
    body = hidden @ small.layers[1].weight.T + small.layers[1].bias
    assert torch.allclose(small(x), x + body, atol=1e-6)
    assert torch.allclose(small(x, identity), identity + body, atol=1e-6)
    small.add_identity = False
    assert torch.allclose(small(x), body, atol=1e-6)
    assert len(FFN(4, 6, num_fcs=3).layers) == 4
    with pytest.raises(ValueError, match='num_fcs'):
        FFN(4, 6, num_fcs=1)


def test_multihead_attention_names_and_residual() -> None:
    attn = MultiheadAttention(256, 8)
    shapes = {k: tuple(v.shape) for k, v in attn.state_dict().items()}
    assert shapes == {'attn.in_proj_weight': (768, 256), 'attn.in_proj_bias': (768, ),
                      'attn.out_proj.weight': (256, 256), 'attn.out_proj.bias': (256, )}
    small = MultiheadAttention(8, 2)
    q, k = torch.randn(5, 3, 8), torch.randn(4, 3, 8)
    ref = small.attn(q, q, q)[0]
    assert torch.allclose(small(q), q + ref, atol=1e-6)
    assert torch.allclose(small(q, k), q + small.attn(q, k, k)[0], atol=1e-6)
    ident = torch.zeros_like(q)
    assert torch.allclose(small(q, identity=ident), ref, atol=1e-6)
    bf = MultiheadAttention(8, 2, batch_first=True)
    bf.load_state_dict(small.state_dict())
    assert torch.allclose(bf(q.transpose(0, 1)).transpose(0, 1), small(q), atol=1e-6)
