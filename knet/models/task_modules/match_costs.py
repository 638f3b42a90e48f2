"""Matching costs of the Hungarian mask assigner (docs/model.md, Hungarian assignment).

Follows mmdet's ``FocalLossCost`` and the ``MaskCost`` / ``DiceCost`` of
``knet/det/mask_hungarian_assigner.py`` of the original K-Net. Every cost maps predictions of P
proposals and G ground truths to a (P, G) matrix where lower is better.
"""
from torch import Tensor

from knet.registry import TASK_UTILS


@TASK_UTILS.register_module()
class FocalLossCost:
    """Sigmoid focal classification cost.

    ``p = sigmoid(logit)``, ``pos = -log(p + eps) * alpha * (1 - p) ** gamma``,
    ``neg = -log(1 - p + eps) * (1 - alpha) * p ** gamma``, cost = ``(pos - neg)[:, gt_labels]``.

    Args:
        weight: multiplier of the cost.
        alpha: focal alpha.
        gamma: focal gamma.
        eps: inside the logarithms.
    """

    def __init__(self, weight: float = 2.0, alpha: float = 0.25, gamma: float = 2,
                 eps: float = 1e-12) -> None:
        self.weight = weight
        self.alpha = alpha
        self.gamma = gamma
        self.eps = eps

    def __call__(self, cls_pred: Tensor, gt_labels: Tensor) -> Tensor:
        """Compute the cost.

        Args:
            cls_pred: (P, C) class logits.
            gt_labels: (G,) long labels in [0, C).

        Returns:
            (P, G) cost.
        """
        if cls_pred.dim() != 2 or gt_labels.dim() != 1:
            raise ValueError(f'FocalLossCost expects (P, C) logits and (G,) labels, got '
                             f'{tuple(cls_pred.shape)} and {tuple(gt_labels.shape)}')
        prob = cls_pred.float().sigmoid()
        neg_cost = -(1 - prob + self.eps).log() * (1 - self.alpha) * prob.pow(self.gamma)
        pos_cost = -(prob + self.eps).log() * self.alpha * (1 - prob).pow(self.gamma)
        gt_labels = gt_labels.long()
        return (pos_cost[:, gt_labels] - neg_cost[:, gt_labels]) * self.weight


class _MaskCostBase:
    """Shared part of the mask costs: (P, H, W) predictions -> (P, H*W) probabilities clamped
    to [clamp_min, 1], (G, H, W) soft GT masks -> (G, H*W); subclasses give :meth:`cost`.

    Args:
        weight: multiplier of the cost.
        pred_act: apply the sigmoid to the predictions (False: they are probabilities).
        clamp_min: lower clamp of the probabilities.
    """

    def __init__(self, weight: float, pred_act: bool, clamp_min: float) -> None:
        self.weight = weight
        self.pred_act = pred_act
        self.clamp_min = clamp_min

    def __call__(self, mask_pred: Tensor, gt_masks: Tensor) -> Tensor:
        """Compute the cost.

        Args:
            mask_pred: (P, H, W) mask logits (probabilities if ``pred_act=False``).
            gt_masks: (G, H, W) soft GT masks in [0, 1].

        Returns:
            (P, G) cost.
        """
        if mask_pred.dim() != 3:
            raise ValueError(f'mask costs expect (P, H, W) predictions, got '
                             f'{tuple(mask_pred.shape)}')
        if gt_masks.dim() != 3 or gt_masks.shape[1:] != mask_pred.shape[1:]:
            raise ValueError(f'GT masks {tuple(gt_masks.shape)} must be (G, H, W) with the size '
                             f'of the predictions {tuple(mask_pred.shape)}')
        probs = mask_pred.sigmoid() if self.pred_act else mask_pred
        probs = probs.flatten(1).float().clamp(min=self.clamp_min, max=1.0)
        return self.cost(probs, gt_masks.flatten(1).float()) * self.weight

    def cost(self, probs: Tensor, targets: Tensor) -> Tensor:
        """(P, H*W) probabilities, (G, H*W) targets -> (P, G) unweighted cost."""
        raise NotImplementedError


@TASK_UTILS.register_module()
class MaskCost(_MaskCostBase):
    """Pixel-agreement mask cost: ``-(sum p * t + sum (1 - p) * (1 - t)) / (H * W)``.

    Args:
        weight: multiplier of the cost.
        pred_act: apply the sigmoid to the predictions (False: they are probabilities).
        clamp_min: lower clamp of the probabilities (0.01 in the reference).
    """

    def __init__(self, weight: float = 1.0, pred_act: bool = True,
                 clamp_min: float = 0.01) -> None:
        super().__init__(weight, pred_act, clamp_min)

    def cost(self, probs: Tensor, targets: Tensor) -> Tensor:
        """(P, H*W) probabilities, (G, H*W) targets -> (P, G) unweighted cost."""
        agreement = probs @ targets.t() + (1 - probs) @ (1 - targets).t()
        return -agreement / probs.size(1)


@TASK_UTILS.register_module()
class DiceCost(_MaskCostBase):
    """Dice mask cost: ``-2 sum(p t) / (sum p^2 + eps + sum t^2 + eps)`` (the constant 1 omitted).

    Args:
        weight: multiplier of the cost.
        pred_act: apply the sigmoid to the predictions (False: they are probabilities).
        eps: smoothing term.
        clamp_min: lower clamp of the probabilities (0.001 in the reference).
    """

    def __init__(self, weight: float = 4.0, pred_act: bool = True, eps: float = 1e-3,
                 clamp_min: float = 1e-3) -> None:
        super().__init__(weight, pred_act, clamp_min)
        self.eps = eps

    def cost(self, probs: Tensor, targets: Tensor) -> Tensor:
        """(P, H*W) probabilities, (G, H*W) targets -> (P, G) unweighted cost."""
        inter = probs @ targets.t()
        pred_sq = (probs * probs).sum(1) + self.eps
        gt_sq = (targets * targets).sum(1) + self.eps
        return -2 * inter / (pred_sq[:, None] + gt_sq[None, :])
