"""Reading the per-frame result PNGs written by the inference tool (docs/ARCHITECTURE.md).

Layout: ``RESULTS/panoptic/{seq}/{seq:06d}_{frame:06d}_cat.png`` (uint16 dataset class id, 255 =
none) and ``..._ins.png`` (uint16 track id, 0 = none), DESIGN.md §9.1. Frames are ordered by the
numbers parsed from the names, never by ``os.listdir`` order (§12 item 19).
"""
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np
from PIL import Image

RESULT_NAME = re.compile(r'^(\d+)_(\d+)_(cat|ins)\.png$')


@dataclass(frozen=True)
class FrameResult:
    """The two result maps of one frame.

    Attributes:
        seq: sequence id parsed from the file name.
        frame: frame index parsed from the file name.
        cat_path: path of the ``_cat.png`` semantic map.
        ins_path: path of the ``_ins.png`` track-id map.
    """

    seq: int
    frame: int
    cat_path: str
    ins_path: str

    @property
    def stem(self) -> str:
        """``{seq:06d}_{frame:06d}``, the common name prefix of the frame's files."""
        return f'{self.seq:06d}_{self.frame:06d}'


def _numeric_key(name: str) -> Tuple[int, str]:
    """Sort key: numbers numerically, other names after them alphabetically."""
    return (int(name), name) if name.isdigit() else (1 << 62, name)


def find_result_frames(panoptic_dir: str) -> Dict[str, List[FrameResult]]:
    """Index ``panoptic_dir/{seq}/*_{cat,ins}.png`` by sequence folder.

    Args:
        panoptic_dir: the ``RESULTS/panoptic`` folder.

    Returns:
        Ordered dict: sequence folder name (numeric order) -> frames sorted by frame number.

    Raises:
        FileNotFoundError: if the folder is missing or holds no result PNG.
        ValueError: if a frame has a ``_cat.png`` without its ``_ins.png`` or the reverse.
    """
    if not osp.isdir(panoptic_dir):
        raise FileNotFoundError(f'{panoptic_dir} does not exist (expected RESULTS/panoptic/'
                                '{seq}/{seq:06d}_{frame:06d}_{cat,ins}.png)')
    sequences: Dict[str, List[FrameResult]] = {}
    for seq_name in sorted(os.listdir(panoptic_dir), key=_numeric_key):
        seq_dir = osp.join(panoptic_dir, seq_name)
        if not osp.isdir(seq_dir):
            continue
        found: Dict[Tuple[int, int], Dict[str, str]] = {}
        for name in os.listdir(seq_dir):
            match = RESULT_NAME.match(name)
            if match:
                key = (int(match.group(1)), int(match.group(2)))
                found.setdefault(key, {})[match.group(3)] = osp.join(seq_dir, name)
        frames = []
        for (seq, frame), paths in sorted(found.items()):
            if set(paths) != {'cat', 'ins'}:
                missing = ({'cat', 'ins'} - set(paths)).pop()
                raise ValueError(f'{seq_dir}: frame {seq:06d}_{frame:06d} has no '
                                 f'_{missing}.png')
            frames.append(FrameResult(seq, frame, paths['cat'], paths['ins']))
        if frames:
            sequences[seq_name] = frames
    if not sequences:
        raise FileNotFoundError(f'no *_cat.png / *_ins.png result files under {panoptic_dir}')
    return sequences


def read_label_png(path: str) -> np.ndarray:
    """Read a single-channel 8- or 16-bit label PNG without any value clipping.

    Returns:
        (H, W) uint8 or uint16 array.
    """
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise FileNotFoundError(f'cannot read label PNG {path}')
    if label.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel label PNG, got shape {label.shape}')
    return label


def read_rgb(path: str) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path} does not exist')
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))
