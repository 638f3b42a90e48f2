"""Clip-aware augmentations: one random draw per sample, shared by every frame of a clip.

Follows the sequence transforms of the original Video K-Net (``SeqResizeWithDepth``: ratio range,
keep_ratio against a scale; ``SeqFlipWithDepth``: horizontal, shared;
``SeqRandomCropWithDepth(share_params=True)``: shared offsets, emptied instances dropped, samples
without key instances or without an instance id shared by key and reference rejected, as its
``check_id_match``). Random numbers come from ``np.random`` (seeded per dataloader worker by
mmengine). Normalization and padding to a multiple of 32 are done by ``KNetDataPreprocessor``, not
here.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from knet.registry import TRANSFORMS
from .clip_utils import clip_frames, nearest_resize

_LABEL_KEYS = ('gt_sem_seg', 'gt_masks')


def _shared_shape(frames: List[dict], name: str) -> Tuple[int, int]:
    """The common (h, w) of the frames' images; raises if the frames differ in size."""
    shapes = {tuple(frame['img'].shape[:2]) for frame in frames}
    if len(shapes) != 1:
        paths = [frame.get('img_path') for frame in frames]
        raise ValueError(f'{name}: all frames of a clip must have the same size, got {shapes} '
                         f'for {paths}')
    return shapes.pop()


