"""Cityscapes-STEP image dataset for K-Net pretraining (docs/data_formats.md).

Layout under ``data_root`` (cityscapesScripts ``createTrainIdLabelImgs`` /
``createTrainIdInstanceImgs`` outputs)::

    leftImg8bit/{split}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png
    gtFine/{split}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelTrainIds.png
    gtFine/{split}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_instanceTrainIds.png

Each image is one frame sample (``seg_format='cityscapes'``, same data info and packed format as
KITTI-STEP frames); ``seq_id``/``frame_id`` are parsed from the name and ``seq_name`` is
``{city}_{seq:06d}``. The original's ``CityscapesDataset`` (``license.txt`` assertion) is not
reproduced: only the files above are required.
"""
import glob
import os.path as osp
import re
from typing import List

from knet.registry import DATASETS
from .panoptic_frame_dataset import PanopticFrameDataset

_IMAGE_NAME = re.compile(r'^(?P<city>.+)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.png$')
_LABEL_SUFFIX = '_gtFine_labelTrainIds.png'
_INSTANCE_SUFFIX = '_gtFine_instanceTrainIds.png'


@DATASETS.register_module()
class CityscapesSTEPDataset(PanopticFrameDataset):
    """Cityscapes frames with STEP panoptic labels (person and car are the only things).

    Args: see :class:`PanopticFrameDataset` (``data_root`` is the Cityscapes root).
    """

    def scan_frames(self) -> List[dict]:
        """List ``leftImg8bit/{split}/*/*`` and pair each image with its two gtFine PNGs."""
        img_dir = osp.join(self.data_root, 'leftImg8bit', self.split)
        gt_dir = osp.join(self.data_root, 'gtFine', self.split)
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'{img_dir}: missing Cityscapes split folder (expected '
                                    'leftImg8bit/{split}/{city}/*_leftImg8bit.png)')
        frames = [self._frame(path, gt_dir) for path in
                  sorted(glob.glob(osp.join(img_dir, '*', '*_leftImg8bit.png')))]
        if not frames:
            raise FileNotFoundError(f'{img_dir}: no *_leftImg8bit.png images in the city folders')
        self._check_orphan_labels(frames, gt_dir)
        return frames

    def _frame(self, img_path: str, gt_dir: str) -> dict:
        """Frame info of one image; raises if an annotation is required but missing."""
        name = osp.basename(img_path)
        match = _IMAGE_NAME.match(name)
        if match is None:
            raise ValueError(f'{img_path}: name does not follow '
                             '{city}_{seq:06d}_{frame:06d}_leftImg8bit.png')
        stem = name[:-len('_leftImg8bit.png')]
        city_dir = osp.join(gt_dir, osp.basename(osp.dirname(img_path)))
        seg_path = osp.join(city_dir, stem + _LABEL_SUFFIX)
        ins_path = osp.join(city_dir, stem + _INSTANCE_SUFFIX)
        has_ann = osp.isfile(seg_path) and osp.isfile(ins_path)
        if self.ann_required and not has_ann:
            missing = seg_path if not osp.isfile(seg_path) else ins_path
            raise FileNotFoundError(f'{missing}: missing label for image {img_path}')
        return dict(img_path=img_path, seg_path=seg_path if has_ann else None,
                    ins_path=ins_path if has_ann else None, seg_format='cityscapes',
                    city=match['city'], seq_id=int(match['seq']),
                    seq_name=f"{match['city']}_{match['seq']}", frame_id=int(match['frame']))

    @staticmethod
    def _check_orphan_labels(frames: List[dict], gt_dir: str) -> None:
        """Raise if a labelTrainIds PNG has no image."""
        labelled = {frame['seg_path'] for frame in frames if frame['seg_path']}
        for path in sorted(glob.glob(osp.join(gt_dir, '*', '*' + _LABEL_SUFFIX))):
            if path not in labelled:
                raise FileNotFoundError(f'{path}: label without its leftImg8bit image')
