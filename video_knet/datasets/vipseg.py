"""VIPSeg video panoptic dataset (the original Video K-Net's ``VIPSegDVPSDataset``,
``external/vipseg_dvps.py``): frames or training clips.

Layout under ``data_root`` (the 720p version, ``VIPSeg_720P``, made by
``datasets/prepare_vipseg.py`` from the download or by ``tools/make_toy_step.py --layout vipseg``;
DATASET.md)::

    images/<video>/<frame>.jpg
    panomasks/<video>/<frame>.png      raw 16-bit values (annotation format 'vipseg')
    {train,val,test}.txt               one video name per line (here or in the parent folder)

The videos of ``{split}.txt`` in the order of the list; ``seq_id`` = the video's index in the
list and ``frame_id`` = the frame's index in the sorted images (both from 0), as the original.
Images and masks are paired by their name without extension; a frame without its mask is an
error (except in the test split, which has no masks). Class facts: ``vseg.metainfo`` ``'vipseg'``
(124 categories; dataset id = VIPSeg category id). Reference sampling and the clip info:
:class:`VideoPanopticDataset` (the original draws one offset of ``[-2, -1, 1, 2]`` per key with
seed 0, as its configs do).
"""
import os
import os.path as osp
from typing import List

from knet.registry import DATASETS
from vseg.formats.vipseg import IMAGE_DIR, RAW_DIR, find_split_list, list_images, read_split_list
from vseg.metainfo import label_metainfo
from .video_panoptic_dataset import VideoPanopticDataset, sort_and_check_sizes


@DATASETS.register_module()
class VIPSegDataset(VideoPanopticDataset):
    """VIPSeg frames (``ref_seq_index=None``) or training clips.

    Args: see :class:`VideoPanopticDataset` (``data_root`` is the ``VIPSeg_720P`` folder;
    ``split`` names the list ``{split}.txt``).
    """

    METAINFO: dict = label_metainfo('vipseg')
    #: The official benchmark of the dataset: ``tools/inference.py`` also writes its submission
    #: (:data:`vseg.metrics.benchmark_eval.BENCHMARKS`).
    benchmark = 'vipseg'

    def scan_frames(self) -> List[dict]:
        """The frames of the split's videos, each image paired with its mask by name."""
        list_path = find_split_list(self.data_root, self.split)
        names = read_split_list(list_path)
        if not names:
            raise ValueError(f'{list_path}: the split list names no video')
        if len(set(names)) != len(names):
            raise ValueError(f'{list_path}: a video is listed twice')
        frames = []
        for seq_id, name in enumerate(names):
            image_dir = osp.join(self.data_root, IMAGE_DIR, name)
            mask_dir = osp.join(self.data_root, RAW_DIR, name)
            if not osp.isdir(image_dir):
                raise FileNotFoundError(f'{image_dir}: video {name} of {list_path} has no '
                                        'images folder')
            images = list_images(image_dir)
            if not images:
                raise FileNotFoundError(f'{image_dir}: no image of video {name}')
            masks = set(os.listdir(mask_dir)) if osp.isdir(mask_dir) else set()
            for frame_id, image in enumerate(images):
                mask = osp.splitext(image)[0] + '.png'
                has_mask = mask in masks
                if self.ann_required and not has_mask:
                    raise FileNotFoundError(f'{osp.join(mask_dir, mask)}: missing mask of '
                                            f'{osp.join(image_dir, image)}')
                frames.append(dict(img_path=osp.join(image_dir, image),
                                   seg_path=osp.join(mask_dir, mask) if has_mask else None,
                                   seg_format='vipseg', seq_id=seq_id, seq_name=name,
                                   frame_id=frame_id))
            extra = masks - {osp.splitext(n)[0] + '.png' for n in images}
            if extra:
                raise FileNotFoundError(f'{mask_dir}: masks without their image: '
                                        f'{sorted(extra)[:3]}')
        return frames

    def sorted_frames(self) -> List[dict]:
        """The frames in split-list order (``seq_id``), then frame order; with validation, a
        video whose frames differ in size is an error naming the first odd frame."""
        frames = sort_and_check_sizes(super().sorted_frames(), 'video',
                                      check=self.validate != 'none')
        return frames