@TRANSFORMS.register_module()
class ClipRandomResize(BaseTransform):
    """Rescale every frame by one shared random ratio.

    With ``keep_ratio`` the scale factor is ``min(max(scale)*r / long_edge,
    min(scale)*r / short_edge)`` (mmcv ``rescale``); otherwise frames become exactly
    ``(scale[0]*r, scale[1]*r)`` as (h, w). ``r ~ U(ratio_range)`` or 1 when no range is given.

    Args:
        scale: target (h, w) before the ratio, e.g. (384, 1248).
        ratio_range: (low, high) of the uniform ratio, or None for r = 1.
        keep_ratio: keep the aspect ratio (fit inside the scaled target).
    """

    def __init__(self, scale: Sequence[int], ratio_range: Optional[Sequence[float]] = None,
                 keep_ratio: bool = True) -> None:
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'ClipRandomResize: scale must be a positive (h, w), got {scale}')
        if ratio_range is not None and (len(ratio_range) != 2
                                        or not 0 < ratio_range[0] <= ratio_range[1]):
            raise ValueError(f'ClipRandomResize: ratio_range must be (low, high) with '
                             f'0 < low <= high, got {ratio_range}')
        self.scale = (int(scale[0]), int(scale[1]))
        self.ratio_range: Optional[Tuple[float, float]] = (
            None if ratio_range is None else (float(ratio_range[0]), float(ratio_range[1])))
        self.keep_ratio = keep_ratio

    def output_size(self, shape: Tuple[int, int], ratio: float) -> Tuple[int, int]:
        """Output (h, w) of an (h, w) frame for the ratio ``ratio``."""
        h, w = shape
        if not self.keep_ratio:
            return int(self.scale[0] * ratio + 0.5), int(self.scale[1] * ratio + 0.5)
        factor = min(max(self.scale) * ratio / max(h, w), min(self.scale) * ratio / min(h, w))
        return int(h * factor + 0.5), int(w * factor + 0.5)

    def transform(self, results: dict) -> dict:
        """Resize ``img`` (bilinear), ``gt_sem_seg`` and ``gt_masks`` (nearest) of all frames."""
        frames = clip_frames(results)
        h, w = _shared_shape(frames, 'ClipRandomResize')
        ratio = 1.0 if self.ratio_range is None else float(np.random.uniform(*self.ratio_range))
        new_h, new_w = self.output_size((h, w), ratio)
        for frame in frames:
            frame['img'] = cv2.resize(frame['img'], (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            for key in _LABEL_KEYS:
                if key in frame:
                    frame[key] = np.ascontiguousarray(nearest_resize(frame[key], (new_h, new_w)))
            old_w, old_h = frame.get('scale_factor', (1.0, 1.0))
            frame['scale_factor'] = (old_w * new_w / w, old_h * new_h / h)
            frame['img_shape'] = (new_h, new_w)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, ratio_range={self.ratio_range}, '
                f'keep_ratio={self.keep_ratio})')


@TRANSFORMS.register_module()
class ClipRandomFlip(BaseTransform):
    """Flip every frame horizontally with probability ``prob`` (one draw per clip).

    Args:
        prob: flip probability in [0, 1].
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'ClipRandomFlip: prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        """Flip ``img``, ``gt_sem_seg``, ``gt_masks`` along the width; set ``flip`` keys."""
        flip = bool(np.random.rand() < self.prob)
        for frame in clip_frames(results):
            frame['flip'] = flip
            frame['flip_direction'] = 'horizontal' if flip else None
            if not flip:
                continue
            frame['img'] = np.ascontiguousarray(frame['img'][:, ::-1])
            for key in _LABEL_KEYS:
                if key in frame:
                    frame[key] = np.ascontiguousarray(frame[key][..., ::-1])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class ClipRandomCrop(BaseTransform):
    """Crop every frame at the same random offsets.

    A dimension smaller than the crop is kept whole. Instances whose mask becomes empty are
    dropped. Returns None (mmengine's ``BaseDataset`` then retries a random index) when
    ``reject_empty_key`` and the key frame has no instance left, or when ``require_id_match``
    and some reference frame shares no instance id with the key frame.

    Args:
        crop_size: (h, w) of the crop.
        reject_empty_key: reject samples whose key frame has no instance after the crop.
        require_id_match: reject clips where a reference shares no instance id with the key.
    """

    def __init__(self, crop_size: Sequence[int], reject_empty_key: bool = True,
                 require_id_match: bool = True) -> None:
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'ClipRandomCrop: crop_size must be a positive (h, w), got '
                             f'{crop_size}')
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.reject_empty_key = reject_empty_key
        self.require_id_match = require_id_match

    def transform(self, results: dict) -> Optional[dict]:
        """Crop all frames; return None when the sample must be rejected."""
        frames = clip_frames(results)
        h, w = _shared_shape(frames, 'ClipRandomCrop')
        top = np.random.randint(0, max(h - self.crop_size[0], 0) + 1)
        left = np.random.randint(0, max(w - self.crop_size[1], 0) + 1)
        rows = slice(top, top + self.crop_size[0])
        cols = slice(left, left + self.crop_size[1])
        for frame in frames:
            frame['img'] = np.ascontiguousarray(frame['img'][rows, cols])
            frame['img_shape'] = frame['img'].shape[:2]
            if 'gt_sem_seg' in frame:
                frame['gt_sem_seg'] = np.ascontiguousarray(frame['gt_sem_seg'][rows, cols])
            if 'gt_masks' in frame:
                self._crop_instances(frame, rows, cols)
        return None if self._reject(frames) else results

    @staticmethod
    def _crop_instances(frame: dict, rows: slice, cols: slice) -> None:
        """Crop ``gt_masks`` (N, H, W) and drop the instances left without pixels."""
        masks = frame['gt_masks'][:, rows, cols]
        keep = masks.reshape(masks.shape[0], -1).any(axis=1)
        frame['gt_masks'] = np.ascontiguousarray(masks[keep])
        frame['gt_labels'] = frame['gt_labels'][keep]
        frame['gt_instance_ids'] = frame['gt_instance_ids'][keep]

    def _reject(self, frames: List[dict]) -> bool:
        """Whether the cropped clip fails the key-instance / shared-id checks."""
        if 'gt_instance_ids' not in frames[0]:
            return False
        key_ids = set(frames[0]['gt_instance_ids'].tolist())
        if self.reject_empty_key and not key_ids:
            return True
        if self.require_id_match:
            for ref in frames[1:]:
                if not key_ids & set(ref['gt_instance_ids'].tolist()):
                    return True
        return False

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, reject_empty_key='
                f'{self.reject_empty_key}, require_id_match={self.require_id_match})')

