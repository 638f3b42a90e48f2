"""Clip-aware data transforms of the training and test pipelines; an image is a clip of length 1."""
from .augment import ClipRandomCrop, ClipRandomFlip, ClipRandomResize
from .clip_utils import clip_frames, nearest_resize, read_png
from .formatting import PackPanopticInputs
from .loading import LoadFrames, LoadPanopticAnnotations, check_panoptic, decode_panoptic

__all__ = [
    'ClipRandomCrop', 'ClipRandomFlip', 'ClipRandomResize',
    'clip_frames', 'nearest_resize', 'read_png', 'PackPanopticInputs', 'LoadFrames',
    'LoadPanopticAnnotations', 'check_panoptic', 'decode_panoptic'
]
