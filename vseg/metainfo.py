"""Class facts of every supported dataset: the one place they live.

A dataset class copies its entry into its ``metainfo``; configs, metrics and tools derive
everything else (model label order, palettes, thing/stuff splits) from it. An entry holds
``classes`` (names, index = dataset class id), ``thing_ids`` (dataset ids of the thing classes,
in model-label order), ``palette`` (RGB per class), ``ignore_label`` and ``label_divisor``; the
evaluators also read ``format`` (the annotation format of :mod:`vseg.formats`) and ``gt_dir``
(the default ground-truth folder under the data root).

``'kitti-step'`` and ``'cityscapes-step'`` share the 19 Cityscapes trainId classes with person
and car as the only things (as deeplab2's STEP definitions do).
"""
import copy
from typing import Any, Dict, List

from .panoptic import IGNORE_LABEL, LABEL_DIVISOR
from .registry import NamedRegistry

#: Cityscapes trainId class names, index = dataset class id.
STEP_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                'truck', 'bus', 'train', 'motorcycle', 'bicycle')

#: Cityscapes colours (R, G, B), index = dataset class id.
STEP_PALETTE = ((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
                (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
                (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
                (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32))

#: Dataset ids of the STEP thing classes (person, car), in model-label order.
STEP_THING_IDS = (11, 13)

#: Keys of an entry that dataset classes copy into their metainfo.
LABEL_KEYS = ('classes', 'thing_ids', 'palette', 'ignore_label', 'label_divisor')

_STEP = dict(classes=STEP_CLASSES, thing_ids=STEP_THING_IDS, palette=STEP_PALETTE,
             ignore_label=IGNORE_LABEL, label_divisor=LABEL_DIVISOR)

DATASETS: NamedRegistry[Dict[str, Any]] = NamedRegistry('dataset')
DATASETS.register('kitti-step', dict(_STEP, format='kitti-step',
                                     gt_dir='kitti-step/video_sequence/val'))
DATASETS.register('cityscapes-step', dict(_STEP, format='cityscapes',
                                          gt_dir='cityscapes/gtFine/val'))


def dataset_metainfo(name: str) -> Dict[str, Any]:
    """A fresh copy of the metainfo of dataset ``name`` (see the module docstring)."""
    return copy.deepcopy(DATASETS.get(name))


def label_metainfo(name: str) -> Dict[str, Any]:
    """Only the label keys (:data:`LABEL_KEYS`) of :func:`dataset_metainfo`."""
    meta = dataset_metainfo(name)
    return {key: meta[key] for key in LABEL_KEYS}


def register_dataset(name: str, meta: Dict[str, Any]) -> None:
    """Add a dataset's metainfo (``classes``, ``thing_ids``, ``ignore_label``,
    ``label_divisor`` required; ``palette``, ``format``, ``gt_dir`` optional)."""
    missing = [key for key in ('classes', 'thing_ids', 'ignore_label', 'label_divisor')
               if key not in meta]
    if missing:
        raise KeyError(f'the metainfo of dataset {name!r} lacks {missing}')
    DATASETS.register(name, copy.deepcopy(dict(meta)))


def dataset_names() -> List[str]:
    """Names of the datasets with metainfo."""
    return DATASETS.names()
