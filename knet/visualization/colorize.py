"""Colour maps for semantic classes and track ids (the original ``colorize_img.py``,
with its bugs fixed: docs/differences.md, "Visualization").

Differences from the original ``tools/colorize_img.py`` (deliberate fixes):

* semantic maps use the class palette (the original coloured them with the track hash);
* ids are used at full 16-bit range (the original converted to 8-bit "L", so every id >= 255
  got one colour);
* colours are RGB: the hash channels ``(c0, c1, c2)`` are R, G, B (the original wrote them with
  ``cv2.imwrite``, swapping R and B on disk).
"""
import hashlib
from functools import lru_cache
from typing import Sequence, Tuple

import numpy as np

from knet.structures import IGNORE_LABEL

Color = Tuple[int, int, int]


@lru_cache(maxsize=65536)
def id_color(track_id: int) -> Color:
    """Stable RGB colour of an id: the same id gets the same colour in every frame and run.

    The colour is the original ``trackmap2rgb`` hash: ``h = int(sha256(str(id))[-6:], 16)``,
    ``(R, G, B) = (h % 256, (h >> 8) % 256, (h >> 16) % 256)``. Id 0 (no instance) is black;
    another id that would hash to black gets white instead, so it stays visible.

    Args:
        track_id: a non-negative integer id (any size; 16-bit ids are typical).

    Returns:
        ``(R, G, B)`` ints in 0..255.
    """
    track_id = int(track_id)
    if track_id < 0:
        raise ValueError(f'id_color: ids must be >= 0, got {track_id}')
    if track_id == 0:
        return (0, 0, 0)
    h = int(hashlib.sha256(str(track_id).encode()).hexdigest()[-6:], 16)
    color = (h & 255, (h >> 8) & 255, (h >> 16) & 255)
    return (255, 255, 255) if color == (0, 0, 0) else color


def colorize_ids(ids: np.ndarray) -> np.ndarray:
    """Colour an id map (track ids or segment ids) with :func:`id_color`.

    Args:
        ids: (H, W) integer array, 0 = none; ids above 255 keep their own colours.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f'colorize_ids expects an (H, W) integer map, got {ids.dtype} '
                         f'{ids.shape}')
    uniques, inverse = np.unique(ids, return_inverse=True)
    lut = np.array([id_color(v) for v in uniques.tolist()], dtype=np.uint8).reshape(-1, 3)
    return lut[inverse.reshape(ids.shape)]


def colorize_semantic(semantic: np.ndarray, palette: Sequence[Sequence[int]],
                      ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """Colour a semantic map with a class palette.

    Args:
        semantic: (H, W) integer map of dataset class ids; ``ignore_label`` = no prediction.
        palette: ``palette[class_id] = (R, G, B)``, e.g. the dataset metainfo ``palette``.
        ignore_label: id drawn black.

    Returns:
        (H, W, 3) uint8 RGB image.

    Raises:
        ValueError: on ids that are neither in the palette nor ``ignore_label``.
    """
    semantic = np.asarray(semantic)
    if semantic.ndim != 2 or not np.issubdtype(semantic.dtype, np.integer):
        raise ValueError(f'colorize_semantic expects an (H, W) integer map, got '
                         f'{semantic.dtype} {semantic.shape}')
    colors = np.asarray(palette, dtype=np.int64)
    if colors.ndim != 2 or colors.shape[1] != 3 or colors.min() < 0 or colors.max() > 255:
        raise ValueError(f'palette must be a list of (R, G, B) in 0..255, got shape '
                         f'{colors.shape}')
    size = max(len(colors), ignore_label + 1)
    valid = np.zeros(size, dtype=bool)
    valid[:len(colors)] = True
    valid[ignore_label] = True
    lut = np.zeros((size, 3), dtype=np.uint8)
    lut[:len(colors)] = colors
    lut[ignore_label] = 0
    values = semantic.astype(np.int64)
    bad = (values < 0) | (values >= size)
    bad[~bad] = ~valid[values[~bad]]
    if bad.any():
        raise ValueError(f'class ids {np.unique(values[bad]).tolist()} are neither in the '
                         f'{len(colors)}-colour palette nor the ignore label {ignore_label}')
    return lut[values]


def make_panel(images: Sequence[np.ndarray], gap: int = 0) -> np.ndarray:
    """Put same-height RGB images side by side, e.g. (image | semantic | tracks).

    Args:
        images: (H, W_i, 3) uint8 arrays with a common H.
        gap: width in pixels of the white separator between images.

    Returns:
        (H, sum(W_i) + gap * (len(images) - 1), 3) uint8 image.
    """
    if not images:
        raise ValueError('make_panel needs at least one image')
    heights = {img.shape[0] for img in images}
    if len(heights) != 1 or any(img.ndim != 3 or img.shape[2] != 3 for img in images):
        raise ValueError(f'make_panel needs (H, W, 3) images of one height, got '
                         f'{[img.shape for img in images]}')
    parts = []
    for index, img in enumerate(images):
        if index and gap:
            parts.append(np.full((img.shape[0], gap, 3), 255, dtype=np.uint8))
        parts.append(img.astype(np.uint8, copy=False))
    return np.concatenate(parts, axis=1)
