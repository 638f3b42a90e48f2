"""Round trip of tools/convert_checkpoint.py on a synthetic original Video K-Net checkpoint.

The synthetic state dict has exactly the key names and shapes of the original (mmdet ResNet-50,
mmdet FPN, ConvKernelHead with its semantic FPN, 3 VideoKernelUpdateHead stages with link
modules, the tracking head and embedding layers). Values are random: only names and shapes
matter for the mapping.
"""
import os
from typing import Dict, Tuple

import pytest
import torch
from helpers import REPO, load_tool
from mmengine.config import Config
from write_faults import leftovers, simulate_full_disk

import knet  # noqa: F401  (registers the modules)
from knet.models.utils.ckpt_convert import compare_with_model, convert_state_dict, map_key
from knet.registry import MODELS

Shape = Tuple[int, ...]
C = 256


def _bn(prefix: str, ch: int) -> Dict[str, Shape]:
    return {f'{prefix}.weight': (ch, ), f'{prefix}.bias': (ch, ), f'{prefix}.running_mean': (ch, ),
            f'{prefix}.running_var': (ch, ), f'{prefix}.num_batches_tracked': ()}


def _backbone() -> Dict[str, Shape]:
    """mmdet ResNet-50 (torchvision names, no fc)."""
    keys = {'backbone.conv1.weight': (64, 3, 7, 7), **_bn('backbone.bn1', 64)}
    in_ch = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f'backbone.layer{layer}.{b}'
            keys[f'{p}.conv1.weight'] = (width, in_ch, 1, 1)
            keys[f'{p}.conv2.weight'] = (width, width, 3, 3)
            keys[f'{p}.conv3.weight'] = (width * 4, width, 1, 1)
            for i, ch in ((1, width), (2, width), (3, width * 4)):
                keys.update(_bn(f'{p}.bn{i}', ch))
            if b == 0:
                keys[f'{p}.downsample.0.weight'] = (width * 4, in_ch, 1, 1)
                keys.update(_bn(f'{p}.downsample.1', width * 4))
            in_ch = width * 4
    return keys


def _neck_and_rpn() -> Dict[str, Shape]:
    """mmdet FPN + ConvKernelHead with localization_fpn."""
    keys: Dict[str, Shape] = {}
    for i, ch in enumerate((256, 512, 1024, 2048)):
        keys.update({f'neck.lateral_convs.{i}.conv.weight': (C, ch, 1, 1),
                     f'neck.lateral_convs.{i}.conv.bias': (C, ),
                     f'neck.fpn_convs.{i}.conv.weight': (C, C, 3, 3),
                     f'neck.fpn_convs.{i}.conv.bias': (C, )})

    def conv_gn(prefix: str, k: int) -> Dict[str, Shape]:
        return {f'{prefix}.conv.weight': (C, C, k, k), f'{prefix}.gn.weight': (C, ),
                f'{prefix}.gn.bias': (C, )}

    fpn = 'rpn_head.localization_fpn'
    for level in range(4):
        for j in range(max(level, 1)):
            keys.update(conv_gn(f'{fpn}.convs_all_levels.{level}.conv{j}', 3))
    keys.update(conv_gn(f'{fpn}.conv_pred', 1))
    keys.update(conv_gn(f'{fpn}.aux_convs.0', 1))
    keys.update(conv_gn('rpn_head.loc_convs.0', 1))
    keys.update(conv_gn('rpn_head.seg_convs.0', 1))
    keys.update({'rpn_head.init_kernels.weight': (100, C, 1, 1),
                 'rpn_head.conv_seg.weight': (19, C, 1, 1), 'rpn_head.conv_seg.bias': (19, )})
    return keys


def _attention(prefix: str) -> Dict[str, Shape]:
    return {f'{prefix}.attn.in_proj_weight': (3 * C, C), f'{prefix}.attn.in_proj_bias': (3 * C, ),
            f'{prefix}.attn.out_proj.weight': (C, C), f'{prefix}.attn.out_proj.bias': (C, )}


def _ffn(prefix: str) -> Dict[str, Shape]:
    return {f'{prefix}.layers.0.0.weight': (2048, C), f'{prefix}.layers.0.0.bias': (2048, ),
            f'{prefix}.layers.1.weight': (C, 2048), f'{prefix}.layers.1.bias': (C, )}


