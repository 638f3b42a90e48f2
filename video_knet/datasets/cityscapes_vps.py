"""Cityscapes-VPS video panoptic dataset (VPSNet's benchmark; the original Video K-Net's
``CityscapesVPSDataset``, ``external/cityscapes_vps.py``, read from the shipped maps instead of
its COCO json files): labelled frames or training clips.

Layout under ``data_root`` (``cityscapes-vps-dataset-1.0.zip`` as shipped, or
``tools/make_toy_step.py --layout cityscapes-vps``; DATASET.md)::

    {split}/img_all/<image_id>_newImg8bit.png   every raw frame (the 20th: _leftImg8bit.png);
                                                 a split without img_all/ is read from img/
    {split}/cls/<image_id>_final_mask.png       Cityscapes colour map (20th: _gtFine_color.png)
    {split}/inst/<image_id>_*.png               16-bit instance ids (annotation format
                                                 'cityscapes-vps': seg_path = cls, ins_path = inst)

A split without ``cls/`` + ``inst/`` is read from the converted ground truth when it has it
(``{split}/panoptic_video/`` + ``panoptic_gt_{split}_city_vps.json`` in ``data_root``; annotation
format ``'cityscapes-vps-panoptic'``: ``seg_path`` = the PNG, ``ann_path`` = the JSON).

``image_id`` is ``VVVV_FFFF_<city>_<seq>_<frame>`` (clip, frame in the 30-frame clip). The
samples are the labelled frames (those with a ``cls`` map, every 5th raw frame, 6 per clip);
``seq_id`` = the clip number ``VVVV`` and ``frame_id`` = the rank of the frame among its clip's
labelled frames (0..5), so a reference offset of 1 is the next labelled frame, 5 raw frames on, as
the original's image-id offsets. A split without maps (``test``) lists the raw frames at the
labelled positions (``FFFF % 5 == 4``). With ``frames='all'`` (inference, as the original's test
over ``img_all/``) the samples are every raw frame, ``frame_id`` = ``FFFF``, and only the labelled
ones carry their maps. Class facts: ``vseg.metainfo`` ``'cityscapes-vps'`` (19
trainIds, things 11..18); ``cls`` colours outside the table and crowd regions are void, as in the
official conversion (:mod:`vseg.formats.cityscapes_vps`).

The official VPQ cuts the split's sorted labelled frames into chunks of 6 by position; the online
metric groups frames by ``seq_id``. Both are the clips when every clip has its 6 labelled frames
(the released data); otherwise a validation / test dataset warns that the figures differ.
"""
import os
import os.path as osp
import warnings
from collections import Counter
from typing import Any, Dict, List, Tuple

from knet.registry import DATASETS
from vseg.formats.cityscapes_vps import (
    CLS_DIR,
    CONVERTED_DIR,
    FRAME_STEP,
    FRAMES_PER_VIDEO,
    INST_DIR,
    check_frame_mode,
    converted_frames,
    frame_keys,
    gt_json_name,
    image_id_of,
    raw_pairs,
)
from vseg.metainfo import label_metainfo
from .video_panoptic_dataset import VideoPanopticDataset, sort_and_check_sizes

#: Image folders of a split, in order of preference (all raw frames, then the labelled ones).
IMAGE_DIRS = ('img_all', 'img')


def list_images(folder: str) -> Dict[str, str]:
    """``{image_id: file name}`` of the ``*.png`` frames of an image folder.

    Raises:
        ValueError: a name that is no Cityscapes-VPS name, or two files of one image id.
    """
    found: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.png') or name.startswith('.'):
            continue
        try:
            image_id = image_id_of(name)
        except ValueError as error:
            raise ValueError(f'{folder}/{error}') from None
        if image_id in found:
            raise ValueError(f'{osp.join(folder, name)}: a second image of {image_id} (also '
                             f'{found[image_id]})')
        found[image_id] = name
    return found


