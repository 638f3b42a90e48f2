"""Clip-aware data transforms (DESIGN.md §7); a single image is a clip of length 1."""
from .augment import ClipPhotoMetricDistortion, ClipRandomCrop, ClipRandomFlip, ClipRandomResize
from .clip_utils import clip_frames, nearest_resize, read_png
from .formatting import PackPanopticInputs
from .loading import (LoadFrames, LoadPanopticAnnotations, check_panoptic, decode_cityscapes,
                      decode_panoptic, decode_step_rgb)

__all__ = [
    'ClipPhotoMetricDistortion', 'ClipRandomCrop', 'ClipRandomFlip', 'ClipRandomResize',
    'clip_frames', 'nearest_resize', 'read_png', 'PackPanopticInputs', 'LoadFrames',
    'LoadPanopticAnnotations', 'check_panoptic', 'decode_cityscapes', 'decode_panoptic',
    'decode_step_rgb'
]
