"""Hand-computed values of the K-Net losses (docs/model.md, losses)."""
import math

import pytest
import torch

from knet.models.losses import (
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    sigmoid_focal_loss,
    weight_reduce_loss,
)
from knet.registry import MODELS

LN2 = math.log(2.0)


def test_weight_reduce_loss_modes():
    loss = torch.tensor([1., 2., 3., 4.])
    weight = torch.tensor([1., 0., 1., 1.])
    # mean without avg_factor counts the weighted-out element: (1 + 3 + 4) / 4
    assert weight_reduce_loss(loss, weight, 'mean').item() == pytest.approx(2.0)
    # with avg_factor: 8 / 2; avg_factor 0 is clamped to 1: 8 / 1 (no NaN)
    assert weight_reduce_loss(loss, weight, 'mean', avg_factor=2).item() == pytest.approx(4.0)
    assert weight_reduce_loss(loss, weight, 'mean', avg_factor=0).item() == pytest.approx(8.0)
    assert weight_reduce_loss(loss, weight, 'sum').item() == pytest.approx(8.0)
    assert torch.equal(weight_reduce_loss(loss, weight, 'none', avg_factor=3),
                       torch.tensor([1., 0., 3., 4.]))
    with pytest.raises(ValueError):
        weight_reduce_loss(loss, weight, 'sum', avg_factor=2)
    with pytest.raises(ValueError):
        weight_reduce_loss(loss, weight, 'avg')
    # an empty loss averages to a zero attached to the graph, not NaN
    empty = torch.zeros(0, requires_grad=True)
    out = weight_reduce_loss(empty, None, 'mean')
    assert out.item() == 0 and out.requires_grad


def _ce_example():
    # three pixels of a (1, 2, 1, 3) logit map:
    #   logits (0, 0), label 0      -> -log(1/2) = ln 2
    #   logits (ln 3, 0), label 1   -> -log(1/4) = 2 ln 2
    #   logits (5, -5), label 255   -> ignored, 0
    logits = torch.tensor([[0., math.log(3.), 5.], [0., 0., -5.]]).view(1, 2, 1, 3)
    labels = torch.tensor([[[0, 1, 255]]])
    return logits, labels


def test_cross_entropy_softmax_ignore_counts_in_mean():
    logits, labels = _ce_example()
    loss = CrossEntropyLoss(ignore_index=255)(logits, labels)
    # reference behaviour (ignored pixels count in the mean): (ln2 + 2 ln2 + 0) / 3 pixels
    assert loss.item() == pytest.approx(LN2, rel=1e-6)
    fixed = CrossEntropyLoss(ignore_index=255, avg_non_ignore=True)(logits, labels)
    assert fixed.item() == pytest.approx(3 * LN2 / 2, rel=1e-6)
    weighted = CrossEntropyLoss(ignore_index=255, loss_weight=0.1)(logits, labels)
    assert weighted.item() == pytest.approx(0.1 * LN2, rel=1e-6)
    per_pixel = CrossEntropyLoss(ignore_index=255)(logits, labels, reduction_override='none')
    assert torch.allclose(per_pixel, torch.tensor([[[LN2, 2 * LN2, 0.]]]))
    # a call-time ignore_index overrides the configured one
    other = CrossEntropyLoss(ignore_index=19)(logits, labels, ignore_index=255)
    assert other.item() == pytest.approx(LN2, rel=1e-6)


def test_cross_entropy_sigmoid():
    # (0 vs 1) and (0 vs 0) -> ln 2 each; ln3 vs 1 -> -log(3/4)
    logits = torch.tensor([[0., 0., math.log(3.)]])
    targets = torch.tensor([[1., 0., 1.]])
    loss = MODELS.build(dict(type='CrossEntropyLoss', use_sigmoid=True))(logits, targets)
    assert loss.item() == pytest.approx((2 * LN2 + math.log(4 / 3)) / 3, rel=1e-6)
    with pytest.raises(ValueError):
        CrossEntropyLoss(use_sigmoid=True)(logits, targets[:, :2])
    with pytest.raises(ValueError):
        CrossEntropyLoss(use_sigmoid=True, ignore_index=255)