@DATASETS.register_module()
class CityscapesVPSDataset(VideoPanopticDataset):
    """Cityscapes-VPS labelled frames (``ref_seq_index=None``) or training clips.

    Args:
        frames: ``'labelled'`` (default): the labelled frames, ``frame_id`` = rank in the clip
            (training, and the cheap validation); ``'all'``: every raw frame of the image
            folder, ``frame_id`` = the frame number ``FFFF``, the labelled ones with their
            maps and the others without (``seg_path`` None), so the tracker runs through the
            whole clip as the original's test does (``val/img_all/``) and the metric and the
            submission score the labelled frames. ``'all'`` is for inference only (no
            ``ref_seq_index``).
        **kwargs: see :class:`VideoPanopticDataset` (``data_root`` holds the split folders;
            ``split`` one of them). The original configs draw the reference at every fetch
            among the neighbouring labelled frames: ``ref_seq_index=[-1, 1]``,
            ``resample_each_epoch=True``.
    """

    METAINFO: dict = label_metainfo('cityscapes-vps')
    #: The official benchmark of the dataset (:data:`vseg.metrics.benchmark_eval.BENCHMARKS`).
    benchmark = 'cityscapes-vps'

    def __init__(self, *args: Any, frames: str = 'labelled', **kwargs: Any) -> None:
        self.frames = check_frame_mode(frames, 'CityscapesVPSDataset frames')
        if frames == 'all' and kwargs.get('ref_seq_index') is not None:
            raise ValueError("CityscapesVPSDataset: frames='all' lists unlabelled frames, which "
                             "cannot be training clips; use frames='labelled' with "
                             'ref_seq_index')
        super().__init__(*args, **kwargs)

    @property
    def submission_options(self) -> Dict[str, Any]:
        """Options of the official submission writer for results of this dataset."""
        return dict(frames=self.frames)

    def image_dir(self) -> str:
        """The split's image folder (``img_all/``, else ``img/``)."""
        split_dir = osp.join(self.data_root, self.split)
        for name in IMAGE_DIRS:
            if osp.isdir(osp.join(split_dir, name)):
                return osp.join(split_dir, name)
        raise FileNotFoundError(f'{split_dir}: no image folder ({" or ".join(IMAGE_DIRS)}/) of '
                                'the Cityscapes-VPS layout')

    def labelled(self) -> List[Tuple[str, Dict[str, str]]]:
        """``(image_id, annotation keys)`` of the labelled frames: the shipped maps
        (``seg_path`` = cls, ``ins_path`` = inst) if the split has them, else the converted
        ground truth (``seg_path`` = the ``panoptic_video`` PNG, ``ann_path`` = the JSON); with
        neither (``test``), the frames at the labelled positions with no annotation."""
        split_dir = osp.join(self.data_root, self.split)
        json_path = osp.join(self.data_root, gt_json_name(self.split))
        if osp.isdir(osp.join(split_dir, CLS_DIR)) or osp.isdir(osp.join(split_dir, INST_DIR)):
            pairs = raw_pairs(self.data_root, self.split)
            if not pairs:
                raise FileNotFoundError(f'{osp.join(split_dir, CLS_DIR)}: no labelled frame')
            return [(image_id, dict(seg_path=cls, ins_path=inst, seg_format='cityscapes-vps'))
                    for image_id, cls, inst in pairs]
        if osp.isdir(osp.join(split_dir, CONVERTED_DIR)) or osp.isfile(json_path):
            frames, _ = converted_frames(self.data_root, self.split)
            for frame in frames:
                if not osp.isfile(frame.png):
                    raise FileNotFoundError(f'{frame.png}: missing panoptic PNG of image '
                                            f'{frame.image_id} listed in {json_path}')
            return [(f.image_id, dict(seg_path=f.png, ann_path=json_path,
                                      seg_format='cityscapes-vps-panoptic')) for f in frames]
        if self.ann_required:
            raise FileNotFoundError(f'{split_dir}: no Cityscapes-VPS ground truth (the shipped '
                                    f'{CLS_DIR}/ + {INST_DIR}/ maps, or {CONVERTED_DIR}/ + '
                                    f'{json_path})')
        return [(image_id, {}) for image_id in sorted(list_images(self.image_dir()))
                if int(image_id.split('_')[1]) % FRAME_STEP == FRAME_STEP - 1]

    def scan_frames(self) -> List[dict]:
        """The labelled (or all) frames of the split, each with its image in the image
        folder."""
        image_dir = self.image_dir()
        images = list_images(image_dir)
        labelled = self.labelled()
        for image_id, ann in labelled:
            if image_id not in images:
                raise FileNotFoundError(f"{image_dir}: no image of {ann.get('seg_path')} "
                                        f'(expected {image_id}_newImg8bit.png or '
                                        '_leftImg8bit.png)')
        if self.frames == 'all':
            maps = dict(labelled)
            labelled = [(image_id, maps.get(image_id, {})) for image_id in images]
        keys = frame_keys([(image_id, ann.get('seg_path') or osp.join(image_dir, images[image_id]))
                           for image_id, ann in labelled], self.frames)
        frames = []
        for image_id, ann in labelled:
            seq_id, frame_id = keys[image_id]
            frames.append(dict(dict(seg_path=None, ins_path=None, seg_format='cityscapes-vps'),
                               **ann, img_path=osp.join(image_dir, images[image_id]),
                               seq_id=seq_id, seq_name=f'{seq_id:04d}', frame_id=frame_id,
                               image_id=image_id))
        return frames

    def sorted_frames(self) -> List[dict]:
        """The frames in (clip, frame) order; with validation, a clip whose frames differ in
        size is an error naming the first odd frame."""
        frames = sort_and_check_sizes(super().sorted_frames(), 'clip',
                                      check=self.validate != 'none')
        if self.test_mode:
            labelled = [f for f in frames if f['seg_path']] if self.frames == 'all' else frames
            counts = Counter(frame['seq_id'] for frame in labelled)
            odd = sorted(seq for seq, count in counts.items() if count != FRAMES_PER_VIDEO)
            if odd:
                warnings.warn(f'{osp.join(self.data_root, self.split)}: {len(odd)} clip(s) '
                              f'(first {odd[0]:04d}: {counts[odd[0]]} frames) do not have '
                              f'{FRAMES_PER_VIDEO} labelled frames; the official evaluator cuts '
                              f'the frames into chunks of {FRAMES_PER_VIDEO} by position, which '
                              'then span clips, so its VPQ differs from the per-clip online '
                              'metric', stacklevel=2)
        return frames
