"""Loading of RGB frames and STEP panoptic annotations for frames and clips.

DESIGN.md §1a step 2, §7 (``LoadMultiImagesDirect``, ``LoadMultiAnnotationsDirect`` with
``cherry_pick=True``; Cityscapes ``LoadAnnotationsInstanceMasks`` + ``KNetInsAdapterCherryPick``),
§8 (PNG encodings) and §12 item 3 (thing pixels with instance 0 become one "crowd" instance per
class). Class facts come from the data info keys ``thing_ids``, ``num_classes``, ``ignore_label``
and ``label_divisor`` that the datasets copy from their metainfo; nothing here knows a class id.

Per-frame keys written: ``img`` (H, W, 3) uint8 RGB, ``img_shape``/``ori_shape`` (h, w),
``scale_factor`` (w, h), ``flip``, ``flip_direction``; and ``gt_sem_seg`` (H, W) uint8 *model*
labels (255 ignore), ``gt_masks`` (N, H, W) uint8, ``gt_labels`` (N,) int64 model labels,
``gt_instance_ids`` (N,) int64 ``dataset_class * label_divisor + instance``.
"""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from knet.registry import TRANSFORMS
from knet.structures import dataset_to_model_lut, decode_step_png
from .clip_utils import clip_frames, read_png

#: Seg formats understood by :class:`LoadPanopticAnnotations` (data info key ``seg_format``).
SEG_FORMATS = ('step_rgb', 'cityscapes')


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


def decode_step_rgb(seg_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Decode a KITTI-STEP panoptic PNG (R = class, G*256+B = instance; DESIGN.md §8.1).

    Returns:
        ``(semantic, instance)``: (H, W) uint8 dataset class ids and (H, W) int32 instance ids.
    """
    rgb = read_png(seg_path, color=False)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'{seg_path}: expected an 8-bit RGB panoptic PNG, got dtype '
                         f'{rgb.dtype} and shape {rgb.shape}')
    return decode_step_png(rgb)


def decode_cityscapes(seg_path: str, ins_path: str,
                      thing_ids: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
    """Decode Cityscapes ``labelTrainIds`` + ``instanceTrainIds`` PNGs (DESIGN.md §8.2).

    Instance pixels are values >= 10000 whose ``value // 1000`` is a thing id; their instance id
    is ``value % 1000 + 1`` (Cityscapes counts instances from 0, STEP reserves 0 for crowd).

    Returns:
        ``(semantic, instance)``: (H, W) uint8 dataset class ids and (H, W) int32 instance ids.
    """
    semantic = read_png(seg_path, color=False)
    if semantic.dtype != np.uint8 or semantic.ndim != 2:
        raise ValueError(f'{seg_path}: expected a single-channel 8-bit labelTrainIds PNG, got '
                         f'dtype {semantic.dtype} and shape {semantic.shape}')
    raw = read_png(ins_path, color=False)
    if raw.ndim != 2:
        raise ValueError(f'{ins_path}: expected a single-channel instanceTrainIds PNG, got '
                         f'shape {raw.shape}')
    if raw.shape != semantic.shape:
        raise ValueError(f'{ins_path}: size {raw.shape} differs from {seg_path} {semantic.shape}')
    raw = raw.astype(np.int32)
    is_instance = (raw >= 10000) & np.isin(raw // 1000, thing_ids)
    instance = np.where(is_instance, raw % 1000 + 1, 0).astype(np.int32)
    return semantic, instance


def decode_panoptic(frame: dict, thing_ids: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
    """Decode the annotation of one frame info according to its ``seg_format``.

    Args:
        frame: frame info with ``seg_path`` (and ``ins_path`` for ``'cityscapes'``).
        thing_ids: dataset ids of the thing classes.

    Returns:
        ``(semantic, instance)``: (H, W) uint8 dataset class ids and (H, W) int32 instance ids.
    """
    seg_path = frame.get('seg_path')
    if not seg_path:
        raise KeyError(f"frame {frame.get('img_path')} has no 'seg_path' (no annotation)")
    seg_format = frame.get('seg_format', 'step_rgb')
    if seg_format == 'step_rgb':
        return decode_step_rgb(seg_path)
    if seg_format == 'cityscapes':
        return decode_cityscapes(seg_path, frame['ins_path'], thing_ids)
    raise ValueError(f"{seg_path}: unknown seg_format '{seg_format}', expected one of "
                     f'{SEG_FORMATS}')


def check_panoptic(frame: dict, semantic: np.ndarray, num_classes: int, ignore_label: int) -> None:
    """Validate a decoded semantic map, raising a ValueError that names the file.

    Args:
        frame: frame info (``seg_path``, ``img_path`` and, when the image was read,
            ``ori_shape``).
        semantic: (H, W) uint8 dataset class ids.
        num_classes: valid ids are ``0..num_classes-1`` ...
        ignore_label: ... and this void id.
    """
    img_shape = frame.get('ori_shape')
    if img_shape is not None and tuple(img_shape) != semantic.shape:
        raise ValueError(f"{frame['seg_path']}: label size {semantic.shape} (h, w) differs "
                         f"from image {frame['img_path']} size {tuple(img_shape)}")
    valid = np.zeros(256, dtype=bool)
    valid[:num_classes] = True
    valid[ignore_label] = True
    if not valid[semantic].all():
        bad = sorted(set(np.unique(semantic).tolist()) - set(np.flatnonzero(valid).tolist()))
        raise ValueError(f"{frame['seg_path']}: semantic ids {bad} outside 0..{num_classes - 1} "
                         f'and {ignore_label}')


@TRANSFORMS.register_module()
class LoadPanopticAnnotations(BaseTransform):
    """Decode the panoptic ground truth of every frame and convert it to model labels.

    Every thing segment (a thing class with one instance id) becomes a binary mask. Thing pixels
    with instance id 0 form one "crowd" instance per class (DESIGN.md §12 item 3) unless
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
        lut = dataset_to_model_lut(results['num_classes'], thing_ids)
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
