"""Match costs, Hungarian assigner and pseudo sampler on hand-built masks."""
import math

import pytest
import torch

from knet.models.task_modules import (
    DiceCost,
    FocalLossCost,
    MaskCost,
    MaskHungarianAssigner,
    MaskPseudoSampler,
)
from knet.registry import TASK_UTILS

BIG = 10.0  # mask logit: sigmoid(10) ~ 1, sigmoid(-10) ~ 0


def _logits(mask):
    return torch.where(mask.bool(), torch.tensor(BIG), torch.tensor(-BIG))


def _quadrants():
    """4x4 masks: left half, top-right quadrant, bottom-right quadrant."""
    left = torch.zeros(4, 4)
    left[:, :2] = 1
    top_right = torch.zeros(4, 4)
    top_right[:2, 2:] = 1
    bottom_right = torch.zeros(4, 4)
    bottom_right[2:, 2:] = 1
    return left, top_right, bottom_right


def test_costs_hand_values():
    # probabilities (1, 0, .5, .5) vs target (1, 0, 1, 0), no activation
    probs = torch.tensor([[[1., 0.], [.5, .5]]])
    target = torch.tensor([[[1., 0.], [1., 0.]]])
    # MaskCost clamps p to [0.01, 1]: sum pt = 1.5, sum (1-p)(1-t) = 0.99 + 0.5
    mask_cost = MaskCost(weight=1.0, pred_act=False)(probs, target)
    assert mask_cost.shape == (1, 1)
    assert mask_cost.item() == pytest.approx(-(1.5 + 1.49) / 4, rel=1e-6)
    # DiceCost clamps p to [1e-3, 1]: sum pt = 1.5, sum p^2 = 1.5 + 1e-6, sum t^2 = 2
    dice_cost = DiceCost(weight=4.0, pred_act=False)(probs, target)
    expected = -4 * 2 * 1.5 / (1.5 + 1e-6 + 1e-3 + 2 + 1e-3)
    assert dice_cost.item() == pytest.approx(expected, rel=1e-6)
    # FocalLossCost on logits (0, ln 3): class 1 has p = 3/4, class 0 p = 1/2
    cls_cost = FocalLossCost(weight=2.0)(torch.tensor([[0., math.log(3.)]]),
                                          torch.tensor([1, 0]))

    def focal(p):
        pos = -math.log(p + 1e-12) * 0.25 * (1 - p) ** 2
        neg = -math.log(1 - p + 1e-12) * 0.75 * p ** 2
        return 2 * (pos - neg)
    assert torch.allclose(cls_cost, torch.tensor([[focal(0.75), focal(0.5)]]))


def test_assigner_matches_known_optimum():
    left, top_right, bottom_right = _quadrants()
    gt_masks = torch.stack([left, top_right])
    gt_labels = torch.tensor([1, 0])
    # pred 0 ~ top-right (GT 1), pred 1 ~ left (GT 0), pred 2 ~ bottom-right (no GT)
    mask_pred = torch.stack([_logits(top_right), _logits(left), _logits(bottom_right)])
    result = MaskHungarianAssigner().assign(mask_pred, None, gt_masks, gt_labels)
    assert result.num_gts == 2
    assert result.gt_inds.tolist() == [2, 1, 0]
    assert result.labels.tolist() == [0, 1, -1]

    sampling = MaskPseudoSampler().sample(result, mask_pred, gt_masks)
    assert sampling.pos_inds.tolist() == [0, 1]
    assert sampling.neg_inds.tolist() == [2]
    assert sampling.pos_assigned_gt_inds.tolist() == [1, 0]
    assert sampling.pos_gt_labels.tolist() == [0, 1]
    assert torch.equal(sampling.pos_masks, mask_pred[:2])
    assert torch.equal(sampling.pos_gt_masks, torch.stack([top_right, left]))
    assert (sampling.num_pos, sampling.num_neg, sampling.num_gts) == (2, 1, 2)


def test_class_cost_on_off_changes_assignment():
    left, top_right, _ = _quadrants()
    gt_masks = torch.stack([left, top_right])
    gt_labels = torch.tensor([0, 1])
    # masks say pred 0 -> GT 0 and pred 1 -> GT 1; classes strongly say the opposite
    mask_pred = torch.stack([_logits(left), _logits(top_right)])
    cls_pred = torch.tensor([[-BIG, BIG], [BIG, -BIG]])
    assigner = TASK_UTILS.build(dict(type='MaskHungarianAssigner'))
    without_cls = assigner.assign(mask_pred, None, gt_masks, gt_labels)
    assert without_cls.gt_inds.tolist() == [1, 2]
    with_cls = assigner.assign(mask_pred, cls_pred, gt_masks, gt_labels)
    assert with_cls.gt_inds.tolist() == [2, 1]
    assert with_cls.labels.tolist() == [1, 0]
    no_cls_cost = MaskHungarianAssigner(cls_cost=None)
    assert no_cls_cost.assign(mask_pred, cls_pred, gt_masks, gt_labels).gt_inds.tolist() == [1, 2]


def test_no_gt_gives_all_negative():
    mask_pred = torch.randn(3, 4, 4)
    result = MaskHungarianAssigner().assign(mask_pred, torch.randn(3, 2), torch.zeros(0, 4, 4),
                                            torch.zeros(0, dtype=torch.long))
    assert result.num_gts == 0
    assert result.gt_inds.tolist() == [0, 0, 0]
    assert result.labels.tolist() == [-1, -1, -1]
    sampling = MaskPseudoSampler().sample(result, mask_pred, torch.zeros(0, 4, 4))
    assert sampling.num_pos == 0 and sampling.neg_inds.tolist() == [0, 1, 2]
    assert sampling.pos_gt_masks.shape == (0, 4, 4)
    assert sampling.pos_masks.shape == (0, 4, 4)


def test_fewer_predictions_than_gts():
    left, top_right, bottom_right = _quadrants()
    gt_masks = torch.stack([left, top_right, bottom_right])
    mask_pred = _logits(bottom_right)[None]
    result = MaskHungarianAssigner().assign(mask_pred, None, gt_masks, torch.tensor([0, 1, 1]))
    assert result.gt_inds.tolist() == [3]
    with pytest.raises(ValueError):
        MaskHungarianAssigner().assign(mask_pred, None, gt_masks, torch.tensor([0, 1]))


def test_costs_carry_no_gradient():
    mask_pred = torch.randn(2, 4, 4, requires_grad=True)
    cost = MaskHungarianAssigner().compute_cost(mask_pred, None, torch.rand(1, 4, 4),
                                                torch.tensor([0]))
    assert cost.shape == (2, 1) and not cost.requires_grad
