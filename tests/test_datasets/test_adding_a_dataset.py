"""The worked example of docs/adding_a_dataset.md, built end to end.

A new on-disk format ("toy-pairs": per frame a class PNG and an instance PNG in one folder per
video), its metainfo, a dataset class, a config that uses it, the online metric over the
dataset's samples, and the offline evaluators on results written by the results layout. Keep
this file and the page in step: the page quotes the code below.
"""
import os
import os.path as osp
import re
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData

from knet.registry import DATASETS, METRICS
from test_datasets.step_files import image_for, write_gray, write_rgb
from video_knet.datasets import VideoPanopticDataset
from vseg.formats import AnnotationFormat, format_names, register_format
from vseg.io import read_image
from vseg.layouts import get_layout
from vseg.metainfo import dataset_names, label_metainfo, register_dataset
from vseg.metrics.cli import stq_main, vpq_main

# --- 1. the annotation format ------------------------------------------------------------------


class ToyPairsFormat(AnnotationFormat):
    """``annotations/{split}/{video:04d}/{frame:04d}_class.png`` (8-bit class ids, 255 void)
    + ``..._instance.png`` (16-bit instance ids, 0 = none)."""

    name = 'toy-pairs'
    file_keys = ('seg_path', 'ins_path')
    _NAME = re.compile(r'^(\d{4})_class\.png$')

    def decode(self, files: Mapping[str, str],
               thing_ids: Sequence[int] = ()) -> Tuple[np.ndarray, np.ndarray]:
        semantic = read_image(files['seg_path'], color=False)
        instance = read_image(files['ins_path'], color=False)
        if semantic.ndim != 2 or semantic.shape != instance.shape:
            raise ValueError(f"{files['seg_path']}: expected two single-channel PNGs of one "
                             f'size, got {semantic.shape} and {instance.shape}')
        return semantic, instance.astype(np.int32)

    def find_frames(self, gt_dir: str) -> Dict[Tuple[int, int], Dict[str, str]]:
        found = {}
        for video in sorted(os.listdir(gt_dir)):
            for name in sorted(os.listdir(osp.join(gt_dir, video))):
                match = self._NAME.match(name)
                if video.isdigit() and match:
                    stem = osp.join(gt_dir, video, match.group(1))
                    found[(int(video), int(match.group(1)))] = dict(
                        seg_path=stem + '_class.png', ins_path=stem + '_instance.png')
        if not found:
            raise FileNotFoundError(f'no {{frame:04d}}_class.png annotations under {gt_dir}')
        return found


# --- 2. the metainfo ---------------------------------------------------------------------------

TOY_PAIRS_META = dict(classes=('ground', 'wall', 'ball'), thing_ids=(2, ),
                      palette=((90, 90, 90), (200, 180, 120), (220, 30, 30)), ignore_label=255,
                      label_divisor=65536, format='toy-pairs', gt_dir='toy-pairs/annotations/val')
if 'toy-pairs' not in format_names():  # (a module of the package registers unconditionally)
    register_format(ToyPairsFormat())
if 'toy-pairs' not in dataset_names():
    register_dataset('toy-pairs', TOY_PAIRS_META)

# --- 3. the dataset class ----------------------------------------------------------------------


class ToyPairsDataset(VideoPanopticDataset):
    """``images/{split}/{video:04d}/{frame:04d}.png`` with the toy-pairs annotations."""

    METAINFO = label_metainfo('toy-pairs')

    def scan_frames(self) -> List[dict]:
        image_dir = osp.join(self.data_root, 'images', self.split)
        ann_dir = osp.join(self.data_root, 'annotations', self.split)
        annotations = ToyPairsFormat().find_frames(ann_dir)
        frames = []
        for video in sorted(os.listdir(image_dir)):
            for name in sorted(os.listdir(osp.join(image_dir, video))):
                key = (int(video), int(name[:4]))
                files = annotations.get(key, dict(seg_path=None, ins_path=None))
                frames.append(dict(img_path=osp.join(image_dir, video, name),
                                   seg_format='toy-pairs', seq_id=key[0], seq_name=video,
                                   frame_id=key[1], **files))
        return frames


if 'ToyPairsDataset' not in DATASETS.module_dict:
    DATASETS.register_module(module=ToyPairsDataset)


# --- the data and the end-to-end test ----------------------------------------------------------


def frame_maps(video: int, frame: int) -> Tuple[np.ndarray, np.ndarray]:
    """(8, 12) class and instance maps: ground below, wall above, two balls moving right."""
    semantic = np.zeros((8, 12), np.uint8)
    semantic[:3] = 1
    instance = np.zeros((8, 12), np.uint16)
    for ball, row in ((1, 4), (2, 6)):
        cols = slice(frame + 2 * ball, frame + 2 * ball + 2)
        semantic[row:row + 2, cols] = 2
        instance[row:row + 2, cols] = ball + 10 * video
    semantic[0, 0] = 255
    return semantic, instance


