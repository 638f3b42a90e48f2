"""Class facts of the STEP benchmarks (KITTI-STEP, Cityscapes-STEP): the only place they live.

DESIGN.md §0 (label spaces: Cityscapes trainIds 0..18, void 255, things person=11 and car=13,
deeplab2 ``KITTI_STEP_INFORMATION.class_has_instances_list``) and §9.4 (Cityscapes palette,
``tools/utils/utils_visualization.py`` of the original). Datasets copy this dict into their
``metainfo``; configs and tools derive everything else (model label order, palettes) from it.
"""
from typing import Any, Dict

from knet.structures import IGNORE_LABEL, LABEL_DIVISOR

#: Cityscapes trainId class names, index = dataset class id.
STEP_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                'truck', 'bus', 'train', 'motorcycle', 'bicycle')

#: Cityscapes colours (R, G, B), index = dataset class id (DESIGN.md §9.4).
STEP_PALETTE = ((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
                (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
                (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
                (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32))

#: Dataset ids of the STEP thing classes (person, car), in model-label order.
STEP_THING_IDS = (11, 13)


def step_metainfo() -> Dict[str, Any]:
    """Fresh copy of the STEP metainfo shared by KITTI-STEP and Cityscapes-STEP.

    Returns:
        Dict with ``classes`` (19 names), ``thing_ids`` ((11, 13)), ``palette`` (19 RGB
        tuples), ``ignore_label`` (255) and ``label_divisor`` (65536).
    """
    return dict(classes=STEP_CLASSES, thing_ids=STEP_THING_IDS, palette=STEP_PALETTE,
                ignore_label=IGNORE_LABEL, label_divisor=LABEL_DIVISOR)
