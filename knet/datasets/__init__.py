"""Image datasets, STEP metainfo, the synthetic STEP generator and (clip-aware) transforms."""
from . import transforms  # noqa: F401
from .cityscapes_step import CityscapesSTEPDataset
from .kitti_step import KITTISTEPFrameDataset
from .panoptic_frame_dataset import PanopticFrameDataset
from .step_metainfo import STEP_CLASSES, STEP_PALETTE, STEP_THING_IDS, step_metainfo
from .toy_step import make_toy_step

__all__ = [
    'CityscapesSTEPDataset', 'KITTISTEPFrameDataset', 'PanopticFrameDataset', 'STEP_CLASSES',
    'STEP_PALETTE', 'STEP_THING_IDS', 'step_metainfo', 'make_toy_step'
]
