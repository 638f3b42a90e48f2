"""Tracking losses of Video K-Net (docs/model.md); importing registers them in ``MODELS``."""
from .embed_l2_loss import L2Loss
from .multi_pos_cross_entropy import MultiPosCrossEntropyLoss, multi_pos_cross_entropy

__all__ = ['L2Loss', 'MultiPosCrossEntropyLoss', 'multi_pos_cross_entropy']
