"""Conversion of the original Video K-Net Swin backbone (``SwinTransformerDIY`` of the original
``swin/swin_transformer.py``, Microsoft layout) to our ``TVSwin`` (torchvision names).

Two kinds of checks:

* names and shapes: a synthetic checkpoint with the original's key names and shapes (from a
  shape table written from the original's module structure) converts key for key and loads
  strictly into a ``TVSwin`` of the same size;
* numbers: :class:`ReferenceSwin` below re-implements the original forward from its
  description (patch embedding conv + LN, windowed attention with a relative position bias,
  cyclic shift with its attention mask, GELU MLP, the original patch-merging concatenation
  order, per-stage output norms); its random weights, converted, make our ``TVSwin`` give the
  same multi-scale features.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
import torch
import torch.nn.functional as F
from helpers import load_tool
from torch import Tensor, nn
from torchvision.models.swin_transformer import _patch_merging_pad

from knet.models.backbones.swin import TVSwin
from knet.models.utils.ckpt_convert import (
    SWIN_MERGE_ORDER_ORIGINAL,
    SWIN_MERGE_ORDER_TORCHVISION,
    convert_state_dict,
    convert_swin_backbone,
    detect_backbone_layout,
    extract_state_dict,
    infer_swin_arch,
    patch_merging_permutation,
)

Shape = Tuple[int, ...]
TINY = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
WINDOW = 7


# ------------------------------------------------------------------------------------------
# The original layout: key names and shapes
# ------------------------------------------------------------------------------------------

def original_swin_shapes(embed_dim: int, depths: Sequence[int], num_heads: Sequence[int],
                         window: int = WINDOW, out_indices: Sequence[int] = (0, 1, 2, 3)
                         ) -> Dict[str, Shape]:
    """``SwinTransformerDIY`` state dict shapes (patch norm on, no absolute embedding)."""
    shapes: Dict[str, Shape] = {
        'patch_embed.proj.weight': (embed_dim, 3, 4, 4), 'patch_embed.proj.bias': (embed_dim, ),
        'patch_embed.norm.weight': (embed_dim, ), 'patch_embed.norm.bias': (embed_dim, )}
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        d = embed_dim * 2**i
        for j in range(depth):
            p = f'layers.{i}.blocks.{j}'
            shapes.update({
                f'{p}.norm1.weight': (d, ), f'{p}.norm1.bias': (d, ),
                f'{p}.attn.relative_position_bias_table': ((2 * window - 1)**2, heads),
                f'{p}.attn.relative_position_index': (window**2, window**2),
                f'{p}.attn.qkv.weight': (3 * d, d), f'{p}.attn.qkv.bias': (3 * d, ),
                f'{p}.attn.proj.weight': (d, d), f'{p}.attn.proj.bias': (d, ),
                f'{p}.norm2.weight': (d, ), f'{p}.norm2.bias': (d, ),
                f'{p}.mlp.fc1.weight': (4 * d, d), f'{p}.mlp.fc1.bias': (4 * d, ),
                f'{p}.mlp.fc2.weight': (d, 4 * d), f'{p}.mlp.fc2.bias': (d, )})
        if i < len(depths) - 1:
            shapes.update({f'layers.{i}.downsample.reduction.weight': (2 * d, 4 * d),
                           f'layers.{i}.downsample.norm.weight': (4 * d, ),
                           f'layers.{i}.downsample.norm.bias': (4 * d, )})
    for i in out_indices:
        d = embed_dim * 2**i
        shapes.update({f'norm{i}.weight': (d, ), f'norm{i}.bias': (d, )})
    return shapes


def relative_index(window: int) -> Tensor:
    """(N, N) index into the bias table, from its definition: token pair (p, q) of a window
    at (row, col) positions looks up ((r_p - r_q) + w - 1) * (2w - 1) + (c_p - c_q) + w - 1."""
    index = torch.empty(window**2, window**2, dtype=torch.long)
    for p in range(window**2):
        for q in range(window**2):
            d_row = p // window - q // window + window - 1
            d_col = p % window - q % window + window - 1
            index[p, q] = d_row * (2 * window - 1) + d_col
    return index


def synthetic_state(shapes: Dict[str, Shape], prefix: str = '') -> Dict[str, Tensor]:
    gen = torch.Generator().manual_seed(0)
    index = relative_index(WINDOW)
    return {prefix + k: (index.clone() if k.endswith('relative_position_index')
                         else torch.randn(shape, generator=gen)) for k, shape in shapes.items()}


def tv_swin(**kwargs) -> TVSwin:
    return TVSwin(arch=TINY, window_size=WINDOW, drop_path_rate=0.0, **kwargs).eval()


# ------------------------------------------------------------------------------------------
# A reference forward of the original Swin, written from its description
# ------------------------------------------------------------------------------------------

class RefWindowAttention(nn.Module):
    """Multi-head self-attention inside windows of N = w * w tokens, with a learned bias per
    relative offset and head (table ``[(2w-1)**2, heads]``, looked up by a fixed index)."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1)**2, heads))
        self.register_buffer('relative_position_index', relative_index(window))

    def forward(self, tokens: Tensor, mask: Optional[Tensor]) -> Tensor:
        """tokens (B * nW, N, C) grouped by image, then window; mask (nW, N, N) or None."""
        windows, n, c = tokens.shape
        head_dim = c // self.heads
        # q, k, v: the 3 * C outputs split as (3, heads, head_dim).
        q, k, v = self.qkv(tokens).view(windows, n, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        logits = (q * head_dim**-0.5) @ k.transpose(-2, -1)  # (B * nW, heads, N, N)
        bias = self.relative_position_bias_table[self.relative_position_index]  # (N, N, heads)
        logits = logits + bias.permute(2, 0, 1)[None]
        if mask is not None:
            n_win = mask.shape[0]
            logits = (logits.view(-1, n_win, self.heads, n, n) + mask[None, :, None])
            logits = logits.view(windows, self.heads, n, n)
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(windows, n, c)
        return self.proj(out)


class RefMlp(nn.Module):

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def to_windows(x: Tensor, w: int) -> Tensor:
    """(B, H, W, C) with H, W multiples of w -> (B * nW, w * w, C), windows in row-major order."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def from_windows(windows: Tensor, w: int, h: int, wd: int) -> Tensor:
    c = windows.shape[-1]
    x = windows.view(-1, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, wd, c)


def shift_mask(h: int, wd: int, w: int, shift: int) -> Tensor:
    """(nW, N, N) mask of the shifted windows of a padded (h, wd) map: after a cyclic shift by
    -shift, tokens from different regions of the unshifted map (3 bands per axis: up to
    size - w, to size - shift, the rest) must not attend to each other (-100)."""
    def bands(size: int) -> Tensor:
        band = torch.zeros(size)
        band[size - w:size - shift] = 1
        band[size - shift:] = 2
        return band

    region = bands(h)[:, None] * 3 + bands(wd)[None, :]
    ids = to_windows(region[None, :, :, None], w).squeeze(-1)  # (nW, N)
    return (ids[:, None, :] != ids[:, :, None]).float() * -100.0


class RefBlock(nn.Module):

    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RefWindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = RefMlp(dim)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, H, W, C). The original shifts whatever the map size (no size check)."""
        _, h, wd, _ = x.shape
        w = self.window
        y = self.norm1(x)
        ph, pw = math.ceil(h / w) * w, math.ceil(wd / w) * w
        y = F.pad(y, (0, 0, 0, pw - wd, 0, ph - h))  # zeros right and bottom, after the norm
        mask = None
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
            mask = shift_mask(ph, pw, w, self.shift)
        y = from_windows(self.attn(to_windows(y, w), mask), w, ph, pw)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + y[:, :h, :wd]
        return x + self.mlp(self.norm2(x))


class RefPatchMerging(nn.Module):

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        _, h, wd, _ = x.shape
        x = F.pad(x, (0, 0, 0, wd % 2, 0, h % 2))
        # The original's concatenation: (even row, even col), (odd row, even col),
        # (even row, odd col), (odd row, odd col).
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]],
                      dim=-1)
        return self.reduction(self.norm(x))


