"""KITTI-STEP frames (image side); the video dataset adds clips on top of this file listing.

Follows the file handling of ``KITTISTEPDVPSDataset`` of the original Video K-Net
(docs/data_formats.md, "KITTI-STEP").

Layout under ``data_root`` (made by ``datasets/prepare_kitti_step.py`` or
``tools/make_toy_step.py``)::

    video_sequence/{train,val,test}/{seq:06d}_{frame:06d}_leftImg8bit.png
    video_sequence/{train,val}/{seq:06d}_{frame:06d}_panoptic.png   (R = trainId, G*256+B = id)

Only the file layout lives here; the class facts are the STEP metainfo
(:func:`knet.datasets.step_metainfo`). :class:`KITTISTEPFrameDataset` gives single frames in
(sequence, frame) order (image K-Net training and evaluation);
:class:`video_knet.datasets.KITTISTEPDataset` reuses its listing for training clips.
"""
import os
import os.path as osp
import re
import warnings
from typing import Dict, List

from knet.registry import DATASETS
from .panoptic_frame_dataset import PanopticFrameDataset

_NAME = re.compile(r'^(?P<seq>\d{6})_(?P<frame>\d{6})_(?P<kind>leftImg8bit|panoptic)\.png$')


@DATASETS.register_module()
class KITTISTEPFrameDataset(PanopticFrameDataset):
    """KITTI-STEP frames (annotation format ``'kitti-step'``).

    Args: see :class:`PanopticFrameDataset` (``data_root`` is the folder holding
    ``video_sequence/``; ``split`` one of its sub-folders).
    """

    def split_dir(self) -> str:
        """``{data_root}/video_sequence/{split}``."""
        return osp.join(self.data_root, 'video_sequence', self.split)

    def scan_frames(self) -> List[dict]:
        """Pair the split's images and panoptic PNGs by (sequence, frame)."""
        folder = self.split_dir()
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder}: missing KITTI-STEP split folder (expected '
                                    '{seq:06d}_{frame:06d}_leftImg8bit.png files)')
        files: Dict[str, Dict[tuple, str]] = dict(leftImg8bit={}, panoptic={})
        ignored = []
        for name in sorted(os.listdir(folder)):
            match = _NAME.match(name)
            if match is None:
                ignored.append(name)
                continue
            files[match['kind']][(int(match['seq']), int(match['frame']))] = osp.join(folder, name)
        if ignored:
            warnings.warn(f'{folder}: ignored {len(ignored)} file(s) not named '
                          f'{{seq:06d}}_{{frame:06d}}_{{leftImg8bit,panoptic}}.png, e.g. '
                          f'{ignored[:3]}', stacklevel=2)
        images, labels = files['leftImg8bit'], files['panoptic']
        if not images:
            raise FileNotFoundError(f'{folder}: split folder has no *_leftImg8bit.png image')
        for key, path in sorted(labels.items()):
            if key not in images:
                raise FileNotFoundError(f'{path}: label without its image '
                                        f'{key[0]:06d}_{key[1]:06d}_leftImg8bit.png')
        if self.ann_required:
            for key, path in sorted(images.items()):
                if key not in labels:
                    raise FileNotFoundError(f'{path}: image without its label '
                                            f'{key[0]:06d}_{key[1]:06d}_panoptic.png')
        return [dict(img_path=path, seg_path=labels.get(key), seg_format='kitti-step',
                     seq_id=key[0], seq_name=f'{key[0]:06d}', frame_id=key[1])
                for key, path in sorted(images.items())]
