"""Post-processing of K-Net predictions: the panoptic merge and its backends (no registry)."""
from .backends import MERGE_BACKENDS, MergeBackend, build_merge_backend
from .blocked_merge import BlockedMerge, blocked_merge_things_stuff
from .mask_upsampling import UpsampledMasks
from .panoptic_fusion import DenseMerge, PanopticFusionResult, merge_things_stuff, rescale_masks
from .settings import MergeSettings

__all__ = ['BlockedMerge', 'DenseMerge', 'MERGE_BACKENDS', 'MergeBackend', 'MergeSettings',
           'PanopticFusionResult', 'UpsampledMasks', 'blocked_merge_things_stuff',
           'build_merge_backend', 'merge_things_stuff', 'rescale_masks']