def _ln(prefix: str) -> Dict[str, Shape]:
    return {f'{prefix}.weight': (C, ), f'{prefix}.bias': (C, )}


def _stage(s: int, link: bool) -> Dict[str, Shape]:
    """One (Video)KernelUpdateHead with the original updater."""
    p = f'roi_head.mask_head.{s}'
    keys = {**_attention(f'{p}.attention'), **_ln(f'{p}.attention_norm'),
            **_ffn(f'{p}.ffn'), **_ln(f'{p}.ffn_norm'),
            f'{p}.feat_transform.conv.weight': (C, C, 1, 1), f'{p}.feat_transform.conv.bias': (C, ),
            f'{p}.cls_fcs.0.weight': (C, C), **_ln(f'{p}.cls_fcs.1'),
            f'{p}.fc_cls.weight': (19, C), f'{p}.fc_cls.bias': (19, ),
            f'{p}.mask_fcs.0.weight': (C, C), **_ln(f'{p}.mask_fcs.1'),
            f'{p}.fc_mask.weight': (C, C), f'{p}.fc_mask.bias': (C, )}
    u = f'{p}.kernel_update_conv'
    for name, out in (('dynamic_layer', 2 * C), ('input_layer', 2 * C), ('input_gate', C),
                      ('update_gate', C), ('fc_layer', C)):
        keys.update({f'{u}.{name}.weight': (out, C), f'{u}.{name}.bias': (out, )})
    for name in ('norm_in', 'norm_out', 'input_norm_in', 'input_norm_out', 'fc_norm'):
        keys.update(_ln(f'{u}.{name}'))
    if link:
        keys.update({**_attention(f'{p}.attention_previous'),
                     **_ln(f'{p}.attention_previous_norm'), **_ffn(f'{p}.link_ffn'),
                     **_ln(f'{p}.link_ffn_norm')})
    return keys


def _tracking() -> Dict[str, Shape]:
    """Track head and detector-level embedding layers."""
    keys: Dict[str, Shape] = {}
    for name in ('track_head.fcs.0', 'track_head.fcs.1', 'track_head.fc_embed', 'fc_embed'):
        keys.update({f'{name}.weight': (C, C), f'{name}.bias': (C, )})
    keys.update({'embed_fcs.0.weight': (C, C), **_ln('embed_fcs.1')})
    return keys


def original_video_knet_shapes() -> Dict[str, Shape]:
    shapes = {**_backbone(), **_neck_and_rpn(), **_tracking()}
    for s in range(3):
        shapes.update(_stage(s, link=True))
    return shapes


def _tensors(shapes: Dict[str, Shape]) -> Dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {k: (torch.tensor(7) if not shape else torch.randn(shape, generator=gen))
            for k, shape in shapes.items()}


@pytest.fixture(scope='module')
def tool():
    return load_tool('convert_checkpoint')


@pytest.fixture(scope='module')
def r50_knet():
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'models' / 'knet_r50_fpn.py'))
    return MODELS.build(cfg.model)


