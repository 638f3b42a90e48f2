"""Tests of KernelIterHead: golden losses, assignment inputs, hooks."""
import pytest
import torch
import torch.nn.functional as F

import knet  # noqa: F401  (registers the modules)
from knet.models.heads import KernelUpdateHead, MaskTargets
from knet.registry import MODELS

CH, N_TH, N_THING, N_STUFF = 32, 4, 2, 2
HUNGARIAN = dict(type='MaskHungarianAssigner', cls_cost=dict(type='FocalLossCost', weight=2.0),
                 dice_cost=dict(type='DiceCost', weight=4.0, pred_act=True),
                 mask_cost=dict(type='MaskCost', weight=1.0, pred_act=True))
STAGE = dict(type='KernelUpdateHead', num_thing_classes=N_THING, num_stuff_classes=N_STUFF,
             in_channels=CH, out_channels=CH, num_heads=4, feedforward_channels=64,
             mask_upsample_stride=2,
             kernel_updator_cfg=dict(type='KernelUpdator', in_channels=CH, feat_channels=CH,
                                     out_channels=CH),
             loss_rank=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.1,
                            ignore_index=255))

# Golden losses of _run(seed=0), recorded with this file (2 stages, 1 image, 2 things, 1 stuff).
# Update deliberately, together with the change that moves them.
GOLDEN = {
    's0_loss_cls': 2.132445812225342, 's0_loss_mask': 1.0016686916351318,
    's0_loss_dice': 2.064934015274048, 's0_loss_rank': 0.21182702481746674,
    's1_loss_cls': 1.9534015655517578, 's1_loss_mask': 1.328078269958496,
    's1_loss_dice': 2.352689743041992, 's1_loss_rank': 0.237460657954216,
}


def _iter_head(num_stages=2, **kwargs):
    cfg = dict(type='KernelIterHead', num_stages=num_stages, num_proposals=N_TH,
               num_thing_classes=N_THING, mask_head=STAGE,
               train_cfg=dict(assigner=HUNGARIAN, sampler=dict(type='MaskPseudoSampler')))
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _data(batch=1, with_things=True):
    """x_feats (B, C, 8, 8), kernels (B, 6, C, 1, 1), masks (B, 6, 8, 8), targets at 16x16."""
    x = torch.randn(batch, CH, 8, 8)
    kernels = torch.randn(batch, N_TH + N_STUFF, CH, 1, 1)
    masks = torch.randn(batch, N_TH + N_STUFF, 8, 8) * 3
    thing = torch.zeros(2, 16, 16)
    thing[0, 2:8, 2:8] = 1.0
    thing[1, 9:15, 6:14] = 1.0
    thing = F.avg_pool2d(thing[None], 3, 1, 1)[0]  # soft edges, like the resized targets
    stuff = (thing.sum(0, keepdim=True) == 0).float()
    labels = torch.tensor([0, 1])
    if not with_things:
        thing, labels = thing[:0], labels[:0]
    target = MaskTargets(thing, labels, stuff, torch.tensor([N_THING + 1]))
    return x, kernels, masks, [target] * batch


def _run(seed=0, **kwargs):
    torch.manual_seed(seed)
    head = _iter_head(**kwargs)
    x, kernels, masks, targets = _data()
    return head, head.loss(x, kernels, masks, targets)


def test_golden_losses() -> None:
    _, (losses, _) = _run(seed=0)
    assert set(losses) == set(GOLDEN) | {'s0_pos_acc', 's1_pos_acc'}
    for key, value in GOLDEN.items():
        assert float(losses[key].detach()) == pytest.approx(value, rel=1e-4), key


def test_stage_loss_weights_scale_losses_only() -> None:
    _, (ref, _) = _run(seed=0)
    _, (scaled, _) = _run(seed=0, stage_loss_weights=[1.0, 0.5])
    for key in GOLDEN:
        factor = 0.5 if key.startswith('s1_') else 1.0
        assert float(scaled[key].detach()) == pytest.approx(factor * float(ref[key].detach()),
                                                            rel=1e-5)
    assert float(scaled['s1_pos_acc']) == float(ref['s1_pos_acc'])


def test_all_parameters_get_gradients_and_final_outputs() -> None:
    head, (losses, final) = _run(seed=1, num_stages=3)
    assert final.cls_score.shape == (1, 6, N_THING + N_STUFF)
    assert final.mask_preds.shape == (1, 6, 8, 8)
    assert final.scaled_mask_preds.shape == (1, 6, 16, 16)
    assert final.obj_feat.shape == (1, 6, CH, 1, 1)
    assert final.obj_feat_track is None
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert [n for n, p in head.named_parameters() if p.grad is None] == []
    assert all(torch.isfinite(v).all() for v in losses.values())


