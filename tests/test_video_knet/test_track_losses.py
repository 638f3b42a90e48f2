"""Tracking losses on hand-made similarity matrices."""
import math

import pytest
import torch

from knet.registry import MODELS
from video_knet.models.losses import L2Loss, MultiPosCrossEntropyLoss


def _mpce_example():
    # row 0: positive s=2, negatives 0 and 1     -> log(1 + e^-2 + e^-1)
    # row 1: positives 0 and 1, negative 1       -> log(1 + e^(1-0) + e^(1-1)) = log(2 + e)
    # row 2: no positive                          -> 0
    pred = torch.tensor([[2., 0., 1.], [0., 1., 1.], [3., -1., 0.]])
    target = torch.tensor([[1., 0., 0.], [1., 1., 0.], [0., 0., 0.]])
    rows = [math.log(1 + math.exp(-2) + math.exp(-1)), math.log(2 + math.e), 0.0]
    return pred, target, rows


def test_multi_pos_cross_entropy_hand_values():
    pred, target, rows = _mpce_example()
    loss_fn = MultiPosCrossEntropyLoss()
    per_row = loss_fn(pred, target, reduction_override='none')
    assert per_row.tolist() == pytest.approx(rows, rel=1e-6)
    weight = torch.tensor([1., 1., 0.])
    loss = MODELS.build(dict(type='MultiPosCrossEntropyLoss', loss_weight=0.25))(
        pred, target, weight, avg_factor=weight.sum())
    assert loss.item() == pytest.approx(0.25 * (rows[0] + rows[1]) / 2, rel=1e-6)


def test_multi_pos_cross_entropy_no_positive_rows_is_finite():
    pred = torch.randn(2, 3, requires_grad=True)
    target = torch.zeros(2, 3)
    weight = torch.zeros(2)
    # avg_factor 0 is clamped to 1: loss 0, finite gradients
    loss = MultiPosCrossEntropyLoss()(pred, target, weight, avg_factor=weight.sum())
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(pred.grad).all()


def test_multi_pos_cross_entropy_gradient_is_finite_and_inputs_untouched():
    pred, target, _ = _mpce_example()
    pred = pred.clone().requires_grad_(True)
    pred_copy, target_copy = pred.detach().clone(), target.clone()
    MultiPosCrossEntropyLoss()(pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    # row 0: d/ds_pos = -(e^-2 + e^-1) / (1 + e^-2 + e^-1) / 3 rows
    expected = -(math.exp(-2) + math.exp(-1)) / (1 + math.exp(-2) + math.exp(-1)) / 3
    assert pred.grad[0, 0].item() == pytest.approx(expected, rel=1e-5)
    assert torch.equal(pred.detach(), pred_copy) and torch.equal(target, target_copy)


def test_l2_loss_hard_negative_mining():
    pred = torch.tensor([[0.9, 0.5, 0.2, 0.05], [0.8, 0.3, -0.5, 0.12]])
    target = torch.tensor([[1., 0., 0., 0.], [0., 0., 0., 0.]])
    pred_copy, target_copy = pred.clone(), target.clone()
    # 1 positive, 7 negatives: 7 / (1 + 1) > 3 -> keep the 3 hardest negatives.
    # negatives - 0.1 then clamped: .4 .1 0 | .7 .2 0 .02 ; hardest: .7, .4, .2
    # loss = ((0.9 - 1)^2 + 0.49 + 0.16 + 0.04) / 4 kept elements
    loss = MODELS.build(dict(type='L2Loss'))(pred, target)
    assert loss.item() == pytest.approx((0.01 + 0.49 + 0.16 + 0.04) / 4, rel=1e-5)
    assert torch.equal(pred, pred_copy) and torch.equal(target, target_copy)


def test_l2_loss_without_mining_and_with_margin():
    # 1 positive, 5 negatives: 5 / (1 + 1) = 2.5 <= 3 -> every element kept
    pred = torch.tensor([[1.0, 0.6, 0.3], [0.05, 0.2, 0.0]])
    target = torch.tensor([[1., 0., 0.], [0., 0., 0.]])
    # negatives - 0.1, clamped: .5 .2 | 0 .1 0 ; positive error 0
    expected = (0.25 + 0.04 + 0 + 0.01 + 0) / 6
    assert L2Loss()(pred, target).item() == pytest.approx(expected, rel=1e-5)
    # a positive margin shifts the positive: (1 - 0.2 - 1)^2 = 0.04
    with_margin = L2Loss(pos_margin=0.2)(pred, target)
    assert with_margin.item() == pytest.approx(expected + 0.04 / 6, rel=1e-5)
    # row weights: row 1 excluded entirely -> (0 + 0.25 + 0.04) / 3
    row_weighted = L2Loss()(pred, target, weight=torch.tensor([1., 0.]))
    assert row_weighted.item() == pytest.approx(0.29 / 3, rel=1e-5)


def test_l2_loss_no_positive_is_zero():
    pred = torch.rand(2, 3, requires_grad=True)
    loss = L2Loss()(pred, torch.zeros(2, 3))
    loss.backward()
    # no positive: every negative is dropped, the clamped denominator gives 0, not NaN
    assert loss.item() == 0 and torch.isfinite(pred.grad).all()


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        L2Loss()(torch.rand(2, 3), torch.rand(3, 2))
    with pytest.raises(ValueError):
        MultiPosCrossEntropyLoss()(torch.rand(2, 3), torch.rand(2, 2))
