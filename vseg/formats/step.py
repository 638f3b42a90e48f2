"""The STEP benchmarks' annotation formats: KITTI-STEP panoptic PNGs and Cityscapes trainIds.

* ``'kitti-step'``: one RGB PNG per frame, ``{seq:06d}_{frame:06d}_panoptic.png``, R = class id,
  G * 256 + B = instance id (0 for stuff and for crowd thing pixels).
* ``'cityscapes'``: ``*_gtFine_labelTrainIds.png`` (8-bit class ids, 255 void) plus
  ``*_gtFine_instanceTrainIds.png``: pixels with a value >= 10000 whose ``value // 1000`` is a
  thing id are instance ``value % 1000 + 1`` (Cityscapes counts instances from 0, STEP reserves
  0 for crowd); every other pixel has instance 0.
"""
import os
import os.path as osp
import re
import sys
from typing import Dict, Mapping, Sequence, Tuple

import cv2
import numpy as np

from ..io import read_image
from ..panoptic import decode_step_png
from .base import AnnotationFormat, FrameKey, register_format

_STEP_BITS = 16  # STEP PNGs store 16-bit instance ids (G * 256 + B)


class KITTISTEPFormat(AnnotationFormat):
    """KITTI-STEP panoptic PNG (``seg_path``); listing: ``GT_DIR/*_panoptic.png``."""

    name = 'kitti-step'
    file_keys = ('seg_path', )
    _NAME = re.compile(r'^(\d+)_(\d+)_panoptic\.png$')

    def decode(self, files: Mapping[str, str],
               thing_ids: Sequence[int] = ()) -> Tuple[np.ndarray, np.ndarray]:
        """``(semantic, instance)``: (H, W) uint8 class ids, (H, W) int32 instance ids."""
        path = files['seg_path']
        rgb = read_image(path, color=False)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f'{path}: expected an 8-bit RGB panoptic PNG, got dtype '
                             f'{rgb.dtype} and shape {rgb.shape}')
        return decode_step_png(rgb)

    def read_panoptic(self, files: Mapping[str, str], thing_ids: Sequence[int],
                      label_divisor: int) -> np.ndarray:
        """Panoptic ids straight from the PNG bytes when ``label_divisor`` is 2 ** 16."""
        if label_divisor != 1 << _STEP_BITS or sys.byteorder != 'little':
            return super().read_panoptic(files, thing_ids, label_divisor)
        path = files['seg_path']
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f'cannot read {path} (missing, unreadable or not a PNG)')
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'{path}: expected an 8-bit RGB panoptic PNG, got shape '
                             f'{image.shape} dtype {image.dtype}')
        # BGRA bytes read as little-endian uint32 are B | G << 8 | R << 16 | A << 24, and the
        # STEP id R << 16 | (G * 256 + B) is exactly the low 24 bits.
        bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        ids = np.empty(image.shape[:2], dtype=np.int64)
        np.bitwise_and(bgra.view(np.uint32)[..., 0], 0xFFFFFF, out=ids, casting='unsafe')
        return ids

    def find_frames(self, gt_dir: str) -> Dict[FrameKey, Dict[str, str]]:
        """``{(seq, frame): {'seg_path': ...}}`` of ``gt_dir/{seq:06d}_{frame:06d}_panoptic.png``.
        """
        if not osp.isdir(gt_dir):
            raise FileNotFoundError(f'ground-truth folder {gt_dir} does not exist (expected '
                                    '{seq:06d}_{frame:06d}_panoptic.png files)')
        found = {}
        for name in sorted(os.listdir(gt_dir)):
            match = self._NAME.match(name)
            if match is not None:
                key = (int(match.group(1)), int(match.group(2)))
                found[key] = dict(seg_path=osp.join(gt_dir, name))
        if not found:
            raise FileNotFoundError(f'no *_panoptic.png ground truth in {gt_dir}')
        return dict(sorted(found.items()))


class CityscapesFormat(AnnotationFormat):
    """Cityscapes ``labelTrainIds`` (``seg_path``) + ``instanceTrainIds`` (``ins_path``)."""

    name = 'cityscapes'
    file_keys = ('seg_path', 'ins_path')

    def decode(self, files: Mapping[str, str],
               thing_ids: Sequence[int] = ()) -> Tuple[np.ndarray, np.ndarray]:
        """``(semantic, instance)``: (H, W) uint8 class ids, (H, W) int32 instance ids."""
        seg_path, ins_path = files['seg_path'], files['ins_path']
        semantic = read_image(seg_path, color=False)
        if semantic.dtype != np.uint8 or semantic.ndim != 2:
            raise ValueError(f'{seg_path}: expected a single-channel 8-bit labelTrainIds PNG, '
                             f'got dtype {semantic.dtype} and shape {semantic.shape}')
        raw = read_image(ins_path, color=False)
        if raw.ndim != 2:
            raise ValueError(f'{ins_path}: expected a single-channel instanceTrainIds PNG, got '
                             f'shape {raw.shape}')
        if raw.shape != semantic.shape:
            raise ValueError(f'{ins_path}: size {raw.shape} differs from {seg_path} '
                             f'{semantic.shape}')
        raw = raw.astype(np.int32)
        is_instance = (raw >= 10000) & np.isin(raw // 1000, list(thing_ids))
        instance = np.where(is_instance, raw % 1000 + 1, 0).astype(np.int32)
        return semantic, instance

    _NAME = re.compile(r'^(.+)_(\d{6})_(\d{6})_gtFine_labelTrainIds\.png$')

    def find_frames(self, gt_dir: str) -> Dict[FrameKey, Dict[str, str]]:
        """``{(seq, frame): {'seg_path', 'ins_path'}}`` of ``gt_dir/{city}/*_labelTrainIds.png``.

        A frame is keyed by the sequence and frame numbers of its name
        (``{city}_{seq:06d}_{frame:06d}``), as the results layout names it; two cities with the
        same sequence number cannot be told apart there, so that is an error naming both files.
        """
        if not osp.isdir(gt_dir):
            raise FileNotFoundError(f'ground-truth folder {gt_dir} does not exist (expected '
                                    '{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelTrainIds'
                                    '.png files)')
        found: Dict[FrameKey, Dict[str, str]] = {}
        for city in sorted(os.listdir(gt_dir)):
            folder = osp.join(gt_dir, city)
            if not osp.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                match = self._NAME.match(name)
                if match is None:
                    continue
                key = (int(match.group(2)), int(match.group(3)))
                seg_path = osp.join(folder, name)
                ins_path = seg_path[:-len('labelTrainIds.png')] + 'instanceTrainIds.png'
                if key in found:
                    raise ValueError(f'{seg_path} and {found[key]["seg_path"]} have the same '
                                     f'sequence and frame numbers {key}: offline evaluation '
                                     'keys frames by these numbers; evaluate one city at a '
                                     'time (--gt-dir GT/CITY)')
                if not osp.isfile(ins_path):
                    raise FileNotFoundError(f'{ins_path}: missing (the instance ids of '
                                            f'{seg_path})')
                found[key] = dict(seg_path=seg_path, ins_path=ins_path)
        if not found:
            raise FileNotFoundError(f'no {{city}}/*_gtFine_labelTrainIds.png ground truth in '
                                    f'{gt_dir}')
        return dict(sorted(found.items()))


register_format(KITTISTEPFormat())
register_format(CityscapesFormat())