def test_empty_ground_truth() -> None:
    torch.manual_seed(0)
    head = _iter_head()
    x, kernels, masks, targets = _data(batch=2, with_things=False)
    losses, _ = head.loss(x, kernels, masks, targets)
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['s0_loss_mask']) > 0  # the stuff kernel is still a positive
    no_stuff = [MaskTargets(t.thing_masks, t.thing_labels, t.stuff_masks[:0],
                            t.stuff_labels[:0]) for t in targets]
    losses, _ = head.loss(x, kernels, masks, no_stuff)
    for stage in range(2):
        assert float(losses[f's{stage}_loss_mask']) == 0
        assert float(losses[f's{stage}_loss_dice']) == 0
        assert float(losses[f's{stage}_loss_cls']) > 0  # all-negative focal term


class _SpyAssigner:
    """Records the inputs of ``assign`` and delegates to the real assigner."""

    def __init__(self, assigner):
        self.assigner, self.calls = assigner, []

    def assign(self, mask_pred, cls_pred, gt_masks, gt_labels):
        self.calls.append((mask_pred.clone(), None if cls_pred is None else cls_pred.clone()))
        return self.assigner.assign(mask_pred, cls_pred, gt_masks, gt_labels)


def test_assignment_uses_previous_stage_predictions() -> None:
    torch.manual_seed(0)
    head = _iter_head()
    head.assigners = [_SpyAssigner(a) for a in head.assigners]
    x, kernels, masks, targets = _data()
    outputs = head.forward(x, kernels, masks, upsample_all=True)
    head.loss(x, kernels, masks, targets)
    rpn_up = F.interpolate(masks, scale_factor=2, mode='bilinear', align_corners=False)
    (mask0, cls0), = head.assigners[0].calls
    assert cls0 is None and torch.allclose(mask0, rpn_up[0, :N_TH])  # stage 0: RPN, no cls
    (mask1, cls1), = head.assigners[1].calls
    assert torch.allclose(mask1, outputs[0].scaled_mask_preds[0, :N_TH].detach(), atol=1e-5)
    assert torch.allclose(cls1, outputs[0].cls_score[0, :N_TH, :N_THING].detach(), atol=1e-5)


class _LinkedHead(KernelUpdateHead):
    """A video-like stage taking an extra input and filling the extra output."""

    def forward(self, x, kernels, mask_preds, previous_obj_feats=None):
        out = super().forward(x, kernels, mask_preds)
        return out._replace(obj_feat_track=out.obj_feat * 0 + previous_obj_feats.mean())


def test_last_stage_kwargs_reach_only_the_last_stage() -> None:
    torch.manual_seed(0)
    head = _iter_head()
    cfg = {k: v for k, v in STAGE.items() if k != 'type'}
    head.mask_head[1] = _LinkedHead(**cfg)
    x, kernels, masks, targets = _data()
    kwargs = dict(previous_obj_feats=torch.full((1, 6, CH, 1, 1), 3.0))
    final = head.predict(x, kernels, masks, last_stage_kwargs=kwargs)
    assert torch.allclose(final.obj_feat_track, torch.full((1, 6, CH, 1, 1), 3.0))
    assert final.scaled_mask_preds.shape == (1, 6, 16, 16)
    _, final = head.loss(x, kernels, masks, targets, last_stage_kwargs=kwargs)
    assert torch.allclose(final.obj_feat_track, torch.full((1, 6, CH, 1, 1), 3.0))
    with pytest.raises(TypeError):  # stage 0 is a plain head: it must not receive the kwargs
        head.mask_head[0](x, kernels, masks, **kwargs)


def test_test_time_upsamples_last_stage_only() -> None:
    head = _iter_head()
    x, kernels, masks, _ = _data()
    outputs = head.forward(x, kernels, masks)
    assert outputs[0].scaled_mask_preds is outputs[0].mask_preds
    assert outputs[1].scaled_mask_preds.shape[-2:] == (16, 16)
    up = F.interpolate(outputs[1].mask_preds, scale_factor=2, mode='bilinear',
                       align_corners=False)
    assert torch.equal(outputs[1].scaled_mask_preds, up)


def test_config_errors() -> None:
    with pytest.raises(ValueError, match='stage_loss_weights'):
        _iter_head(stage_loss_weights=[1.0])
    with pytest.raises(ValueError, match='mask_head'):
        _iter_head(mask_head=[STAGE])
    head = _iter_head(train_cfg=None)
    with pytest.raises(RuntimeError, match='train_cfg'):
        head.loss(*_data())