class RefStage(nn.Module):

    def __init__(self, dim: int, depth: int, heads: int, window: int, merge: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            RefBlock(dim, heads, window, 0 if j % 2 == 0 else window // 2) for j in range(depth))
        self.downsample = RefPatchMerging(dim) if merge else None


class RefPatchEmbed(nn.Module):

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 4, stride=4)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        _, _, h, wd = x.shape
        x = F.pad(x, (0, -wd % 4, 0, -h % 4))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))  # (B, H/4, W/4, C)


class ReferenceSwin(nn.Module):
    """The original Swin detection backbone's forward, with its parameter names."""

    def __init__(self, embed_dim: int, depths: Sequence[int], num_heads: Sequence[int],
                 window: int = WINDOW, out_indices: Sequence[int] = (0, 1, 2, 3)) -> None:
        super().__init__()
        self.out_indices = tuple(out_indices)
        self.patch_embed = RefPatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            RefStage(embed_dim * 2**i, depths[i], num_heads[i], window, i < len(depths) - 1)
            for i in range(len(depths)))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(embed_dim * 2**i))

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.patch_embed(x)
        outs: List[Tensor] = []
        for i, stage in enumerate(self.layers):
            for block in stage.blocks:
                x = block(x)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x).permute(0, 3, 1, 2).contiguous())
            if stage.downsample is not None:
                x = stage.downsample(x)
        return tuple(outs)


