"""Post-processing of K-Net predictions (DESIGN.md §5.5): pure functions, nothing registered."""
from .mask_upsampling import UpsampledMasks
from .panoptic_fusion import PanopticFusionResult, merge_things_stuff

__all__ = ['PanopticFusionResult', 'UpsampledMasks', 'merge_things_stuff']
