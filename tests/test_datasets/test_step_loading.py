"""LoadFrames / LoadPanopticAnnotations on hand-made PNGs (docs/data_formats.md)."""
import os.path as osp

import numpy as np
import pytest

from knet.datasets.transforms import LoadFrames, LoadPanopticAnnotations
from vseg.formats import get_format
from .step_files import image_for, write_gray, write_rgb

LABEL_INFO = dict(thing_ids=(11, 13), num_classes=19, ignore_label=255, label_divisor=65536)
SEM = np.array([[0, 0, 1, 1, 10, 10],
                [11, 11, 13, 13, 13, 255],
                [11, 11, 13, 13, 12, 14],
                [11, 0, 13, 13, 18, 255]], np.uint8)
INST = np.array([[0, 0, 0, 0, 0, 0],
                 [5, 5, 7, 7, 7, 0],
                 [5, 5, 0, 0, 0, 0],
                 [0, 0, 7, 300, 0, 0]], np.int32)


def _frame(tmp_path, sem=SEM, inst=INST, image_shape=None) -> dict:
    rgb = np.stack([sem, inst // 256, inst % 256], axis=-1).astype(np.uint8)
    seg_path = write_rgb(str(tmp_path / 'x_panoptic.png'), rgb)
    img_path = write_rgb(str(tmp_path / 'x_leftImg8bit.png'),
                         image_for(0, 0, image_shape or sem.shape))
    return dict(img_path=img_path, seg_path=seg_path, seg_format='kitti-step', seq_id=0,
                frame_id=0, **LABEL_INFO)


def _load(results: dict, with_crowd: bool = True) -> dict:
    return LoadPanopticAnnotations(with_crowd=with_crowd)(LoadFrames()(results))


def test_image_is_rgb_with_geometry_keys(tmp_path):
    out = LoadFrames()(_frame(tmp_path))
    np.testing.assert_array_equal(out['img'], image_for(0, 0, SEM.shape))
    assert out['img_shape'] == out['ori_shape'] == (4, 6)
    assert out['scale_factor'] == (1.0, 1.0) and out['flip'] is False


def test_semantic_map_in_model_labels(tmp_path):
    out = _load(_frame(tmp_path))
    # things first (11 -> 0, 13 -> 1), then stuff ascending: 0 -> 2, 1 -> 3, 10 -> 12,
    # 12 -> 13, 14 -> 14, 18 -> 18; void stays 255.
    expected = np.array([[2, 2, 3, 3, 12, 12],
                         [0, 0, 1, 1, 1, 255],
                         [0, 0, 1, 1, 13, 14],
                         [0, 2, 1, 1, 18, 255]])
    np.testing.assert_array_equal(out['gt_sem_seg'], expected)
    assert out['gt_sem_seg'].dtype == np.uint8


def test_thing_instances_ids_labels_and_crowd(tmp_path):
    out = _load(_frame(tmp_path))
    # person crowd (id 0), person 5, car crowd, car 7, car 300 = G 1 * 256 + B 44.
    np.testing.assert_array_equal(
        out['gt_instance_ids'], [11 * 65536, 11 * 65536 + 5, 13 * 65536, 13 * 65536 + 7,
                                 13 * 65536 + 300])
    np.testing.assert_array_equal(out['gt_labels'], [0, 0, 1, 1, 1])
    masks = out['gt_masks']
    assert masks.dtype == np.uint8 and masks.shape == (5, 4, 6)
    assert [tuple(map(tuple, np.argwhere(m))) for m in masks] == [
        ((3, 0), ), ((1, 0), (1, 1), (2, 0), (2, 1)), ((2, 2), (2, 3)),
        ((1, 2), (1, 3), (1, 4), (3, 2)), ((3, 3), )]


def test_without_crowd_drops_instance_zero(tmp_path):
    out = _load(_frame(tmp_path), with_crowd=False)
    np.testing.assert_array_equal(out['gt_instance_ids'] % 65536, [5, 7, 300])
    np.testing.assert_array_equal(out['gt_labels'], [0, 1, 1])


def test_no_things_gives_empty_targets(tmp_path):
    out = _load(_frame(tmp_path, sem=np.zeros((4, 6), np.uint8), inst=np.zeros((4, 6), np.int32)))
    assert out['gt_masks'].shape == (0, 4, 6) and out['gt_labels'].shape == (0, )


def test_clip_frames_are_all_loaded(tmp_path):
    frame = _frame(tmp_path)
    clip = dict(frames=[dict(frame), dict(frame)], **LABEL_INFO)
    out = _load(clip)
    assert all(len(f['gt_instance_ids']) == 5 for f in out['frames'])


def test_cityscapes_decoding(tmp_path):
    semantic = np.array([[11, 11, 13, 12], [11, 0, 13, 255]], np.uint8)
    raw = np.array([[11000, 11001, 13005, 12000], [11, 0, 13005, 255]], np.uint16)
    seg = write_gray(str(tmp_path / 'a_gtFine_labelTrainIds.png'), semantic)
    ins = write_gray(str(tmp_path / 'a_gtFine_instanceTrainIds.png'), raw)
    sem, inst = get_format('cityscapes').decode(dict(seg_path=seg, ins_path=ins), (11, 13))
    np.testing.assert_array_equal(sem, semantic)
    # thing instance k -> k + 1; the rider instance (stuff in STEP) and a person group -> 0.
    np.testing.assert_array_equal(inst, [[1, 2, 6, 0], [0, 0, 6, 0]])


@pytest.mark.parametrize('content', [b'not a png at all', b'\x89PNG\r\n\x1a\n' + b'\0' * 40])
def test_corrupt_label_names_the_file(tmp_path, content):
    frame = _frame(tmp_path)
    with open(frame['seg_path'], 'wb') as handle:
        handle.write(content)
    with pytest.raises(ValueError, match='x_panoptic.png.*corrupt'):
        _load(frame)


def test_truncated_image_names_the_file(tmp_path):
    frame = _frame(tmp_path)
    data = open(frame['img_path'], 'rb').read()
    with open(frame['img_path'], 'wb') as handle:
        handle.write(data[:len(data) // 2])
    with pytest.raises(ValueError, match='x_leftImg8bit.png'):
        LoadFrames()(frame)


def test_size_mismatch_names_both_files(tmp_path):
    with pytest.raises(ValueError, match='x_panoptic.png.*differs.*x_leftImg8bit.png'):
        _load(_frame(tmp_path, image_shape=(4, 5)))


@pytest.mark.parametrize('bad_id', [19, 254])
def test_semantic_ids_outside_range(tmp_path, bad_id):
    sem = SEM.copy()
    sem[0, 0] = bad_id
    with pytest.raises(ValueError, match=rf'x_panoptic.png: semantic ids \[{bad_id}\]'):
        _load(_frame(tmp_path, sem=sem))


def test_grayscale_panoptic_rejected(tmp_path):
    frame = _frame(tmp_path)
    write_gray(frame['seg_path'], SEM)
    with pytest.raises(ValueError, match='8-bit RGB panoptic'):
        _load(frame)


def test_missing_file_and_missing_label_info(tmp_path):
    frame = _frame(tmp_path)
    frame['seg_path'] = osp.join(str(tmp_path), 'nope_panoptic.png')
    with pytest.raises(FileNotFoundError, match='nope_panoptic.png'):
        _load(frame)
    frame = _frame(tmp_path)
    del frame['thing_ids']
    with pytest.raises(KeyError, match='thing_ids'):
        _load(frame)