def test_focal_loss_with_background_label():
    # p = 0.5 everywhere, BCE = ln 2, pt^2 = 1/4; alpha 0.25 for the target-1 element, 0.75 else.
    # row 0 has label 0 -> one-hot (1, 0); row 1 has label C = 2 -> all-zero row.
    pred = torch.zeros(2, 2)
    labels = torch.tensor([0, 2])
    elements = torch.tensor([[1 / 16, 3 / 16], [3 / 16, 3 / 16]]) * LN2
    focal = FocalLoss()
    assert focal(pred, labels).item() == pytest.approx(elements.mean().item(), rel=1e-6)
    assert focal(pred, labels, avg_factor=1).item() == pytest.approx(10 * LN2 / 16, rel=1e-6)
    # per-sample weights (N,) drop row 1; per-element weights (N, C) pick the diagonal
    assert focal(pred, labels, torch.tensor([1., 0.]), avg_factor=1).item() == pytest.approx(
        4 * LN2 / 16, rel=1e-6)
    assert focal(pred, labels, torch.eye(2), avg_factor=1).item() == pytest.approx(
        4 * LN2 / 16, rel=1e-6)
    one_hot = torch.tensor([[1., 0.], [0., 0.]])
    assert torch.allclose(sigmoid_focal_loss(pred, labels, reduction='none'),
                          sigmoid_focal_loss(pred, one_hot, reduction='none'))
    # logit ln 3 -> p = 3/4 for a positive: -log(3/4) * 0.25 * (1/4)^2
    value = sigmoid_focal_loss(torch.tensor([[math.log(3.)]]), torch.tensor([0]), reduction='sum')
    assert value.item() == pytest.approx(math.log(4 / 3) * 0.25 / 16, rel=1e-6)
    assert FocalLoss(loss_weight=2.0)(pred, labels, avg_factor=1).item() == pytest.approx(
        20 * LN2 / 16, rel=1e-6)
    with pytest.raises(ValueError):
        focal(pred, torch.tensor([0, 3]))
    with pytest.raises(NotImplementedError):
        FocalLoss(use_sigmoid=False)


def test_dice_loss_vnet_and_naive():
    eps = 1e-3
    # sample 0: p = (1, 0, 1, 0), t = (1, 1, 0, 0): sum pt = 1, sum p^2 = sum t^2 = 2
    # sample 1: p = t = (1, 0, 0, 0): sum pt = 1, sum p^2 = sum t^2 = 1
    probs = torch.tensor([[[1., 0.], [1., 0.]], [[1., 0.], [0., 0.]]])
    targets = torch.tensor([[[1., 1.], [0., 0.]], [[1., 0.], [0., 0.]]])
    loss0 = 1 - 2 / (2 + eps + 2 + eps)
    loss1 = 1 - 2 / (1 + eps + 1 + eps)
    dice = DiceLoss(activate=False)
    assert dice(probs, targets).item() == pytest.approx((loss0 + loss1) / 2, rel=1e-6)
    assert dice(probs, targets, torch.tensor([1., 0.]), avg_factor=1).item() == pytest.approx(
        loss0, rel=1e-6)
    naive = DiceLoss(activate=False, naive_dice=True)(probs[:1], targets[:1])
    assert naive.item() == pytest.approx(1 - (2 + eps) / (4 + eps), rel=1e-6)
    # logits 0 -> p = 0.5: sum pt = 1, sum p^2 = 1, sum t^2 = 2
    logits = torch.zeros(1, 2, 2)
    assert DiceLoss(loss_weight=4.0)(logits, targets[:1]).item() == pytest.approx(
        4 * (1 - 2 / (1 + eps + 2 + eps)), rel=1e-6)


def test_per_row_weights_must_match_the_rows():
    with pytest.raises(ValueError, match=r'dice_loss: weight must be \(N,\) = \(2,\), got \(2, 1'):
        DiceLoss()(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3), torch.ones(2, 1))
    with pytest.raises(ValueError, match=r'multi_pos_cross_entropy: weight must be \(N,\)'):
        MODELS.build(dict(type='MultiPosCrossEntropyLoss'))(torch.zeros(3, 4), torch.zeros(3, 4),
                                                            torch.ones(4))


def test_dice_loss_no_positive_is_zero_and_differentiable():
    pred = torch.zeros(0, 4, 4, requires_grad=True)
    loss = DiceLoss()(pred, torch.zeros(0, 4, 4))
    loss.backward()
    assert loss.item() == 0 and pred.grad is not None
