"""CityscapesSTEPDataset on a hand-made tree (docs/data_formats.md layout)."""
import os
import os.path as osp

import numpy as np
import pytest
import torch

from knet.datasets import CityscapesSTEPDataset
from knet.structures import PanopticDataSample
from .step_files import image_for, write_gray, write_rgb

PIPELINE = [dict(type='LoadFrames'), dict(type='LoadPanopticAnnotations', with_crowd=False),
            dict(type='PackPanopticInputs')]


def _make_tree(root: str, names=(('aachen', 3, 19), ('bochum', 0, 19))) -> None:
    semantic = np.array([[0, 11, 11, 13], [12, 11, 13, 255]], np.uint8)
    raw = np.array([[0, 11000, 11000, 13002], [12000, 11, 13002, 255]], np.uint16)
    for city, seq, frame in names:
        stem = f'{city}_{seq:06d}_{frame:06d}'
        write_rgb(osp.join(root, 'leftImg8bit', 'train', city, stem + '_leftImg8bit.png'),
                  image_for(seq, frame, semantic.shape))
        gt = osp.join(root, 'gtFine', 'train', city, stem)
        write_gray(gt + '_gtFine_labelTrainIds.png', semantic)
        write_gray(gt + '_gtFine_instanceTrainIds.png', raw)


def test_frames_and_packed_sample(tmp_path):
    _make_tree(str(tmp_path))
    dataset = CityscapesSTEPDataset(data_root=str(tmp_path), split='train', pipeline=PIPELINE,
                                    validate='full')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(i['city'], i['seq_id'], i['frame_id'], i['seq_name']) for i in infos] == [
        ('aachen', 3, 19, 'aachen_000003'), ('bochum', 0, 19, 'bochum_000000')]
    assert infos[0]['seg_format'] == 'cityscapes' and infos[0]['thing_ids'] == (11, 13)
    packed = dataset[0]
    sample = packed['data_samples']
    assert isinstance(sample, PanopticDataSample) and packed['inputs'].shape == (3, 2, 4)
    # person instance 0 -> id 1 (model label 0), car instance 2 -> id 3 (model label 1);
    # the person group pixel (value 11) is not an instance.
    assert sample.gt_instances.instance_ids.tolist() == [11 * 65536 + 1, 13 * 65536 + 3]
    assert sample.gt_instances.labels.tolist() == [0, 1]
    assert sample.gt_instances.masks.sum(dim=(1, 2)).tolist() == [2, 2]
    assert torch.equal(sample.gt_sem_seg.sem_seg[0],
                       torch.tensor([[2, 0, 0, 1], [13, 0, 1, 255]]))


def test_missing_label_orphan_label_and_missing_split(tmp_path):
    _make_tree(str(tmp_path))
    label = osp.join(str(tmp_path), 'gtFine', 'train', 'bochum',
                     'bochum_000000_000019_gtFine_instanceTrainIds.png')
    os.remove(label)
    with pytest.raises(FileNotFoundError, match='instanceTrainIds.png: missing label'):
        CityscapesSTEPDataset(data_root=str(tmp_path))
    _make_tree(str(tmp_path))
    os.remove(osp.join(str(tmp_path), 'leftImg8bit', 'train', 'aachen',
                       'aachen_000003_000019_leftImg8bit.png'))
    with pytest.raises(FileNotFoundError, match='labelTrainIds.png: label without'):
        CityscapesSTEPDataset(data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='leftImg8bit/val: missing'):
        CityscapesSTEPDataset(data_root=str(tmp_path), split='val')
