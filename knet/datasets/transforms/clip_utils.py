"""Helpers shared by the clip-aware transforms (one random draw per clip).

A pipeline input is either a *frame* (a flat data-info dict with ``img_path``, ``seg_path``, ...)
or a *clip* (a dict whose ``frames`` key lists one such dict per frame, key frame first). Every
transform works on ``clip_frames(results)``, so one implementation serves images (a clip of length
1) and videos.
"""
from typing import List

import numpy as np

from vseg.io import read_image as read_png  # noqa: F401  (the image reader of the pipelines)


def clip_frames(results: dict) -> List[dict]:
    """The per-frame dicts of a pipeline sample: ``results['frames']`` or ``[results]``."""
    frames = results.get('frames')
    if frames is None:
        return [results]
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"'frames' must be a non-empty list of frame dicts, got {frames!r}")
    return frames


def nearest_resize(array: np.ndarray, size: tuple) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes (label maps, masks; any dtype).

    Args:
        array: (..., H, W) array.
        size: output (h, w).

    Returns:
        (..., h, w) array sampled at the pixel centres.
    """
    in_h, in_w = array.shape[-2:]
    out_h, out_w = int(size[0]), int(size[1])
    rows = np.minimum(((np.arange(out_h) + 0.5) * in_h / out_h).astype(np.int64), in_h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * in_w / out_w).astype(np.int64), in_w - 1)
    return array[..., rows[:, None], cols[None, :]]
