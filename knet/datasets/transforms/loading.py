"""Loading of RGB frames and panoptic annotations for frames and clips.

Follows ``LoadMultiImagesDirect`` / ``LoadMultiAnnotationsDirect`` (``cherry_pick=True``) of the
original Video K-Net and, for Cityscapes, ``LoadAnnotationsInstanceMasks`` +
``KNetInsAdapterCherryPick``; annotations are decoded by the format registry
(:mod:`vseg.formats`, data info key ``seg_format``), and thing pixels with instance 0 become one
"crowd" instance per class (docs/data_formats.md, "Crowd"). Class facts come from the data info
keys ``thing_ids``, ``num_classes``, ``ignore_label`` and ``label_divisor`` that the datasets
copy from their metainfo; nothing here knows a class id or assumes fewer than 256 classes.

Per-frame keys written: ``img`` (H, W, 3) uint8 RGB, ``img_shape``/``ori_shape`` (h, w),
``scale_factor`` (w, h), ``flip``, ``flip_direction``; and ``gt_sem_seg`` (H, W) *model* labels
(``ignore_label`` void; uint8 up to 255 classes, else uint16), ``gt_masks`` (N, H, W) uint8,
``gt_labels`` (N,) int64 model labels, ``gt_instance_ids`` (N,) int64
``dataset_class * label_divisor + instance``.
"""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from knet.registry import TRANSFORMS
from vseg.formats import check_semantic, format_names, get_format
from vseg.panoptic import dataset_to_model_lut
from .clip_utils import clip_frames, read_png


@TRANSFORMS.register_module()
class LoadFrames(BaseTransform):
    """Read the RGB image of every frame (``img_path``) of a frame or clip sample."""

    def transform(self, results: dict) -> dict:
        """Add ``img`` (H, W, 3) uint8 RGB and the shape/geometry keys to every frame."""
        for frame in clip_frames(results):
            img = read_png(frame['img_path'], color=True)
            frame['img'] = img
            frame['img_shape'] = img.shape[:2]
            frame['ori_shape'] = img.shape[:2]
            frame['scale_factor'] = (1.0, 1.0)
            frame['flip'] = False
            frame['flip_direction'] = None
        return results


def decode_panoptic(frame: dict, thing_ids: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
    """Decode the annotation of one frame info with the format named by its ``seg_format``.

    Args:
        frame: frame info with ``seg_format`` (a :mod:`vseg.formats` name) and the files that
            format needs (``seg_path``, and ``ins_path`` for ``'cityscapes'``).
        thing_ids: dataset ids of the thing classes.

    Returns:
        ``(semantic, instance)``: (H, W) dataset class ids and (H, W) int32 instance ids.
    """
    if not frame.get('seg_path'):
        raise KeyError(f"frame {frame.get('img_path')} has no 'seg_path' (no annotation)")
    seg_format = frame.get('seg_format')
    if not seg_format:
        raise KeyError(f"{frame['seg_path']}: the frame info has no 'seg_format' (one of "
                       f'{format_names()})')
    try:
        fmt = get_format(seg_format)
    except KeyError as error:
        raise ValueError(f"{frame['seg_path']}: {error.args[0]}") from None
    return fmt.decode(fmt.files_of(frame), thing_ids)


def check_panoptic(frame: dict, semantic: np.ndarray, num_classes: int, ignore_label: int) -> None:
    """Validate a decoded semantic map, raising a ValueError that names the file.

    Args:
        frame: frame info (``seg_path``, ``img_path`` and, when the image was read,
            ``ori_shape``).
        semantic: (H, W) dataset class ids.
        num_classes: valid ids are ``0..num_classes-1`` ...
        ignore_label: ... and this void id.
    """
    img_shape = frame.get('ori_shape')
    if img_shape is not None and tuple(img_shape) != semantic.shape:
        raise ValueError(f"{frame['seg_path']}: label size {semantic.shape} (h, w) differs "
                         f"from image {frame['img_path']} size {tuple(img_shape)}")
    check_semantic(frame['seg_path'], semantic, num_classes, ignore_label)


@TRANSFORMS.register_module()
class LoadPanopticAnnotations(BaseTransform):
    """Decode the panoptic ground truth of every frame and convert it to model labels.

    Every thing segment (a thing class with one instance id) becomes a binary mask. Thing pixels
    with instance id 0 form one "crowd" instance per class (as the original does) unless
    ``with_crowd=False`` (then they stay only in the semantic map).

    Args:
        with_crowd: keep thing pixels with instance 0 as one instance per class.
    """

    def __init__(self, with_crowd: bool = True) -> None:
        self.with_crowd = with_crowd

    def transform(self, results: dict) -> dict:
        """Add ``gt_sem_seg``, ``gt_masks``, ``gt_labels``, ``gt_instance_ids`` to each frame."""
        for key in ('thing_ids', 'num_classes', 'ignore_label', 'label_divisor'):
            if key not in results:
                raise KeyError(f"LoadPanopticAnnotations needs data info key '{key}' (copied "
                               'from the dataset metainfo by the dataset)')
        thing_ids = tuple(int(t) for t in results['thing_ids'])
        lut = dataset_to_model_lut(results['num_classes'], thing_ids, results['ignore_label'])
        for frame in clip_frames(results):
            semantic, instance = decode_panoptic(frame, thing_ids)
            check_panoptic(frame, semantic, results['num_classes'], results['ignore_label'])
            frame.update(self._to_targets(semantic, instance, lut, thing_ids,
                                          results['label_divisor']))
        return results

    def _to_targets(self, semantic: np.ndarray, instance: np.ndarray, lut: np.ndarray,
                    thing_ids: Tuple[int, ...], label_divisor: int) -> dict:
        """(H, W) dataset ids + instance ids -> model-label semantic map and thing targets."""
        masks, labels, ids = [], [], []
        for model_label, class_id in enumerate(thing_ids):
            in_class = semantic == class_id
            for inst in np.unique(instance[in_class]).tolist():
                if inst == 0 and not self.with_crowd:
                    continue
                masks.append(in_class & (instance == inst))
                labels.append(model_label)
                ids.append(class_id * label_divisor + inst)
        shape = semantic.shape
        return dict(
            gt_sem_seg=lut[semantic],
            gt_masks=(np.stack(masks) if masks else np.zeros((0, ) + shape, bool)).astype(np.uint8),
            gt_labels=np.asarray(labels, dtype=np.int64),
            gt_instance_ids=np.asarray(ids, dtype=np.int64))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(with_crowd={self.with_crowd})'
