"""Class facts of the STEP benchmarks (KITTI-STEP, Cityscapes-STEP), from :mod:`vseg.metainfo`.

Datasets copy :func:`step_metainfo` into their ``metainfo``; the facts themselves are defined
once, in the torch-free :mod:`vseg.metainfo` (so the evaluators can read them without torch).
"""
from typing import Any, Dict

from vseg.metainfo import STEP_CLASSES, STEP_PALETTE, STEP_THING_IDS, label_metainfo

__all__ = ['STEP_CLASSES', 'STEP_PALETTE', 'STEP_THING_IDS', 'step_metainfo']


def step_metainfo() -> Dict[str, Any]:
    """Fresh copy of the STEP metainfo shared by KITTI-STEP and Cityscapes-STEP.

    Returns:
        Dict with ``classes`` (19 names), ``thing_ids`` ((11, 13)), ``palette`` (19 RGB
        tuples), ``ignore_label`` (255) and ``label_divisor`` (65536).
    """
    return label_metainfo('kitti-step')
