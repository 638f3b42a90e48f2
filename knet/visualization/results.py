"""The result frames of a results folder, grouped by sequence, for the visualizer.

Files are found and decoded by a results layout of :mod:`vseg.layouts` (default ``'knet'``:
``RESULTS/panoptic/{seq}/{seq:06d}_{frame:06d}_{cat,ins}.png``), the same reader the evaluators
use; frames are ordered by the numbers parsed from the names, never by listing order.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from vseg.layouts import frames_by_sequence, get_layout


@dataclass(frozen=True)
class FrameResult:
    """The result files of one frame.

    Attributes:
        seq: sequence id parsed from the file name.
        frame: frame index parsed from the file name.
        paths: the frame's files by role (layout ``'knet'``: ``'cat'``, ``'ins'``).
        layout: name of the results layout that found them.
    """

    seq: int
    frame: int
    paths: Dict[str, str] = field(compare=False)
    layout: str = 'knet'

    @property
    def stem(self) -> str:
        """``{seq:06d}_{frame:06d}``, the common name prefix of the frame's files."""
        return f'{self.seq:06d}_{self.frame:06d}'

    def read(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(semantic class ids, track ids)``, (H, W) int64 each."""
        return get_layout(self.layout).read_frame(self.paths)


def find_result_frames(results_dir: str, layout: str = 'knet') -> Dict[str, List[FrameResult]]:
    """Index the result frames of ``results_dir`` by sequence.

    Returns:
        Ordered dict: sequence name (``str(seq)``, numeric order) -> frames sorted by frame.

    Raises:
        FileNotFoundError: if the folder holds no result (the layout's message).
        ValueError: if a frame lacks one of its files (the layout's message names it).
    """
    found = get_layout(layout).find_frames(results_dir)
    return {str(seq): [FrameResult(seq, frame, found[(seq, frame)], layout)
                       for frame in frames]
            for seq, frames in frames_by_sequence(found).items()}


def read_rgb(path: str) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path} does not exist')
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))
