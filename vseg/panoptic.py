"""Panoptic label conventions shared by data, model, tools and metrics.

Dataset-specific facts (which classes are things, the ignore label, the label divisor) live in
dataset metainfo (:mod:`vseg.metainfo`); this module holds only the generic conventions and the
helpers that turn metainfo into lookup tables, so no class id appears anywhere else.

Two label spaces exist (docs/data_formats.md, "Label spaces"):

* **dataset class ids** (e.g. Cityscapes trainIds 0..18, void 255), used on disk and by metrics;
* **model labels** 0..C-1 with the thing classes first, in the order of ``thing_ids``, followed by
  the stuff classes in increasing dataset id. K-Net's first ``num_things`` kernels classify
  things, stuff kernel ``j`` predicts model label ``num_things + j``.

Nothing here assumes fewer than 256 classes: lookup tables are as long as the largest id needs.
"""
from typing import Sequence, Tuple

import numpy as np

#: Void / ignore label in semantic maps (dataset and model space).
IGNORE_LABEL = 255
#: Bit shift of the STEP panoptic encoding used by STQ/VPQ: id = semantic << 16 | instance.
STEP_BIT_SHIFT = 16
#: Label divisor of panoptic ids inside data samples: id = class * LABEL_DIVISOR + instance.
LABEL_DIVISOR = 1 << STEP_BIT_SHIFT


def model_label_order(num_classes: int, thing_ids: Sequence[int]) -> Tuple[int, ...]:
    """Dataset class id of every model label (things first, then stuff ascending).

    Args:
        num_classes: number of valid dataset classes (ids ``0..num_classes-1``).
        thing_ids: dataset ids of the thing classes, in model order.

    Returns:
        Tuple of length ``num_classes``: ``order[model_label] = dataset class id``.
    """
    thing_ids = tuple(int(t) for t in thing_ids)
    if len(set(thing_ids)) != len(thing_ids) or any(not 0 <= t < num_classes for t in thing_ids):
        raise ValueError(f'thing_ids {thing_ids} must be distinct ids in [0, {num_classes})')
    stuff = tuple(c for c in range(num_classes) if c not in thing_ids)
    return thing_ids + stuff


def _label_dtype(max_value: int) -> np.dtype:
    """The smallest unsigned integer type holding ``0..max_value``."""
    return np.dtype(np.uint8 if max_value <= 0xFF else np.uint16 if max_value <= 0xFFFF
                    else np.uint32)


def dataset_to_model_lut(num_classes: int, thing_ids: Sequence[int],
                         ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """Lookup table from dataset class ids to model labels (``ignore_label`` stays itself).

    The table covers ids ``0..max(num_classes - 1, ignore_label)``; ids in that range that are
    neither a class nor ``ignore_label`` map to ``ignore_label`` (loaders validate ids before
    using the table, so this is never silent). Its dtype is the smallest unsigned type holding
    every value: uint8 for up to 255 classes with ignore 255.
    """
    size = max(num_classes, ignore_label + 1)
    lut = np.full(size, ignore_label, dtype=_label_dtype(max(num_classes - 1, ignore_label)))
    for model_label, class_id in enumerate(model_label_order(num_classes, thing_ids)):
        lut[class_id] = model_label
    return lut


def model_to_dataset_lut(num_classes: int, thing_ids: Sequence[int],
                         ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """Lookup table from model labels back to dataset class ids (``ignore_label`` stays)."""
    size = max(num_classes, ignore_label + 1)
    lut = np.full(size, ignore_label, dtype=_label_dtype(max(num_classes - 1, ignore_label)))
    lut[:num_classes] = model_label_order(num_classes, thing_ids)
    return lut


def decode_step_png(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Decode a KITTI-STEP panoptic PNG (R = semantic, G*256+B = instance).

    Args:
        rgb: (H, W, 3) uint8 array in RGB order.

    Returns:
        ``(semantic, instance)``: (H, W) uint8 class ids and (H, W) int32 instance ids.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) RGB panoptic map, got shape {rgb.shape}')
    semantic = rgb[..., 0].copy()
    instance = rgb[..., 1].astype(np.int32) * 256 + rgb[..., 2].astype(np.int32)
    return semantic, instance


def encode_step_png(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """Inverse of :func:`decode_step_png`: (H, W) class ids + ids -> (H, W, 3) uint8 RGB."""
    semantic = np.asarray(semantic)
    instance = np.asarray(instance).astype(np.int64)
    if semantic.shape != instance.shape:
        raise ValueError(f'semantic {semantic.shape} and instance {instance.shape} differ')
    if semantic.size and (semantic.min() < 0 or semantic.max() > 255):
        raise ValueError('semantic ids must lie in 0..255 (the R channel of a STEP PNG)')
    if instance.size and (instance.min() < 0 or instance.max() > 65535):
        raise ValueError('instance ids must lie in 0..65535 (16 bit)')
    rgb = np.empty(semantic.shape + (3,), dtype=np.uint8)
    rgb[..., 0] = semantic
    # the two bytes of a little-endian uint16: ~10x faster than // 256 and % 256 on int64
    low_high = np.ascontiguousarray(instance, dtype='<u2').view(np.uint8)
    low_high = low_high.reshape(instance.shape + (2,))
    rgb[..., 1] = low_high[..., 1]
    rgb[..., 2] = low_high[..., 0]
    return rgb
