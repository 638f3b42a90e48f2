"""Tests of the backbones: shapes, state-dict names, freezing, loading."""
import pytest
import torch
import torchvision.models as tvm
from torch.nn.modules.batchnorm import _BatchNorm

from knet.models.backbones import ResNet, TVSwin
from knet.registry import MODELS

TINY_SWIN = dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4))


@pytest.fixture(scope='module')
def r50() -> ResNet:
    return ResNet(depth=50, norm_cfg=dict(type='SyncBN', requires_grad=True), frozen_stages=1)


def test_r50_state_dict_names_shapes_and_count(r50: ResNet) -> None:
    sd = r50.state_dict()
    expected = {
        'conv1.weight': (64, 3, 7, 7),
        'bn1.weight': (64, ),
        'bn1.running_var': (64, ),
        'bn1.num_batches_tracked': (),
        'layer1.0.conv1.weight': (64, 64, 1, 1),
        'layer1.0.conv2.weight': (64, 64, 3, 3),
        'layer1.0.conv3.weight': (256, 64, 1, 1),
        'layer1.0.bn3.bias': (256, ),
        'layer1.0.downsample.0.weight': (256, 64, 1, 1),
        'layer1.0.downsample.1.running_mean': (256, ),
        'layer2.0.downsample.0.weight': (512, 256, 1, 1),
        'layer3.5.conv2.weight': (256, 256, 3, 3),
        'layer4.2.conv3.weight': (2048, 512, 1, 1),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith(('fc.', 'avgpool')) for k in sd)
    blocks = {layer: len({k.split('.')[1] for k in sd if k.startswith(layer + '.')})
              for layer in ('layer1', 'layer2', 'layer3', 'layer4')}
    assert blocks == dict(layer1=3, layer2=4, layer3=6, layer4=3)
    # torchvision resnet50: 25,557,032 parameters minus fc (2048 * 1000 + 1000).
    assert sum(p.numel() for p in r50.parameters()) == 23_508_032
    assert isinstance(r50.bn1, torch.nn.SyncBatchNorm)
    bn_keys = set(ResNet(depth=50, norm_cfg=dict(type='BN')).state_dict())
    assert bn_keys == set(sd)


def test_r50_forward_shapes(r50: ResNet) -> None:
    r50.eval()
    with torch.no_grad():
        outs = r50(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 24), (1, 512, 8, 12),
                                              (1, 1024, 4, 6), (1, 2048, 2, 3)]
    assert r50.out_channels == [256, 512, 1024, 2048]


@pytest.mark.parametrize('depth', [18, 34])
def test_basic_block_resnets_shapes(depth: int) -> None:
    net = MODELS.build(dict(type='ResNet', depth=depth, num_stages=3, out_indices=(0, 2)))
    outs = net(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 8, 8), (2, 256, 2, 2)]
    assert not hasattr(net, 'layer4')


def _bn_stats(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([m.running_mean.clone() for m in module.modules()
                      if isinstance(m, _BatchNorm)])


def test_frozen_stages_without_norm_eval() -> None:
    net = ResNet(depth=18, frozen_stages=1, norm_eval=False)
    net.train()
    frozen = list(net.conv1.parameters()) + list(net.bn1.parameters()) + list(
        net.layer1.parameters())
    assert frozen and all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in net.layer2.parameters())
    assert not net.bn1.training and not net.layer1[0].bn1.training
    assert net.layer2[0].bn1.training
    before1, before2 = _bn_stats(net.layer1), _bn_stats(net.layer2)
    net(torch.randn(2, 3, 32, 32))
    assert torch.equal(_bn_stats(net.layer1), before1)
    assert not torch.equal(_bn_stats(net.layer2), before2)


