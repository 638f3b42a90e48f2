"""Tests of KernelUpdateHead: shapes, hand-computed features, targets and losses, keys."""
import math
from types import SimpleNamespace

import pytest
import torch

import knet  # noqa: F401  (registers the modules)
from knet.models.heads import KernelUpdateHead, MaskTargets, StageOutput
from knet.registry import MODELS


def _head(ch=32, num_thing=2, num_stuff=3, **kwargs):
    cfg = dict(type='KernelUpdateHead', num_thing_classes=num_thing, num_stuff_classes=num_stuff,
               in_channels=ch, out_channels=ch, num_heads=4, feedforward_channels=2 * ch,
               kernel_updator_cfg=dict(type='KernelUpdator', in_channels=ch, feat_channels=ch,
                                       out_channels=ch))
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _inputs(batch=2, num_kernels=7, ch=32, h=6, w=8):
    return (torch.randn(batch, ch, h, w), torch.randn(batch, num_kernels, ch, 1, 1),
            torch.randn(batch, num_kernels, h, w))


@pytest.mark.parametrize('num_thing,num_stuff,num_kernels', [(2, 3, 7), (1, 0, 4), (4, 6, 16)])
def test_forward_shapes(num_thing, num_stuff, num_kernels) -> None:
    head = _head(num_thing=num_thing, num_stuff=num_stuff)
    out = head(*_inputs(num_kernels=num_kernels))
    assert isinstance(out, StageOutput)
    assert out.cls_score.shape == (2, num_kernels, num_thing + num_stuff)
    assert out.mask_preds.shape == (2, num_kernels, 6, 8)
    assert out.obj_feat.shape == (2, num_kernels, 32, 1, 1)
    assert out.group_feats.shape == (2, num_kernels, 32)
    assert out.scaled_mask_preds is out.mask_preds  # a stage alone does not upsample
    assert out.obj_feat_track is None
    assert all(torch.isfinite(v).all() for v in out if v is not None)


def test_group_features_and_masks_by_hand() -> None:
    head = _head()
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)
    x = torch.cat([x, torch.zeros(1, 30, 3, 4)], dim=1)
    logits = torch.full((1, 1, 3, 4), -3.0)
    logits[0, 0, 0, :2] = 2.0  # sigmoid > 0.5 at (0, 0) and (0, 1) only
    feats = head.assemble_group_features(x, logits)
    assert feats[0, 0, :2].tolist() == [0 + 1, 12 + 13]  # a sum under the hard mask
    # Masks at another size are resized bilinearly to the features first.
    assert head.assemble_group_features(x, torch.full((1, 1, 6, 8), 5.0))[0, 0, 0] == 66
    # New masks = 1x1 dynamic conv of the transformed features with fc_mask(mask_fcs(kernel)).
    x_in, kernels, masks = _inputs(batch=1, num_kernels=3)
    out = head(x_in, kernels, masks)
    obj = out.obj_feat[:, :, :, 0, 0]  # (1, 3, C)
    dyn = head.fc_mask(head.mask_fcs[2](head.mask_fcs[1](head.mask_fcs[0](obj))))
    expected = torch.einsum('bnc,bchw->bnhw', dyn, head.feat_transform(x_in))
    assert torch.allclose(out.mask_preds, expected, atol=1e-4)


def test_init_weights() -> None:
    head = _head(ch=64)
    prior = -math.log((1 - 0.01) / 0.01)
    assert torch.allclose(head.fc_cls.bias, torch.full_like(head.fc_cls.bias, prior))
    for name, param in head.named_parameters():  # xavier-uniform on every dim > 1 parameter
        if param.dim() > 1:
            fan_out, fan_in = param.shape[0], param[0].numel()
            bound = math.sqrt(6 / (fan_in + fan_out * param[0, 0].numel()))
            assert float(param.detach().abs().max()) <= bound + 1e-6, name
    assert torch.equal(head.ffn_norm.weight, torch.ones(64))