def random_reference(seed: int = 0, **kwargs) -> ReferenceSwin:
    """A tiny reference with every parameter random (norms around 1, biases non-zero)."""
    torch.manual_seed(seed)
    ref = ReferenceSwin(**TINY, **kwargs).eval()
    with torch.no_grad():
        for name, param in ref.named_parameters():
            if name.endswith('relative_position_bias_table'):
                param.normal_(0, 1.0)
            elif param.dim() == 1 and 'norm' in name and name.endswith('weight'):
                param.normal_(1.0, 0.2)
            else:
                param.normal_(0, 0.2 if param.dim() == 1 else 1 / math.sqrt(param[0].numel()))
    return ref


def convert_reference(ref: nn.Module) -> Dict[str, Tensor]:
    result = convert_swin_backbone(ref.state_dict(), prefix='')
    assert result.unmatched == [] and result.dropped == {}
    return result.state_dict


# ------------------------------------------------------------------------------------------
# Names and shapes
# ------------------------------------------------------------------------------------------

def test_shape_table_counts_swin_b_and_l_as_documented() -> None:
    """The shape table gives the original Swin-B / Swin-L backbone parameter counts."""
    for arch, expected in ((dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
                            86_745_016),
                           (dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
                            194_998_164)):
        shapes = original_swin_shapes(**arch)
        count = sum(math.prod(s) for k, s in shapes.items()
                    if not k.endswith('relative_position_index'))
        assert count == expected


def test_reference_has_the_original_names_and_shapes() -> None:
    state = ReferenceSwin(**TINY).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == original_swin_shapes(**TINY)


@pytest.mark.parametrize('prefix', ['', 'backbone.', 'module.backbone.'])
def test_every_key_maps_and_loads_strictly(prefix: str) -> None:
    state = synthetic_state(original_swin_shapes(**TINY), prefix)
    assert detect_backbone_layout(state) == 'swin'
    result = convert_state_dict(state)
    assert result.unmatched == [] and result.dropped == {}
    assert len(result.state_dict) == len(state)
    out_prefix = '' if prefix == '' else 'backbone.'
    assert all(k.startswith((out_prefix + 'features.', out_prefix + 'norm'))
               for k in result.state_dict)
    ours = tv_swin()
    ours_state = ours.state_dict()
    loaded = {k[len(out_prefix):]: v for k, v in result.state_dict.items()}
    assert set(loaded) == set(ours_state)
    assert all(loaded[k].shape == ours_state[k].shape for k in ours_state)
    ours.load_state_dict(loaded, strict=True)
    # Spot checks of the renames.
    assert torch.equal(ours.features[0][0].weight, state[prefix + 'patch_embed.proj.weight'])
    assert torch.equal(ours.features[5][1].mlp[3].bias,
                       state[prefix + 'layers.2.blocks.1.mlp.fc2.bias'])
    assert torch.equal(ours.features[6].norm.bias, state[prefix + 'layers.2.downsample.norm.bias'])
    assert torch.equal(ours.norm3.weight, state[prefix + 'norm3.weight'])
    # torchvision's own index equals the original's, flattened.
    assert torch.equal(ours_state['features.1.0.attn.relative_position_index'],
                       relative_index(WINDOW).flatten())
    assert infer_swin_arch(result.state_dict, out_prefix) == dict(
        arch=TINY, window_size=WINDOW, out_indices=(0, 1, 2, 3))


