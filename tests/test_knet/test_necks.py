"""Tests of FPN, SemanticFPNWrapper and SinePositionalEncoding."""
import math

import pytest
import torch
import torch.nn.functional as F

from knet.models.layers import SinePositionalEncoding
from knet.models.necks import FPN, SemanticFPNWrapper
from knet.registry import MODELS

PE_CFG = dict(type='SinePositionalEncoding', num_feats=128, normalize=True)


def _pyramid(channels, size=16, batch=1):
    """Maps at strides 4..32 of an image of side 4 * size."""
    return [torch.randn(batch, c, size // 2**i, size // 2**i) for i, c in enumerate(channels)]


# ---------------------------------------------------------------- FPN


def test_fpn_r50_names_shapes_and_count() -> None:
    fpn = MODELS.build(dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
                            start_level=0, add_extra_convs='on_input', num_outs=4))
    sd = fpn.state_dict()
    for i, c in enumerate([256, 512, 1024, 2048]):
        assert tuple(sd[f'lateral_convs.{i}.conv.weight'].shape) == (256, c, 1, 1)
        assert tuple(sd[f'lateral_convs.{i}.conv.bias'].shape) == (256, )
        assert tuple(sd[f'fpn_convs.{i}.conv.weight'].shape) == (256, 256, 3, 3)
        assert tuple(sd[f'fpn_convs.{i}.conv.bias'].shape) == (256, )
    assert len(sd) == 16  # no extra level: num_outs equals the number of inputs
    # laterals 256 * 3840 + 4 * 256 = 984,064; outputs 4 * (256 * 256 * 9 + 256) = 2,360,320.
    assert sum(p.numel() for p in fpn.parameters()) == 3_344_384
    outs = fpn(_pyramid([256, 512, 1024, 2048], size=8))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 8 // 2**i, 8 // 2**i) for i in range(4)]
    w = fpn.fpn_convs[0].conv.weight
    bound = math.sqrt(6 / (256 * 9 + 256 * 9))
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    assert all(torch.all(m.conv.bias == 0) for m in fpn.lateral_convs)


@pytest.mark.parametrize('num_outs', [4, 5, 6, 7])
@pytest.mark.parametrize('extra', [False, True, 'on_input', 'on_lateral', 'on_output'])
def test_fpn_num_outs_and_extra_convs(num_outs: int, extra) -> None:
    fpn = FPN([8, 16, 24, 32], 8, num_outs=num_outs, add_extra_convs=extra,
              relu_before_extra_convs=True)
    outs = fpn(_pyramid([8, 16, 24, 32], size=40, batch=2))
    sizes = [40, 20, 10, 5, 3, 2, 1][:num_outs]
    assert [tuple(o.shape) for o in outs] == [(2, 8, s, s) for s in sizes]
    assert len(fpn.fpn_convs) == (num_outs if extra else 4)
    if extra and num_outs > 4:
        first_in = 32 if extra in (True, 'on_input') else 8
        assert fpn.fpn_convs[4].conv.in_channels == first_in
    if not extra and num_outs > 4:
        assert torch.equal(outs[4], outs[3][:, :, ::2, ::2])


def test_fpn_extra_levels_numerics_on_output() -> None:
    fpn = FPN([4, 8], 4, num_outs=4, add_extra_convs='on_output', relu_before_extra_convs=True)
    inputs = _pyramid([4, 8], size=8)
    outs = fpn(inputs)
    assert torch.allclose(outs[2], fpn.fpn_convs[2](outs[1]))
    assert torch.allclose(outs[3], fpn.fpn_convs[3](F.relu(outs[2])))


def test_fpn_top_down_numerics_with_identity_convs() -> None:
    fpn = FPN([2, 2, 2], 2, num_outs=3)
    with torch.no_grad():
        for lat, out in zip(fpn.lateral_convs, fpn.fpn_convs):
            lat.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            out.conv.weight.zero_()
            out.conv.weight[:, :, 1, 1] = torch.eye(2)
    x0 = torch.arange(32.).view(1, 2, 4, 4)
    x1 = torch.tensor([[1., 2.], [3., 4.]]).expand(1, 2, 2, 2)
    x2 = torch.full((1, 2, 1, 1), 10.)
    outs = fpn([x0, x1, x2])
    p1 = x1 + 10
    assert torch.allclose(outs[2], x2)
    assert torch.allclose(outs[1], p1)
    assert torch.allclose(outs[0], x0 + p1.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_fpn_start_level_and_errors() -> None:
    fpn = FPN([8, 16, 24], 8, num_outs=3, start_level=1, add_extra_convs='on_input')
    outs = fpn(_pyramid([8, 16, 24], size=16))
    assert [o.shape[-1] for o in outs] == [8, 4, 2]
    assert fpn.fpn_convs[2].conv.in_channels == 24
    with pytest.raises(ValueError, match='add_extra_convs'):
        FPN([8, 16], 8, num_outs=3, add_extra_convs='on_something')
    with pytest.raises(ValueError, match='num_outs'):
        FPN([8, 16, 24], 8, num_outs=2)


# ---------------------------------------------------------------- positional encoding


def test_sine_positional_encoding_hand_values() -> None:
    pe = SinePositionalEncoding(num_feats=4, normalize=True)
    out = pe(torch.zeros(1, 2, 3, dtype=torch.bool))
    assert out.shape == (1, 8, 2, 3)
    # y at row 0 = 1/2 * 2pi = pi; x at col 0 = 1/3 * 2pi; dim_t = [1, 1, 100, 100].
    y0, x0 = math.pi / (1 + 0.5e-6), 2 * math.pi / 3 / (1 + 1e-6 / 3)
    expected = [math.sin(y0), math.cos(y0), math.sin(y0 / 100), math.cos(y0 / 100),
                math.sin(x0), math.cos(x0), math.sin(x0 / 100), math.cos(x0 / 100)]
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(expected), atol=1e-5)
    # last row / column: position 2pi (up to eps): sin ~ 0, cos ~ 1.
    assert torch.allclose(out[0, [0, 1, 4, 5], 1, 2], torch.tensor([0., 1., 0., 1.]), atol=1e-4)
    # y-part is constant along x, x-part constant along y.
    assert torch.equal(out[0, :4, :, 0], out[0, :4, :, 2])
    assert torch.equal(out[0, 4:, 0], out[0, 4:, 1])


def test_sine_positional_encoding_padding_and_unnormalized() -> None:
    mask = torch.zeros(1, 2, 4, dtype=torch.bool)
    mask[:, :, 3] = True
    out = SinePositionalEncoding(num_feats=4, normalize=False)(mask)
    # un-normalized x positions 1, 2, 3, 3 (padded pixels do not advance); dim_t = 1, 1, 100, 100.
    x = torch.tensor([1., 2., 3., 3.])
    assert torch.allclose(out[0, 4, 0], torch.sin(x))
    assert torch.allclose(out[0, 7, 1], torch.cos(x / 100))
    # y positions: rows 1, 2 on valid columns, 0 on the padded column.
    assert torch.allclose(out[0, 0, :, 0], torch.sin(torch.tensor([1., 2.])))
    assert torch.equal(out[0, 1, :, 3], torch.ones(2))


# ---------------------------------------------------------------- semantic FPN


def _reference_cfg(**kw) -> dict:
    cfg = dict(type='SemanticFPNWrapper', in_channels=256, feat_channels=256, out_channels=256,
               start_level=0, end_level=3, upsample_times=2, positional_encoding=PE_CFG,
               cat_coors=False, cat_coors_level=3, num_aux_convs=1,
               norm_cfg=dict(type='GN', num_groups=32, requires_grad=True))
    cfg.update(kw)
    return cfg


def test_semantic_fpn_reference_names_shapes_and_count() -> None:
    sfpn = MODELS.build(_reference_cfg())
    sd = sfpn.state_dict()
    convs = ['convs_all_levels.0.conv0', 'convs_all_levels.1.conv0', 'convs_all_levels.2.conv0',
             'convs_all_levels.2.conv1', 'convs_all_levels.3.conv0', 'convs_all_levels.3.conv1',
             'convs_all_levels.3.conv2']
    expected = {f'{c}.conv.weight': (256, 256, 3, 3) for c in convs}
    expected.update({'conv_pred.conv.weight': (256, 256, 1, 1),
                     'aux_convs.0.conv.weight': (256, 256, 1, 1)})
    for c in convs + ['conv_pred', 'aux_convs.0']:
        expected[f'{c}.gn.weight'] = expected[f'{c}.gn.bias'] = (256, )
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    # 7 3x3 convs * 589,824 + 2 1x1 convs * 65,536 + 9 GN * 512 = 4,264,448 (no biases).
    assert sum(p.numel() for p in sfpn.parameters()) == 4_264_448
    assert sfpn.convs_all_levels[0].conv0.conv.stride == (2, 2)
    assert [n for n, _ in sfpn.convs_all_levels[3].named_children()] == [
        'conv0', 'upsample0', 'conv1', 'upsample1', 'conv2']
    assert [n for n, _ in sfpn.convs_all_levels[1].named_children()] == ['conv0']
    w = sfpn.convs_all_levels[3].conv2.conv.weight
    assert 0.009 < w.std().item() < 0.011 and abs(w.mean().item()) < 1e-3
    out, aux = sfpn(_pyramid([256] * 4, size=16))
    assert out.shape == aux.shape == (1, 256, 8, 8)
    assert (out >= 0).all() and (aux >= 0).all()


def test_semantic_fpn_adds_positional_encoding_to_coarsest_level() -> None:
    sfpn = SemanticFPNWrapper(64, 64, 64, positional_encoding=dict(PE_CFG, num_feats=32),
                              norm_cfg=dict(type='GN', num_groups=8))
    seen = {}
    sfpn.convs_all_levels[3].register_forward_pre_hook(lambda m, a: seen.update(x=a[0]))
    feats = _pyramid([64] * 4, size=16, batch=2)
    sfpn(feats)
    pe = SinePositionalEncoding(32, normalize=True)(torch.zeros(2, 2, 2, dtype=torch.bool))
    assert torch.allclose(seen['x'], feats[3] + pe)


def test_semantic_fpn_output_positional_encoding() -> None:
    """``out_positional_encoding`` adds the encoding of the output map to the thing output
    only: the same weights without it give that output minus the encoding, the same stuff output."""
    kw = dict(norm_cfg=dict(type='GN', num_groups=8),
              positional_encoding=dict(PE_CFG, num_feats=32))
    plain = SemanticFPNWrapper(64, 64, 32, **kw)
    with_pe = SemanticFPNWrapper(64, 64, 32, out_positional_encoding=dict(PE_CFG, num_feats=16),
                                 **kw)
    with_pe.load_state_dict(plain.state_dict())  # the encoding has no parameters
    feats = _pyramid([64] * 4, size=16, batch=2)
    (out, aux), (out_pe, aux_pe) = plain(feats), with_pe(feats)
    pe = SinePositionalEncoding(16, normalize=True)(torch.zeros(2, 8, 8, dtype=torch.bool))
    assert pe.shape == out.shape == (2, 32, 8, 8) and pe.abs().sum() > 0
    assert torch.allclose(out_pe, out + pe) and torch.equal(aux_pe, aux)
    with pytest.raises(ValueError, match='output positional encoding gives 64 channels but '
                                         'out_channels=32'):
        SemanticFPNWrapper(64, 64, 32, out_positional_encoding=dict(PE_CFG, num_feats=32))


@pytest.mark.parametrize('channels, groups, batch', [(64, 8, 2), (32, 32, 1), (48, 16, 3)])
def test_semantic_fpn_reduced_channels_and_grads(channels: int, groups: int, batch: int) -> None:
    sfpn = SemanticFPNWrapper(channels, channels, channels,
                              positional_encoding=dict(PE_CFG, num_feats=channels // 2),
                              norm_cfg=dict(type='GN', num_groups=groups), num_aux_convs=1)
    outs = sfpn(_pyramid([channels] * 4, size=32, batch=batch))
    assert [tuple(o.shape) for o in outs] == [(batch, channels, 16, 16)] * 2
    (outs[0].sum() + outs[1].sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in sfpn.parameters())


def test_semantic_fpn_cat_coors_stride4_and_no_aux() -> None:
    sfpn = SemanticFPNWrapper(16, 8, 8, upsample_times=3, cat_coors=True, num_aux_convs=0,
                              norm_cfg=dict(type='GN', num_groups=4))
    assert sfpn.convs_all_levels[3].conv0.conv.in_channels == 18
    assert sfpn.convs_all_levels[0].conv0.conv.stride == (1, 1)
    outs = sfpn(_pyramid([16] * 4, size=16))
    assert len(outs) == 1 and outs[0].shape == (1, 8, 16, 16)
    coords = SemanticFPNWrapper._coord_feat(torch.zeros(2, 5, 2, 3))
    assert coords.shape == (2, 2, 2, 3)
    assert torch.equal(coords[1, 0], torch.tensor([[-1., 0., 1.], [-1., 0., 1.]]))
    assert torch.equal(coords[0, 1], torch.tensor([[-1., -1., -1.], [1., 1., 1.]]))


def test_semantic_fpn_errors() -> None:
    with pytest.raises(ValueError, match='positional encoding gives 256'):
        SemanticFPNWrapper(64, 64, 64, positional_encoding=PE_CFG,
                           norm_cfg=dict(type='GN', num_groups=8))
    with pytest.raises(ValueError, match='upsample_times'):
        SemanticFPNWrapper(64, 64, 64, upsample_times=0, norm_cfg=None)
    sfpn = SemanticFPNWrapper(8, 8, 8, norm_cfg=None)
    with pytest.raises(ValueError, match='levels up to 3'):
        sfpn(_pyramid([8] * 3))
