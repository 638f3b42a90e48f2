"""Clip-aware transforms and packing (docs/ARCHITECTURE.md "Data")."""
import copy

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from knet.datasets.transforms import (
    ClipRandomCrop,
    ClipRandomFlip,
    ClipRandomResize,
    PackPanopticInputs,
    nearest_resize,
)
from knet.structures import ClipDataSample, PanopticDataSample


def _frame(height: int = 6, width: int = 8, ids=(13 * 65536 + 1, 11 * 65536 + 2)) -> dict:
    """A loaded frame: gradient image, semantic map, two instance masks."""
    yy, xx = np.mgrid[:height, :width]
    img = np.stack([xx * 30, yy * 40, xx + yy], axis=-1).astype(np.uint8)
    sem = (xx % 19).astype(np.uint8)
    masks = np.zeros((2, height, width), np.uint8)
    masks[0, :2, :3] = 1
    masks[1, 3:, 5:] = 1
    return dict(img=img, img_shape=(height, width), ori_shape=(height, width), gt_sem_seg=sem,
                gt_masks=masks, gt_labels=np.array([1, 0]), gt_instance_ids=np.array(ids),
                scale_factor=(1.0, 1.0), flip=False, flip_direction=None, img_path='k.png',
                seq_id=3, frame_id=4)


def test_keep_ratio_size_matches_mmcv_rule():
    resize = ClipRandomResize(scale=(384, 1248), keep_ratio=True)
    # KITTI 375x1242: factor = min(1248 / 1242, 384 / 375) = 1.00483 -> (377, 1248).
    assert resize.output_size((375, 1242), 1.0) == (377, 1248)
    # ratio 0.5: min(624 / 1242, 192 / 375) = 0.50242 -> (188, 624).
    assert resize.output_size((375, 1242), 0.5) == (188, 624)
    assert ClipRandomResize(scale=(10, 20), keep_ratio=False).output_size((5, 5), 2.0) == (20, 40)


def test_resize_shares_ratio_and_resizes_labels_nearest():
    np.random.seed(0)
    clip = dict(frames=[_frame(), _frame()])
    out = ClipRandomResize(scale=(6, 8), ratio_range=(1.5, 2.5))(clip)
    key, ref = out['frames']
    assert key['img'].shape == ref['img'].shape and key['img_shape'] == ref['img_shape']
    h, w = key['img_shape']
    assert 9 <= h <= 15 and (w / h) == pytest.approx(8 / 6, rel=0.1)
    assert key['scale_factor'] == ref['scale_factor'] == (w / 8, h / 6)
    np.testing.assert_array_equal(key['gt_sem_seg'], nearest_resize(_frame()['gt_sem_seg'], (h, w)))
    assert set(np.unique(key['gt_masks'])) <= {0, 1}


