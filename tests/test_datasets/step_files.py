"""Helpers of the data tests: write tiny PNGs with known values (not a test module)."""
import os
import os.path as osp
from typing import Iterable, Optional, Tuple

import cv2
import numpy as np

from knet.structures import encode_step_png


def write_rgb(path: str, rgb: np.ndarray) -> str:
    """Write an (H, W, 3) uint8 RGB array as PNG; returns ``path``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1]))
    return path


def write_gray(path: str, array: np.ndarray) -> str:
    """Write an (H, W) uint8/uint16 array as a single-channel PNG; returns ``path``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, array)
    return path


def image_for(seq: int, frame: int, shape: Tuple[int, int]) -> np.ndarray:
    """A deterministic RGB image that differs per (seq, frame)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.stack([(xx * 7 + frame * 13) % 256, (yy * 11 + seq * 29) % 256,
                     (xx + yy + frame) % 256], axis=-1).astype(np.uint8)


def write_step_frame(folder: str, seq: int, frame: int, semantic: np.ndarray,
                     instance: np.ndarray, image: Optional[np.ndarray] = None) -> None:
    """Write ``{seq:06d}_{frame:06d}_{leftImg8bit,panoptic}.png`` into ``folder``."""
    stem = osp.join(folder, f'{seq:06d}_{frame:06d}')
    write_rgb(stem + '_leftImg8bit.png',
              image_for(seq, frame, semantic.shape) if image is None else image)
    write_rgb(stem + '_panoptic.png', encode_step_png(semantic, instance))


def make_step_tree(root: str, split: str, frames: Iterable[Tuple[int, int]],
                   shape: Tuple[int, int] = (8, 12)) -> str:
    """A KITTI-STEP split whose frames all contain car 13 id 1 and person 11 id 2 on road 0.

    Returns:
        The split folder.
    """
    folder = osp.join(root, 'video_sequence', split)
    os.makedirs(folder, exist_ok=True)
    semantic = np.zeros(shape, np.uint8)
    instance = np.zeros(shape, np.int32)
    semantic[1:4, 1:5], instance[1:4, 1:5] = 13, 1
    semantic[4:7, 6:9], instance[4:7, 6:9] = 11, 2
    for seq, frame in frames:
        write_step_frame(folder, seq, frame, semantic, instance)
    return folder