def test_detector_checkpoint_keeps_the_other_prefixes() -> None:
    state = synthetic_state(original_swin_shapes(**TINY), 'backbone.')
    state['neck.lateral_convs.0.conv.weight'] = torch.zeros(8, 16, 1, 1)
    state['roi_head.bbox_head.0.fc.weight'] = torch.zeros(1)
    result = convert_state_dict(state)
    assert result.state_dict['neck.lateral_convs.0.conv.weight'].shape == (8, 16, 1, 1)
    assert result.unmatched == ['roi_head.bbox_head.0.fc.weight']
    kept = convert_state_dict(state, backbone='keep')
    assert 'backbone.patch_embed.proj.weight' in kept.state_dict
    resnet = {'backbone.conv1.weight': torch.zeros(1), 'backbone.layer1.0.conv1.weight':
              torch.zeros(1)}
    assert detect_backbone_layout(resnet) == 'keep'
    assert set(convert_state_dict(resnet).state_dict) == set(resnet)


def test_imagenet_checkpoint_drops_the_classifier_and_masks(tmp_path) -> None:
    """A Microsoft ImageNet file: ``{'model': ...}``, with classifier and ``attn_mask``."""
    state = synthetic_state(original_swin_shapes(**TINY, out_indices=()))
    state.update({'norm.weight': torch.ones(128), 'norm.bias': torch.zeros(128),
                  'head.weight': torch.zeros(10, 128), 'head.bias': torch.zeros(10),
                  'layers.0.blocks.1.attn_mask': torch.zeros(64, 49, 49)})
    result = convert_state_dict(extract_state_dict({'model': state}))
    assert sorted(result.dropped) == ['head.bias', 'head.weight', 'layers.0.blocks.1.attn_mask',
                                      'norm.bias', 'norm.weight']
    path = tmp_path / 'tv_swin_tiny.pth'
    torch.save(result.state_dict, path)
    ours = tv_swin(pretrained=str(path))
    ours.init_weights()  # the out norms norm{i} may be missing from an ImageNet file
    assert torch.equal(ours.features[2].reduction.weight,
                       state['layers.0.downsample.reduction.weight'])


@pytest.mark.parametrize('key, shape, message', [
    ('backbone.absolute_pos_embed', (1, 16, 56, 56), 'absolute position embeddings'),
    ('backbone.layers.0.blocks.0.attn.unknown', (3, ), 'neither mapped'),
    ('backbone.layers.3.downsample.norm.weight', (512, ), 'neither mapped'),
])
def test_unknown_swin_key_is_an_error_naming_it(key: str, shape: Shape, message: str) -> None:
    state = synthetic_state(original_swin_shapes(**TINY), 'backbone.')
    state[key] = torch.zeros(shape)
    with pytest.raises(ValueError, match=f"'{key}' is {message}" if 'neither' in message
                       else f"'{key}'.*{message}"):
        convert_state_dict(state)


def test_wrong_relative_position_index_is_an_error() -> None:
    state = synthetic_state(original_swin_shapes(**TINY))
    key = 'layers.1.blocks.0.attn.relative_position_index'
    state[key] = state[key].t().contiguous()
    with pytest.raises(ValueError, match=f"'{key}': relative position index"):
        convert_swin_backbone(state, prefix='')


# ------------------------------------------------------------------------------------------
# Patch-merging channel order
# ------------------------------------------------------------------------------------------

