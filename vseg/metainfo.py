"""Class facts of every supported dataset: the one place they live.

A dataset class copies its entry into its ``metainfo``; configs, metrics and tools derive
everything else (model label order, palettes, thing/stuff splits) from it. An entry holds
``classes`` (names, index = dataset class id), ``thing_ids`` (dataset ids of the thing classes,
in model-label order), ``palette`` (RGB per class), ``ignore_label`` and ``label_divisor``; the
evaluators also read ``format`` (the annotation format of :mod:`vseg.formats`) and ``gt_dir``
(the default ground-truth folder under the data root).

``'kitti-step'`` and ``'cityscapes-step'`` share the 19 Cityscapes trainId classes with person
and car as the only things (as deeplab2's STEP definitions do); ``'cityscapes-vps'`` has the same
19 classes with all eight Cityscapes things. ``'vipseg'`` has VIPSeg's 124 categories (58 things),
dataset id = VIPSeg category id.
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

#: VIPSeg categories as ``(name, isthing, (R, G, B))``, index = VIPSeg category id (0-based; the
#: raw ``panomasks`` PNGs store id + 1 for stuff and (id + 1) * 100 + instance for things). The
#: names, thing flags and colours are those of the dataset's ``panoVIPSeg_categories.json``.
VIPSEG_CATEGORIES = (
    ('wall', 0, (120, 120, 120)),
    ('ceiling', 0, (180, 120, 120)),
    ('door', 1, (6, 230, 230)),
    ('stair', 0, (80, 50, 50)),
    ('ladder', 1, (4, 200, 3)),
    ('escalator', 0, (120, 120, 80)),
    ('Playground_slide', 0, (140, 140, 140)),
    ('handrail_or_fence', 0, (204, 5, 255)),
    ('window', 1, (230, 230, 230)),
    ('rail', 0, (4, 250, 7)),
    ('goal', 1, (224, 5, 255)),
    ('pillar', 0, (235, 255, 7)),
    ('pole', 0, (150, 5, 61)),
    ('floor', 0, (120, 120, 70)),
    ('ground', 0, (8, 255, 51)),
    ('grass', 0, (255, 6, 82)),
    ('sand', 0, (143, 255, 140)),
    ('athletic_field', 0, (204, 255, 4)),
    ('road', 0, (255, 51, 7)),
    ('path', 0, (204, 70, 3)),
    ('crosswalk', 0, (0, 102, 200)),
    ('building', 0, (61, 230, 250)),
    ('house', 0, (255, 6, 51)),
    ('bridge', 0, (11, 102, 255)),
    ('tower', 0, (255, 7, 71)),
    ('windmill', 0, (255, 9, 224)),
    ('well_or_well_lid', 0, (9, 7, 230)),
    ('other_construction', 0, (220, 220, 220)),
    ('sky', 0, (255, 9, 92)),
    ('mountain', 0, (112, 9, 255)),
    ('stone', 0, (8, 255, 214)),
    ('wood', 0, (7, 255, 224)),
    ('ice', 0, (255, 184, 6)),
    ('snowfield', 0, (10, 255, 71)),
    ('grandstand', 0, (255, 41, 10)),
    ('sea', 0, (7, 255, 255)),
    ('river', 0, (224, 255, 8)),
    ('lake', 0, (102, 8, 255)),
    ('waterfall', 0, (255, 61, 6)),
    ('water', 0, (255, 194, 7)),
    ('billboard_or_Bulletin_Board', 0, (255, 122, 8)),
    ('sculpture', 1, (0, 255, 20)),
    ('pipeline', 0, (255, 8, 41)),
    ('flag', 1, (255, 5, 153)),
    ('parasol_or_umbrella', 1, (6, 51, 255)),
    ('cushion_or_carpet', 0, (235, 12, 255)),
    ('tent', 1, (160, 150, 20)),
    ('roadblock', 1, (0, 163, 255)),
    ('car', 1, (140, 140, 140)),
    ('bus', 1, (250, 10, 15)),
    ('truck', 1, (20, 255, 0)),
    ('bicycle', 1, (31, 255, 0)),
    ('motorcycle', 1, (255, 31, 0)),
    ('wheeled_machine', 0, (255, 224, 0)),
    ('ship_or_boat', 1, (153, 255, 0)),
    ('raft', 1, (0, 0, 255)),
    ('airplane', 1, (255, 71, 0)),
    ('tyre', 0, (0, 235, 255)),
    ('traffic_light', 0, (0, 173, 255)),
    ('lamp', 0, (31, 0, 255)),
    ('person', 1, (11, 200, 200)),
    ('cat', 1, (255, 82, 0)),
    ('dog', 1, (0, 255, 245)),
    ('horse', 1, (0, 61, 255)),
    ('cattle', 1, (0, 255, 112)),
    ('other_animal', 1, (0, 255, 133)),
    ('tree', 0, (255, 0, 0)),
    ('flower', 0, (255, 163, 0)),
    ('other_plant', 0, (255, 102, 0)),
    ('toy', 0, (194, 255, 0)),
    ('ball_net', 0, (0, 143, 255)),
    ('backboard', 0, (51, 255, 0)),
    ('skateboard', 1, (0, 82, 255)),
    ('bat', 0, (0, 255, 41)),
    ('ball', 1, (0, 255, 173)),
    ('cupboard_or_showcase_or_storage_rack', 0, (10, 0, 255)),
    ('box', 1, (173, 255, 0)),
    ('traveling_case_or_trolley_case', 1, (0, 255, 153)),
    ('basket', 1, (255, 92, 0)),
    ('bag_or_package', 1, (255, 0, 255)),
    ('trash_can', 0, (255, 0, 245)),
    ('cage', 0, (255, 0, 102)),
    ('plate', 1, (255, 173, 0)),
    ('tub_or_bowl_or_pot', 1, (255, 0, 20)),
    ('bottle_or_cup', 1, (255, 184, 184)),
    ('barrel', 1, (0, 31, 255)),
    ('fishbowl', 1, (0, 255, 61)),
    ('bed', 1, (0, 71, 255)),
    ('pillow', 1, (255, 0, 204)),
    ('table_or_desk', 1, (0, 255, 194)),
    ('chair_or_seat', 1, (0, 255, 82)),
    ('bench', 1, (0, 10, 255)),
    ('sofa', 1, (0, 112, 255)),
    ('shelf', 0, (51, 0, 255)),
    ('bathtub', 0, (0, 194, 255)),
    ('gun', 1, (0, 122, 255)),
    ('commode', 1, (0, 255, 163)),
    ('roaster', 1, (255, 153, 0)),
    ('other_machine', 0, (0, 255, 10)),
    ('refrigerator', 1, (255, 112, 0)),
    ('washing_machine', 1, (143, 255, 0)),
    ('Microwave_oven', 1, (82, 0, 255)),
    ('fan', 1, (163, 255, 0)),
    ('curtain', 0, (255, 235, 0)),
    ('textiles', 0, (8, 184, 170)),
    ('clothes', 0, (133, 0, 255)),
    ('painting_or_poster', 1, (0, 255, 92)),
    ('mirror', 1, (184, 0, 255)),
    ('flower_pot_or_vase', 1, (255, 0, 31)),
    ('clock', 1, (0, 184, 255)),
    ('book', 0, (0, 214, 255)),
    ('tool', 0, (255, 0, 112)),
    ('blackboard', 0, (92, 255, 0)),
    ('tissue', 0, (0, 224, 255)),
    ('screen_or_television', 1, (112, 224, 255)),
    ('computer', 1, (70, 184, 160)),
    ('printer', 1, (163, 0, 255)),
    ('Mobile_phone', 1, (153, 0, 255)),
    ('keyboard', 1, (71, 255, 0)),
    ('other_electronic_product', 0, (255, 0, 163)),
    ('fruit', 0, (255, 204, 0)),
    ('food', 0, (255, 0, 143)),
    ('instrument', 1, (0, 255, 235)),
    ('train', 1, (133, 255, 0)),
)

#: Dataset ids of the VIPSeg thing classes (58) in increasing id: the model's thing labels
#: 0..57 (the original's thing-first order); stuff follows as model labels 58..123.
VIPSEG_THING_IDS = tuple(i for i, (_, isthing, _) in enumerate(VIPSEG_CATEGORIES) if isthing)

_VIPSEG = dict(classes=tuple(name for name, _, _ in VIPSEG_CATEGORIES),
               thing_ids=VIPSEG_THING_IDS,
               palette=tuple(color for _, _, color in VIPSEG_CATEGORIES),
               ignore_label=IGNORE_LABEL, label_divisor=LABEL_DIVISOR)

#: Cityscapes-VPS things in the VPSNet / original thing-first order (person, rider, car, truck,
#: bus, train, motorcycle, bicycle = trainIds 11..18).
CITYSCAPES_VPS_THING_IDS = tuple(range(11, 19))

#: Keys of an entry that dataset classes copy into their metainfo.
LABEL_KEYS = ('classes', 'thing_ids', 'palette', 'ignore_label', 'label_divisor')

_STEP = dict(classes=STEP_CLASSES, thing_ids=STEP_THING_IDS, palette=STEP_PALETTE,
             ignore_label=IGNORE_LABEL, label_divisor=LABEL_DIVISOR)

DATASETS: NamedRegistry[Dict[str, Any]] = NamedRegistry('dataset')
DATASETS.register('kitti-step', dict(_STEP, format='kitti-step',
                                     gt_dir='kitti-step/video_sequence/val'))
DATASETS.register('cityscapes-step', dict(_STEP, format='cityscapes',
                                          gt_dir='cityscapes/gtFine/val'))
DATASETS.register('vipseg', dict(_VIPSEG, format='vipseg', gt_dir='VIPSeg_720P'))
DATASETS.register('cityscapes-vps', dict(_STEP, thing_ids=CITYSCAPES_VPS_THING_IDS,
                                         format='cityscapes-vps', gt_dir='cityscapes_vps'))


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