def write_toy_pairs(root: Path, videos=(3, 7), frames: int = 3) -> None:
    for video in videos:
        for frame in range(frames):
            semantic, instance = frame_maps(video, frame)
            stem = root / 'annotations' / 'val' / f'{video:04d}' / f'{frame:04d}'
            write_gray(f'{stem}_class.png', semantic)
            write_gray(f'{stem}_instance.png', instance)
            write_rgb(str(root / 'images' / 'val' / f'{video:04d}' / f'{frame:04d}.png'),
                      image_for(video, frame, semantic.shape))


CONFIG = '''
_base_ = ['{repo}/configs/_base_/default_runtime.py']
val_dataloader = dict(
    batch_size=1, num_workers=0, sampler=dict(type='SequenceSampler'),
    dataset=dict(type='ToyPairsDataset', data_root='{root}', split='val', test_mode=True,
                 pipeline=[dict(type='LoadFrames'), dict(type='LoadPanopticAnnotations'),
                           dict(type='PackPanopticInputs')]))
val_evaluator = dict(type='VideoPanopticMetric', metric=['STQ', 'VPQ'], window_sizes=[1, 2])
'''


def test_toy_pairs_end_to_end(tmp_path: Path, capsys):
    write_toy_pairs(tmp_path / 'data')
    config = tmp_path / 'toy_pairs.py'
    config.write_text(CONFIG.format(repo=Path(__file__).resolve().parents[2],
                                    root=tmp_path / 'data'))
    cfg = Config.fromfile(str(config))
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(dataset) == 6 and dataset.metainfo['classes'] == ('ground', 'wall', 'ball')
    sample = dataset[1]['data_samples']
    assert sample.seg_format == 'toy-pairs'
    # model labels: the thing class (ball, id 2) first, then ground and wall
    assert sorted(sample.gt_instances.labels.tolist()) == [0, 0]
    sem_seg = sample.gt_sem_seg.sem_seg
    assert sem_seg[0, 5, 1].item() == 1 and sem_seg[0, 0, 0] == 255

    # predictions: perfect, except that in video 7 frame 2 the two balls swap their track ids
    results, layout = tmp_path / 'results', get_layout('knet')
    metric = METRICS.build(cfg.val_evaluator)
    metric.dataset_meta = dataset.metainfo
    for index in range(len(dataset)):
        data = dataset[index]['data_samples']
        semantic, instance = frame_maps(data.seq_id, data.frame_id)
        instance = instance.astype(np.int64)
        if (data.seq_id, data.frame_id) == (7, 2):
            instance = np.where(instance == 71, 72, np.where(instance == 72, 71, instance))
        layout.write_frame(str(results), data.seq_id, data.frame_id, semantic, instance)
        data.pred_panoptic = PixelData(sem_seg=torch.as_tensor(semantic.astype(np.int64))[None],
                                       instance_ids=torch.as_tensor(instance)[None])
        metric.process({}, [data.to_dict()])
    online = metric.evaluate(len(dataset))

    argv = [str(results), '--dataset', 'toy-pairs', '--gt-dir',
            str(tmp_path / 'data' / 'annotations' / 'val'), '--workers', '1', '--no-progress']
    stq = stq_main(argv)
    vpq = vpq_main(argv + ['--window-sizes', '1', '2'])
    assert 'STQ' in capsys.readouterr().out
    # by hand: every frame is perfect (VPQ@1 = 1); a 2-frame window across the swap sees each
    # ball as two tubes of 4 px each, IoU 1/2 -> no match: video 7 window (1, 2) has 2 FN + 2 FP
    # for the ball class, the other 3 windows match both balls.
    assert vpq['per_window'][1]['VPQ'] == pytest.approx(1.0)
    ball = vpq['per_window'][2]['per_class'][2]
    assert (ball['TP'], ball['FP'], ball['FN']) == (6, 2, 2)
    assert vpq['per_window'][2]['VPQ'] == pytest.approx((1 + 1 + 0.75) / 3, abs=1e-9)
    # STQ: SQ perfect. AQ of a video-7 ball tube g (12 px): predicted tube 71 shares 8 px
    # (IoU 8 / (12 + 12 - 8) = 1/2), tube 72 shares 4 px (IoU 4 / 20): (8 / 2 + 4 / 5) / 12 = 0.4;
    # video 3's two tubes are perfect.
    assert stq['SQ'] == pytest.approx(1.0)
    assert stq['AQ'] == pytest.approx((1 + 1 + 0.4 + 0.4) / 4)
    assert online == pytest.approx(dict(STQ=stq['STQ'], AQ=stq['AQ'], SQ=stq['SQ'],
                                        VPQ=vpq['VPQ'], VPQ_th=vpq['VPQ_th'],
                                        VPQ_st=vpq['VPQ_st'],
                                        **{'VPQ@1': 1.0, 'VPQ@2': vpq['per_window'][2]['VPQ']}))
    assert dataset.metainfo['thing_ids'] == (2, )