def test_torchvision_merge_order_is_read_from_torchvision() -> None:
    """Feed torchvision's merging a map whose value is 2 * (row % 2) + (col % 2)."""
    rows, cols = torch.meshgrid(torch.arange(4), torch.arange(4), indexing='ij')
    code = (2 * (rows % 2) + cols % 2).float()[None, :, :, None]  # (1, H, W, C=1)
    merged = _patch_merging_pad(code)[0, 0, 0]  # the 4 parts of the first 2x2 patch
    order = tuple((int(v) // 2, int(v) % 2) for v in merged)
    assert order == SWIN_MERGE_ORDER_TORCHVISION


def test_permutation_maps_one_concatenation_order_to_another() -> None:
    x = torch.randn(2, 6, 6, 5)

    def merge(order):
        return torch.cat([x[:, r::2, c::2] for r, c in order], dim=-1)

    unfold_like = ((0, 0), (0, 1), (1, 0), (1, 1))  # a column-first order, for the check
    perm = patch_merging_permutation(5, src_order=SWIN_MERGE_ORDER_ORIGINAL,
                                     dst_order=unfold_like)
    assert torch.equal(merge(unfold_like), merge(SWIN_MERGE_ORDER_ORIGINAL)[..., perm])
    assert torch.equal(patch_merging_permutation(5), torch.arange(20))  # the orders agree
    with pytest.raises(ValueError, match='permutations'):
        patch_merging_permutation(5, src_order=((0, 0),) * 4)


# ------------------------------------------------------------------------------------------
# Numbers: the converted weights give the original's features
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('size', [(256, 320), (232, 264)])
def test_converted_swin_gives_the_original_features(size: Tuple[int, int]) -> None:
    """(256, 320): maps padded to the window; (232, 264): odd maps padded by the merging."""
    ref = random_reference()
    ours = tv_swin()
    ours.load_state_dict(convert_reference(ref), strict=True)
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert len(got) == 4
    for i, (e, g) in enumerate(zip(expected, got)):
        assert g.shape == e.shape == (2, 16 * 2**i, math.ceil(size[0] / 2**(i + 2)),
                                      math.ceil(size[1] / 2**(i + 2)))
        assert torch.allclose(g, e, atol=1e-5), (i, (g - e).abs().max())


def test_subset_of_out_indices() -> None:
    ref = random_reference(out_indices=(1, 3))
    ours = tv_swin(out_indices=(1, 3))
    ours.load_state_dict(convert_reference(ref), strict=True)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for e, g in zip(ref(x), ours(x), strict=True):
            assert torch.allclose(g, e, atol=1e-5)


def test_a_wrong_merge_order_would_be_caught() -> None:
    """The equivalence test is sensitive to the merging order (here: rows and columns swapped)."""
    ref = random_reference()
    state = convert_reference(ref)
    swapped = patch_merging_permutation(16, dst_order=((0, 0), (0, 1), (1, 0), (1, 1)))
    state['features.2.reduction.weight'] = state['features.2.reduction.weight'][:, swapped]
    state['features.2.norm.weight'] = state['features.2.norm.weight'][swapped]
    state['features.2.norm.bias'] = state['features.2.norm.bias'][swapped]
    ours = tv_swin()
    ours.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert not torch.allclose(ours(x)[1], ref(x)[1], atol=1e-3)


def test_small_maps_differ_where_torchvision_skips_the_shift() -> None:
    """Known difference: torchvision skips the shift when the window covers the (padded) map;
    the original shifts anyway. A 224 input gives a 7x7 stage-4 map: only that stage differs."""
    ref = random_reference()
    ours = tv_swin()
    ours.load_state_dict(convert_reference(ref), strict=True)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert all(torch.allclose(g, e, atol=1e-5) for g, e in zip(got[:3], expected[:3]))
    assert not torch.allclose(got[3], expected[3], atol=1e-3)


# ------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tool():
    return load_tool('convert_checkpoint')


def test_tool_converts_a_swin_video_knet_checkpoint(tool, tmp_path, capsys) -> None:
    state = synthetic_state(original_swin_shapes(**TINY), 'module.backbone.')
    state['module.neck.fpn_convs.0.conv.bias'] = torch.zeros(8)
    src, dst = tmp_path / 'orig.pth', tmp_path / 'ours.pth'
    torch.save({'state_dict': state, 'meta': {'epoch': 8}}, src)
    saved = tool.main([str(src), str(dst)])
    printed = capsys.readouterr().out
    assert 'backbone layout: swin' in printed and "'window_size': 7" in printed
    assert saved['meta']['backbone_layout'] == 'swin' and saved['meta']['epoch'] == 8
    converted = torch.load(dst, weights_only=False)['state_dict']
    assert 'neck.fpn_convs.0.conv.bias' in converted
    backbone = {k[len('backbone.'):]: v for k, v in converted.items()
                if k.startswith('backbone.')}
    tv_swin().load_state_dict(backbone, strict=True)
    kept = tool.main([str(src), str(tmp_path / 'kept.pth'), '--backbone', 'keep'])
    assert 'backbone.patch_embed.proj.weight' in kept['state_dict']


def test_tool_reports_the_unknown_key(tool, tmp_path) -> None:
    state = synthetic_state(original_swin_shapes(**TINY), 'backbone.')
    state['backbone.layers.1.blocks.0.attn.extra'] = torch.zeros(2)
    src = tmp_path / 'orig.pth'
    torch.save(state, src)
    with pytest.raises(ValueError, match="'backbone.layers.1.blocks.0.attn.extra'"):
        tool.main([str(src), str(tmp_path / 'out.pth')])
    assert not (tmp_path / 'out.pth').exists()
