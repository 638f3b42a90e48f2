"""Tests of ConvKernelHead and the shared head helpers."""
import math

import pytest
import torch
import torch.nn.functional as F

import knet  # noqa: F401  (registers the modules)
from knet.models.heads import ConvKernelHead, KernelHeadOutput, MaskTargets
from knet.models.heads.utils import accuracy, rank_targets
from knet.registry import MODELS

CH = 32
HUNGARIAN = dict(type='MaskHungarianAssigner', cls_cost=dict(type='FocalLossCost', weight=2.0),
                 dice_cost=dict(type='DiceCost', weight=4.0, pred_act=True),
                 mask_cost=dict(type='MaskCost', weight=1.0, pred_act=True))
TRAIN_CFG = dict(assigner=HUNGARIAN, sampler=dict(type='MaskPseudoSampler'))


def _head(num_proposals=8, num_thing=2, num_stuff=3, seg_sigmoid=True, **kwargs):
    gn = dict(type='GN', num_groups=8, requires_grad=True)
    loss_seg = (dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
                if seg_sigmoid else
                dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                     ignore_index=num_thing + num_stuff))
    cfg = dict(
        type='ConvKernelHead', num_proposals=num_proposals, in_channels=CH, out_channels=CH,
        num_thing_classes=num_thing, num_stuff_classes=num_stuff, norm_cfg=gn,
        feat_downsample_stride=2, loss_seg=loss_seg,
        loss_rank=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.1,
                       ignore_index=255),
        localization_fpn=dict(
            type='SemanticFPNWrapper', in_channels=CH, feat_channels=CH, out_channels=CH,
            start_level=0, end_level=3, upsample_times=2, norm_cfg=gn,
            positional_encoding=dict(type='SinePositionalEncoding', num_feats=CH // 2,
                                     normalize=True)),
        train_cfg=TRAIN_CFG)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _feats(batch=2, h=64, w=96):
    """FPN levels at strides 4..32 of an (h, w) image."""
    return [torch.randn(batch, CH, h // 2**(i + 2), w // 2**(i + 2)) for i in range(4)]


@pytest.mark.parametrize('num_proposals,num_thing,num_stuff', [(8, 2, 3), (5, 1, 0), (3, 4, 6)])
def test_forward_shapes_and_stuff(num_proposals, num_thing, num_stuff) -> None:
    head = _head(num_proposals, num_thing, num_stuff)
    out = head(_feats())
    assert isinstance(out, KernelHeadOutput)
    assert out.kernels.shape == (2, num_proposals, CH, 1, 1)
    assert out.mask_preds.shape == (2, num_proposals, 8, 12)
    assert out.seg_preds.shape == (2, num_thing + num_stuff, 8, 12)
    assert out.x_feats.shape == (2, CH, 8, 12)
    kernels, masks = head.with_stuff(out)
    n = num_proposals + num_stuff
    assert kernels.shape == (2, n, CH, 1, 1) and masks.shape == (2, n, 8, 12)
    # Stuff kernels are the conv_seg rows of the stuff classes (no bias), same for every image.
    for b in range(2):
        assert torch.equal(kernels[b, num_proposals:], head.conv_seg.weight[num_thing:])
        assert torch.equal(masks[b, num_proposals:], out.seg_preds[b, num_thing:])


def test_initial_kernels_are_learned_plus_sum_pooled() -> None:
    head = _head()
    out = head(_feats(batch=1))
    binary = (out.mask_preds.sigmoid() > 0.5).float()[0]  # (N, h, w)
    x = out.x_feats[0]  # (C, h, w)
    for n in range(binary.shape[0]):
        pooled = (binary[n][None] * x).sum(dim=(1, 2))  # a sum, not a mean
        expected = head.init_kernels.weight[n, :, 0, 0] + pooled
        assert torch.allclose(out.kernels[0, n, :, 0, 0], expected, atol=1e-4)


def test_init_weights() -> None:
    head = _head(num_proposals=64, seg_sigmoid=True)
    assert torch.allclose(head.conv_seg.bias, torch.full_like(head.conv_seg.bias,
                                                              -math.log(99)), atol=1e-4)
    assert 0.8 < float(head.init_kernels.weight.detach().std()) < 1.2  # N(0, 1)
    assert float(head.loc_convs[0].conv.weight.detach().std()) < 0.02  # N(0, 0.01)
    assert _head(seg_sigmoid=False).conv_seg.bias.abs().max() == 0


def test_rank_targets_and_accuracy_by_hand() -> None:
    targets = torch.zeros(1, 3, 2, 3)
    targets[0, 0, 0, :2] = 1.0
    targets[0, 1, 0, 1:] = 0.5  # overlaps kernel 0 at (0, 1): the later positive wins
    targets[0, 2, 1, :] = 1.0  # not a positive
    pos = torch.tensor([[True, True, False]])
    assert rank_targets(pos, targets, 255).tolist() == [[[0, 1, 1], [255, 255, 255]]]
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert float(accuracy(scores, torch.tensor([1, 1, 1, 0]))) == pytest.approx(75.0)
    assert float(accuracy(scores[:0], torch.tensor([], dtype=torch.long))) == 0.0


def _fixed_rpn_outputs(head, h=4, w=6):
    """Outputs whose proposal 1 predicts exactly the GT thing mask; proposal 0 nothing."""
    masks = torch.full((1, 2, h // 2, w // 2), -10.0)
    masks[0, 1, :, 1:] = 10.0
    seg = torch.zeros(1, head.num_classes, h // 2, w // 2, requires_grad=True)
    return KernelHeadOutput(kernels=torch.zeros(1, 2, CH, 1, 1), mask_preds=masks.requires_grad_(),
                            seg_preds=seg, x_feats=torch.zeros(1, CH, h // 2, w // 2))


def test_rpn_targets_and_losses_by_hand() -> None:
    head = _head(num_proposals=2, num_thing=2, num_stuff=2, seg_sigmoid=False)
    out = _fixed_rpn_outputs(head)
    thing = torch.zeros(1, 4, 6)
    # The GT equals the upsampled prediction support of proposal 1 (columns >= 2 after x2).
    up = F.interpolate(out.mask_preds.detach(), scale_factor=2, mode='bilinear',
                       align_corners=False)[0, 1].sigmoid()
    thing[0] = (up > 0.5).float()
    stuff = torch.zeros(2, 4, 6)
    stuff[0, :2] = 1.0  # label 2 on the top rows, partly under the thing
    target = MaskTargets(thing, torch.tensor([1]), stuff[:1], torch.tensor([2]))
    labels, mask_targets, seg_targets = head._targets_single(
        head._upsample(out.mask_preds)[0], target)
    assert labels.tolist() == [4, 1]  # proposal 0 negative (num_classes = 4), 1 matched
    assert torch.equal(mask_targets[1], thing[0]) and mask_targets[0].abs().sum() == 0
    expected_seg = torch.full((4, 6), 4)
    expected_seg[:2] = 2
    expected_seg[thing[0] > 0] = 1  # matched things overwrite stuff
    assert torch.equal(seg_targets, expected_seg)

    losses = head.loss(out, [target])
    assert set(losses) == {'loss_rpn_mask', 'loss_rpn_dice', 'loss_rpn_rank', 'loss_rpn_seg'}
    # Zero seg logits: CE = log(4) on labelled pixels, 0 on ignored ones, mean over ALL pixels.
    num_labelled = int((expected_seg < 4).sum())
    assert float(losses['loss_rpn_seg']) == pytest.approx(math.log(4) * num_labelled / 24,
                                                          rel=1e-5)
    pos_pred = head._upsample(out.mask_preds)[0, 1]
    bce = F.binary_cross_entropy_with_logits(pos_pred, thing[0])
    assert float(losses['loss_rpn_mask']) == pytest.approx(float(bce), rel=1e-5)
    rank = torch.where(thing[0] > 0, 1, 255)
    ce = F.cross_entropy(head._upsample(out.mask_preds), rank[None], ignore_index=255,
                         reduction='none').mean()
    assert float(losses['loss_rpn_rank']) == pytest.approx(0.1 * float(ce), rel=1e-5)


def test_softmax_seg_loss_ignores_label_num_classes_unconfigured() -> None:
    softmax = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
    head = _head(num_proposals=2, num_thing=2, num_stuff=2, loss_seg=softmax)
    assert head.loss_seg.ignore_index is None  # the head passes num_classes = 4 itself
    seg_targets = torch.tensor([[[0, 4, 4], [1, 2, 3]]])  # 4 = unlabelled
    # Zero logits: CE = log(4) on the 4 labelled pixels, 0 on the 2 others, mean over all 6.
    loss = head._seg_loss(torch.zeros(1, 4, 2, 3), seg_targets)
    assert float(loss) == pytest.approx(math.log(4) * 4 / 6, rel=1e-6)
    with pytest.raises(ValueError, match='loss_seg.ignore_index = 255'):
        _head(num_thing=2, num_stuff=2, loss_seg=dict(softmax, ignore_index=255))


def test_rpn_losses_without_things_are_finite_and_zero() -> None:
    head = _head(num_proposals=4, num_thing=2, num_stuff=3, seg_sigmoid=True)
    out = head(_feats(batch=2, h=32, w=32))
    empty = MaskTargets(torch.zeros(0, 8, 8), torch.zeros(0, dtype=torch.long),
                        torch.ones(1, 8, 8), torch.tensor([3]))
    losses = head.loss(out, [empty, empty])
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_rpn_mask']) == 0 and float(losses['loss_rpn_dice']) == 0
    assert float(losses['loss_rpn_rank']) == 0 and float(losses['loss_rpn_seg']) > 0
    sum(losses.values()).backward()


def test_errors() -> None:
    with pytest.raises(ValueError, match='localization_fpn'):
        ConvKernelHead(localization_fpn=None)
    head = _head(num_proposals=2, train_cfg=None)
    with pytest.raises(RuntimeError, match='train_cfg'):
        head.loss(head(_feats(batch=1, h=32, w=32)), [])
    head = _head(num_proposals=2)
    bad = MaskTargets(torch.zeros(0, 5, 5), torch.zeros(0, dtype=torch.long),
                      torch.zeros(0, 5, 5), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match='mask_assign_stride'):
        head.loss(head(_feats(batch=1, h=32, w=32)), [bad])
