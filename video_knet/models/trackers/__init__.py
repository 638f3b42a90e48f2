"""Trackers of Video K-Net (docs/model.md); importing registers them in ``TASK_UTILS``."""
from .bbox_utils import EMPTY_MASK_BOX, bbox_overlaps, masks_to_boxes
from .quasi_dense_tracker import QuasiDenseTracker

__all__ = ['EMPTY_MASK_BOX', 'QuasiDenseTracker', 'bbox_overlaps', 'masks_to_boxes']
