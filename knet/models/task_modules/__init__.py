"""Assignment utilities (docs/model.md); importing registers them in ``TASK_UTILS``."""
from .mask_hungarian_assigner import AssignResult, MaskHungarianAssigner
from .mask_pseudo_sampler import MaskPseudoSampler, MaskSamplingResult
from .match_costs import DiceCost, FocalLossCost, MaskCost

__all__ = [
    'AssignResult', 'DiceCost', 'FocalLossCost', 'MaskCost', 'MaskHungarianAssigner',
    'MaskPseudoSampler', 'MaskSamplingResult'
]