def test_norm_eval_keeps_running_stats() -> None:
    net = ResNet(depth=18, frozen_stages=-1, norm_eval=True)
    net.train()
    assert net.training
    assert all(not m.training for m in net.modules() if isinstance(m, _BatchNorm))
    before = _bn_stats(net)
    out = net(torch.randn(2, 3, 32, 32))
    assert torch.equal(_bn_stats(net), before)
    sum(o.sum() for o in out).backward()
    # BN affine parameters still train; every parameter receives a gradient.
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_norm_requires_grad_false() -> None:
    net = ResNet(depth=18, norm_cfg=dict(type='BN', requires_grad=False))
    bn_params = [p for m in net.modules() if isinstance(m, _BatchNorm) for p in m.parameters()]
    assert bn_params and all(not p.requires_grad for p in bn_params)
    assert net.conv1.weight.requires_grad


def test_pretrained_torchvision_and_mmcv_files(tmp_path) -> None:
    torch.manual_seed(0)
    ref = tvm.resnet18(weights=None)
    tv_path = tmp_path / 'tv.pth'
    torch.save(ref.state_dict(), tv_path)
    net = ResNet(depth=18, pretrained=str(tv_path))
    assert not torch.equal(net.layer3[1].conv2.weight, ref.layer3[1].conv2.weight)
    net.init_weights()
    assert torch.equal(net.layer3[1].conv2.weight, ref.layer3[1].conv2.weight)
    assert torch.equal(net.bn1.running_var, ref.bn1.running_var)

    mm_path = tmp_path / 'mmcv.pth'
    mm_state = {f'backbone.{k}': v for k, v in ref.state_dict().items() if not k.startswith('fc')}
    mm_state['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    torch.save(dict(meta={}, state_dict=mm_state), mm_path)
    net2 = ResNet(depth=18, num_stages=3, out_indices=(0, 1, 2),
                  init_cfg=dict(type='Pretrained', checkpoint=str(mm_path)))
    net2.init_weights()
    assert torch.equal(net2.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)


def test_pretrained_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ResNet(depth=18, pretrained=str(tmp_path / 'missing.pth')).init_weights()
    partial = {k: v for k, v in tvm.resnet18(weights=None).state_dict().items()
               if not k.startswith('layer4')}
    torch.save(partial, tmp_path / 'partial.pth')
    with pytest.raises(KeyError, match='lacks'):
        ResNet(depth=18, pretrained=str(tmp_path / 'partial.pth')).init_weights()
    with pytest.raises(ValueError, match='not both'):
        ResNet(depth=18, pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b'))


@pytest.mark.parametrize('kwargs, match', [
    (dict(depth=42), 'depth'),
    (dict(depth=18, style='caffe'), 'style'),
    (dict(depth=18, norm_cfg=dict(type='GN')), 'norm_cfg'),
    (dict(depth=18, num_stages=2, out_indices=(0, 3)), 'out_indices'),
])
def test_resnet_invalid_args(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ResNet(**kwargs)


def test_tvswin_tiny_shapes_grad_and_loading(tmp_path) -> None:
    net = MODELS.build(dict(type='TVSwin', arch=TINY_SWIN, window_size=4, drop_path_rate=0.,
                            out_indices=(0, 1, 2, 3)))
    outs = net(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4),
                                              (2, 128, 2, 2)]
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in net.parameters())
    assert 'norm3.weight' in net.state_dict() and 'features.0.0.weight' in net.state_dict()

    from torchvision.models.swin_transformer import SwinTransformer
    ref = SwinTransformer([4, 4], 16, [1, 1, 1, 1], [1, 2, 2, 4], [4, 4])
    torch.save(ref.state_dict(), tmp_path / 'swin.pth')
    net2 = TVSwin(arch=TINY_SWIN, window_size=4, out_indices=(1, 3),
                  pretrained=str(tmp_path / 'swin.pth'))
    net2.init_weights()
    assert torch.equal(net2.features[3][0].mlp[0].weight, ref.features[3][0].mlp[0].weight)
    assert len(net2(torch.randn(1, 3, 32, 32))) == 2
    with pytest.raises(ValueError, match='arch'):
        TVSwin(arch='x')