def test_nearest_resize_values():
    labels = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(nearest_resize(labels, (4, 4)),
                                  [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    np.testing.assert_array_equal(nearest_resize(np.arange(6)[None], (1, 3)), [[1, 3, 5]])


def test_flip_all_frames_together():
    out = ClipRandomFlip(prob=1.0)(dict(frames=[_frame(), _frame()]))
    for frame in out['frames']:
        assert frame['flip'] and frame['flip_direction'] == 'horizontal'
        np.testing.assert_array_equal(frame['img'], _frame()['img'][:, ::-1])
        np.testing.assert_array_equal(frame['gt_masks'], _frame()['gt_masks'][:, :, ::-1])
    kept = ClipRandomFlip(prob=0.0)(_frame())
    assert kept['flip'] is False and kept['flip_direction'] is None
    np.testing.assert_array_equal(kept['img'], _frame()['img'])


def test_crop_shares_offsets_and_drops_emptied_instances():
    np.random.seed(3)
    out = ClipRandomCrop(crop_size=(3, 4), reject_empty_key=False,
                         require_id_match=False)(dict(frames=[_frame(), _frame()]))
    key, ref = out['frames']
    np.testing.assert_array_equal(key['img'], ref['img'])
    full = _frame()['img']
    matches = [(y, x) for y in range(4) for x in range(5)
               if np.array_equal(full[y:y + 3, x:x + 4], key['img'])]
    assert len(matches) == 1 and key['img_shape'] == (3, 4)
    top, left = matches[0]
    kept = [i for i, m in enumerate(_frame()['gt_masks']) if m[top:top + 3, left:left + 4].any()]
    np.testing.assert_array_equal(key['gt_instance_ids'], _frame()['gt_instance_ids'][kept])
    assert key['gt_masks'].shape == (len(kept), 3, 4) and len(key['gt_labels']) == len(kept)


def test_crop_larger_than_image_keeps_everything():
    out = ClipRandomCrop(crop_size=(100, 100))(_frame())
    np.testing.assert_array_equal(out['img'], _frame()['img'])
    assert len(out['gt_instance_ids']) == 2


def test_crop_rejects_key_without_instances():
    frame = _frame()
    frame['gt_masks'][:] = 0
    assert ClipRandomCrop(crop_size=(3, 4))(frame) is None
    assert ClipRandomCrop(crop_size=(3, 4), reject_empty_key=False)(_frame(ids=(5, 6))) is not None


def test_crop_rejects_clip_without_shared_id():
    clip = dict(frames=[_frame(ids=(1, 2)), _frame(ids=(3, 4))])
    assert ClipRandomCrop(crop_size=(100, 100))(copy.deepcopy(clip)) is None
    assert ClipRandomCrop(crop_size=(100, 100), require_id_match=False)(clip) is not None
    shared = dict(frames=[_frame(ids=(1, 2)), _frame(ids=(3, 2))])
    assert ClipRandomCrop(crop_size=(100, 100))(shared) is not None


def test_full_pipeline_applies_identical_params_to_a_copied_reference():
    pipeline = Compose([
        ClipRandomResize(scale=(6, 8), ratio_range=(0.5, 2.0)), ClipRandomFlip(prob=0.5),
        ClipRandomCrop(crop_size=(5, 7), reject_empty_key=False, require_id_match=False),
        PackPanopticInputs()])
    for seed in range(6):
        np.random.seed(seed)
        packed = pipeline(dict(frames=[_frame(), _frame()], seq_id=3, frame_id=4))
        assert torch.equal(packed['inputs'][0], packed['inputs'][1])
        key, ref = packed['data_samples']
        assert torch.equal(key.gt_sem_seg.sem_seg, ref.gt_sem_seg.sem_seg)
        assert torch.equal(key.gt_instances.masks, ref.gt_instances.masks)
        assert key.flip == ref.flip and key.img_shape == ref.img_shape


def test_pack_frame_contract():
    packed = PackPanopticInputs()(_frame())
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 6, 8)
    assert torch.equal(inputs.permute(1, 2, 0), torch.from_numpy(_frame()['img']))
    assert isinstance(sample, PanopticDataSample)
    assert sample.gt_instances.masks.dtype == torch.uint8
    assert sample.gt_instances.masks.shape == (2, 6, 8)
    assert sample.gt_instances.labels.dtype == torch.int64
    assert sample.gt_instances.instance_ids.tolist() == [13 * 65536 + 1, 11 * 65536 + 2]
    assert sample.gt_sem_seg.sem_seg.dtype == torch.int64
    assert sample.gt_sem_seg.sem_seg.shape == (1, 6, 8)
    for key in ('img_path', 'seq_id', 'frame_id', 'ori_shape', 'img_shape', 'scale_factor',
                'flip', 'flip_direction'):
        assert key in sample.metainfo


def test_pack_clip_contract_and_test_frames_without_gt():
    packed = PackPanopticInputs()(dict(frames=[_frame(), _frame()], seq_id=3, frame_id=4))
    assert packed['inputs'].shape == (2, 3, 6, 8) and packed['inputs'].dtype == torch.uint8
    clip = packed['data_samples']
    assert isinstance(clip, ClipDataSample) and len(clip) == 2 and clip.seq_id == 3
    frame = _frame()
    for key in ('gt_sem_seg', 'gt_masks', 'gt_labels', 'gt_instance_ids'):
        del frame[key]
    sample = PackPanopticInputs()(frame)['data_samples']
    assert 'gt_instances' not in sample and 'gt_sem_seg' not in sample


def test_frames_of_different_size_are_rejected():
    with pytest.raises(ValueError, match='same size'):
        ClipRandomCrop(crop_size=(2, 2))(dict(frames=[_frame(), _frame(height=5)]))


def test_bad_arguments():
    with pytest.raises(ValueError, match='ratio_range'):
        ClipRandomResize(scale=(4, 4), ratio_range=(2.0, 1.0))
    with pytest.raises(ValueError, match='prob'):
        ClipRandomFlip(prob=1.5)
    with pytest.raises(ValueError, match='crop_size'):
        ClipRandomCrop(crop_size=(0, 4))