def test_reference_key_names_and_parameter_count() -> None:
    head = MODELS.build(dict(type='KernelUpdateHead', num_thing_classes=2, num_stuff_classes=17))
    sd = head.state_dict()
    shapes = {
        'attention.attn.in_proj_weight': (768, 256), 'attention.attn.in_proj_bias': (768, ),
        'attention.attn.out_proj.weight': (256, 256), 'attention_norm.weight': (256, ),
        'kernel_update_conv.dynamic_layer.weight': (512, 256),
        'kernel_update_conv.input_layer.weight': (512, 256),
        'kernel_update_conv.input_gate.weight': (256, 256),
        'kernel_update_conv.update_gate.weight': (256, 256),
        'kernel_update_conv.input_norm_out.bias': (256, ),
        'kernel_update_conv.fc_layer.weight': (256, 256),
        'kernel_update_conv.fc_norm.bias': (256, ),
        'feat_transform.conv.weight': (256, 256, 1, 1), 'feat_transform.conv.bias': (256, ),
        'ffn.layers.0.0.weight': (2048, 256), 'ffn.layers.1.weight': (256, 2048),
        'ffn_norm.bias': (256, ), 'cls_fcs.0.weight': (256, 256), 'cls_fcs.1.weight': (256, ),
        'fc_cls.weight': (19, 256), 'fc_cls.bias': (19, ), 'mask_fcs.0.weight': (256, 256),
        'mask_fcs.1.bias': (256, ), 'fc_mask.weight': (256, 256), 'fc_mask.bias': (256, ),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert 'cls_fcs.0.bias' not in sd and 'mask_fcs.0.bias' not in sd
    # The original's count: head without updater and link 1,583,635 + gated updater 463,104.
    assert sum(p.numel() for p in head.parameters()) == 1_583_635 + 463_104


def _sampling(pos_inds, pos_labels, pos_masks):
    return SimpleNamespace(pos_inds=torch.tensor(pos_inds, dtype=torch.long),
                           pos_gt_labels=torch.tensor(pos_labels, dtype=torch.long),
                           pos_gt_masks=pos_masks)


def test_targets_by_hand() -> None:
    head = _head(num_thing=2, num_stuff=3)
    thing = torch.zeros(1, 2, 2)
    thing[0, 0, 0] = 0.75
    stuff = torch.ones(1, 2, 2) * 0.5
    target = MaskTargets(thing, torch.tensor([1]), stuff, torch.tensor([3]))  # stuff index 1
    labels, weights, masks = head.get_targets([_sampling([2], [1], thing)], [target], 7)
    assert labels.tolist() == [5, 5, 1, 5, 5, 3, 5]  # 4 thing rows + 3 stuff rows; 5 = bg
    expected_w = torch.zeros(7, 5)
    expected_w[:4, :2] = 1  # thing kernels: thing columns only (positives and negatives)
    expected_w[4:, 2:] = torch.eye(3)  # stuff kernel j: its own column only
    assert torch.equal(weights, expected_w)
    assert torch.equal(masks[2], thing[0]) and torch.equal(masks[5], stuff[0])
    assert masks[[0, 1, 3, 4, 6]].abs().sum() == 0


def test_losses_by_hand_and_gradients() -> None:
    head = _head(num_thing=2, num_stuff=3,
                 loss_rank=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.1,
                                ignore_index=255))
    x, kernels, masks = _inputs(batch=1, num_kernels=7, h=4, w=4)
    out = head(x, kernels, masks)
    thing = torch.zeros(1, 4, 4)
    thing[0, :2] = 1.0
    target = MaskTargets(thing, torch.tensor([0]), torch.zeros(0, 4, 4),
                         torch.zeros(0, dtype=torch.long))
    losses = head.loss_by_feat(out.cls_score, out.mask_preds, [_sampling([1], [0], thing)],
                               [target])
    assert set(losses) == {'loss_cls', 'loss_mask', 'loss_dice', 'loss_rank', 'pos_acc'}
    p = out.mask_preds[0, 1].sigmoid()
    dice = 1 - 2 * (p * thing[0]).sum() / ((p * p).sum() + 1e-3 + (thing[0]**2).sum() + 1e-3)
    assert float(losses['loss_dice'].detach()) == pytest.approx(4.0 * float(dice.detach()),
                                                                rel=1e-5)
    # Focal loss summed over the weighted entries, divided by #positives (= 1).
    logits = out.cls_score[0]
    onehot = torch.zeros(7, 5)
    onehot[1, 0] = 1
    prob = logits.sigmoid()
    pt = (1 - prob) * onehot + prob * (1 - onehot)
    focal = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, onehot, reduction='none') * (0.25 * onehot + 0.75 * (1 - onehot)) * pt**2
    weights = torch.zeros(7, 5)
    weights[:4, :2] = 1
    weights[4:, 2:] = torch.eye(3)
    assert float(losses['loss_cls']) == pytest.approx(2.0 * float((focal * weights).sum()),
                                                      rel=1e-5)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    no_grad = [n for n, prm in head.named_parameters() if prm.grad is None]
    assert no_grad == []


def test_losses_without_positives_are_finite() -> None:
    head = _head(num_thing=2, num_stuff=0)
    out = head(*_inputs(batch=2, num_kernels=4, h=4, w=4))
    empty = MaskTargets(torch.zeros(0, 4, 4), torch.zeros(0, dtype=torch.long),
                        torch.zeros(0, 4, 4), torch.zeros(0, dtype=torch.long))
    sampling = _sampling([], [], torch.zeros(0, 4, 4))
    losses = head.loss_by_feat(out.cls_score, out.mask_preds, [sampling] * 2, [empty] * 2)
    assert float(losses['loss_mask']) == 0 and float(losses['loss_dice']) == 0
    assert float(losses['loss_cls']) > 0 and torch.isfinite(losses['loss_cls'])


def test_subclass_extends_forward_without_copying() -> None:

    class LinkedHead(KernelUpdateHead):
        """What a video head does: reuse forward, fill obj_feat_track from obj_feat."""

        def forward(self, x, kernels, mask_preds, previous_obj_feats=None):
            out = super().forward(x, kernels, mask_preds)
            prev = 0 if previous_obj_feats is None else previous_obj_feats
            return out._replace(obj_feat_track=out.obj_feat + prev)

    head = LinkedHead(num_thing_classes=2, num_stuff_classes=1, in_channels=32, out_channels=32,
                      num_heads=4, feedforward_channels=64,
                      kernel_updator_cfg=dict(type='KernelUpdator', in_channels=32,
                                              feat_channels=32, out_channels=32))
    x, kernels, masks = _inputs(batch=1, num_kernels=3)
    out = head(x, kernels, masks, previous_obj_feats=torch.ones(1, 3, 32, 1, 1))
    assert torch.allclose(out.obj_feat_track, out.obj_feat + 1)


def test_rejects_softmax_classification() -> None:
    with pytest.raises(ValueError, match='sigmoid'):
        _head(loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False))