def test_synthetic_checkpoint_matches_the_documented_counts() -> None:
    shapes = original_video_knet_shapes()
    count = sum(torch.Size(s).numel() for k, s in shapes.items()
                if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked')))
    # Image K-Net 37,419,660 + 3 link blocks (1,315,072 each) + tracking (3 x 65,792 +
    # 66,048 + 65,792), i.e. a video head per stage of 3,361,811 parameters.
    assert count == 37_419_660 + 3 * 1_315_072 + 3 * 65_792 + 66_048 + 65_792


def test_map_key_rules() -> None:
    assert map_key('module.backbone.conv1.weight') == 'backbone.conv1.weight'
    assert map_key('roi_head.mask_head.2.fc_cls.bias') == 'roi_head.mask_head.2.fc_cls.bias'
    assert map_key('roi_head.bbox_head.0.fc.weight') is None
    assert map_key('some_other.weight') is None


def test_round_trip_into_our_knet(tool, r50_knet, tmp_path, capsys) -> None:
    state = _tensors(original_video_knet_shapes())
    state['module_free_extra.weight'] = torch.zeros(1)  # an unknown key gets reported
    src, dst = tmp_path / 'orig.pth', tmp_path / 'ours.pth'
    torch.save({'meta': {'epoch': 12, 'CLASSES': ('a', )}, 'state_dict': state,
                'optimizer': {}}, src)
    saved = tool.main([str(src), str(dst)])
    printed = capsys.readouterr().out
    assert 'unmatched keys (dropped): 1' in printed and 'module_free_extra.weight' in printed
    converted = torch.load(dst, weights_only=False)['state_dict']
    assert saved['meta']['epoch'] == 12
    # The stage-0/1 link copies are dropped (our video model builds the link in stage 2 only).
    link_names = ('attention_previous', 'link_ffn')
    assert not any(f'mask_head.{s}.{n}' in k for k in converted for s in (0, 1)
                   for n in link_names)
    assert sum(f'mask_head.2.{n}' in k for k in converted for n in link_names) == 12
    missing, unexpected, mismatch = compare_with_model(converted, r50_knet)
    assert missing == [] and mismatch == []
    video_only = ('track_head.', 'embed_fcs.', 'fc_embed.',
                  'roi_head.mask_head.2.attention_previous', 'roi_head.mask_head.2.link_ffn')
    assert unexpected and all(k.startswith(video_only) for k in unexpected)
    image_part = {k: v for k, v in converted.items() if k not in set(unexpected)}
    r50_knet.load_state_dict(image_part, strict=True)
    assert torch.equal(r50_knet.roi_head.mask_head[1].fc_cls.weight,
                       state['roi_head.mask_head.1.fc_cls.weight'])
    assert torch.equal(r50_knet.backbone.layer3[5].bn2.running_var,
                       state['backbone.layer3.5.bn2.running_var'])


def test_keep_all_link_stages_and_ddp_prefix() -> None:
    state = {'module.' + k: v for k, v in _tensors(_stage(0, True) | _stage(1, True)).items()}
    result = convert_state_dict(state)
    assert len(result.dropped) == 12 and all('mask_head.0.' in k for k in result.dropped)
    assert all(not k.startswith('module.') for k in result.state_dict)
    kept = convert_state_dict(state, keep_all_link_stages=True)
    assert kept.dropped == {} and len(kept.state_dict) == len(state)


def test_strict_check_against_config(tool, tmp_path) -> None:
    state = _tensors({'rpn_head.conv_seg.weight': (19, C, 1, 1)})
    src = tmp_path / 'partial.pth'
    torch.save(state, src)  # a bare state dict is accepted too
    config = str(REPO / 'configs' / 'tiny' / 'knet_tiny.py')
    with pytest.raises(RuntimeError, match='key problems'):
        tool.main([str(src), str(tmp_path / 'out.pth'), '--config', config, '--strict'])


def _training_checkpoint(path) -> bytes:
    state = _tensors({'rpn_head.conv_seg.weight': (19, 8, 1, 1)})
    torch.save({'state_dict': state, 'optimizer': {'lr': 0.1}, 'meta': {'iter': 3}}, path)
    return path.read_bytes()


def test_never_writes_over_its_input(tool, tmp_path) -> None:
    """`convert_checkpoint.py x.pth x.pth` replaced a training checkpoint by weights only."""
    src = tmp_path / 'x.pth'
    original = _training_checkpoint(src)
    link = tmp_path / 'same_file.pth'
    os.link(src, link)
    for dst, extra in ((src, []), (src, ['--force']), (link, ['--force'])):
        with pytest.raises(FileExistsError, match='is the input checkpoint'):
            tool.main([str(src), str(dst)] + extra)
    assert src.read_bytes() == original


def test_existing_output_needs_force(tool, tmp_path) -> None:
    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    _training_checkpoint(src)
    user = tmp_path / 'user.bin'
    user.write_bytes(b'a file of the user')
    os.link(user, dst)
    with pytest.raises(FileExistsError, match='out.pth exists: .*--force'):
        tool.main([str(src), str(dst)])
    assert dst.read_bytes() == b'a file of the user'
    tool.main([str(src), str(dst), '--force'])
    assert user.read_bytes() == b'a file of the user'  # the link was replaced, not written
    assert list(torch.load(dst, weights_only=False)) == ['state_dict', 'meta']
    assert not [p for p in tmp_path.iterdir() if '.tmp' in p.name]


def test_full_disk_leaves_no_output(tool, tmp_path, monkeypatch) -> None:
    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    _training_checkpoint(src)
    simulate_full_disk(monkeypatch)
    with pytest.raises(OSError, match=f'cannot write {dst}: No space left'):
        tool.main([str(src), str(dst)])
    assert leftovers(tmp_path) == [] and not dst.exists()
