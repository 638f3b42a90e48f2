"""Losses of K-Net (docs/model.md); importing registers them in ``MODELS``."""
from .cross_entropy_loss import CrossEntropyLoss
from .dice_loss import DiceLoss, dice_loss
from .focal_loss import FocalLoss, sigmoid_focal_loss
from .utils import reduce_loss, weight_reduce_loss

__all__ = [
    'CrossEntropyLoss', 'DiceLoss', 'FocalLoss', 'dice_loss', 'reduce_loss', 'sigmoid_focal_loss',
    'weight_reduce_loss'
]
