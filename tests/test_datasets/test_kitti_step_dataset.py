"""KITTISTEPDataset: frame order, reference sampling (``ref_seq_index``), validation."""
import hashlib
import os
import os.path as osp
import random
import re
import shutil

import numpy as np
import pytest
import torch

from knet.registry import DATASETS
from knet.structures import ClipDataSample
from video_knet.datasets import KITTISTEPDataset
from .step_files import make_step_tree, write_rgb

TRAIN_PIPELINE = [
    dict(type='LoadFrames'), dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(64, 192), ratio_range=(0.8, 1.2)),
    dict(type='ClipRandomFlip', prob=0.5), dict(type='ClipRandomCrop', crop_size=(48, 160)),
    dict(type='PackPanopticInputs')
]


def _pairs(dataset: KITTISTEPDataset) -> list:
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    return [(info['seq_id'], info['frame_id'], tuple(f['frame_id'] for f in info['frames'][1:]))
            for info in infos]


def test_frames_in_sequence_order_with_metainfo(toy_step_root):
    dataset = KITTISTEPDataset(data_root=toy_step_root, split='train')
    keys = [(dataset.get_data_info(i)['seq_id'], dataset.get_data_info(i)['frame_id'])
            for i in range(len(dataset))]
    assert keys == [(s, f) for s in (0, 1) for f in range(6)]
    info = dataset.get_data_info(7)
    assert info['img_path'].endswith('000001_000001_leftImg8bit.png')
    assert info['seg_path'].endswith('000001_000001_panoptic.png')
    assert (info['thing_ids'], info['num_classes'], info['ignore_label'],
            info['label_divisor']) == ((11, 13), 19, 255, 65536)
    meta = dataset.metainfo
    assert len(meta['classes']) == 19 and len(meta['palette']) == 19
    assert tuple(meta['thing_ids']) == (11, 13) and meta['classes'][13] == 'car'


def test_pairs_follow_the_seeded_draw_and_drop_at_boundaries(tmp_path):
    make_step_tree(str(tmp_path), 'train', [(s, f) for s in (4, 9) for f in range(7)])
    ref_seq_index = [-2, -1, 1, 2]
    dataset = KITTISTEPDataset(data_root=str(tmp_path), ref_seq_index=ref_seq_index, seed=5)
    rng = random.Random(5)
    expected = []
    for seq in (4, 9):
        for frame in range(7):
            offset = rng.choices(ref_seq_index, k=1)[0]
            if 0 <= frame + offset < 7:
                expected.append((seq, frame, (frame + offset, )))
    assert _pairs(dataset) == expected and 0 < len(expected) < 14


@pytest.mark.parametrize('ref_seq_index', [[-2, -1, 1, 2], [-2, -1], [-1, 1],
                                           [-3, -2, -1, 1, 2, 3]])
def test_offsets_within_list_and_sequence(toy_step_root, ref_seq_index):
    dataset = KITTISTEPDataset(data_root=toy_step_root, ref_seq_index=ref_seq_index)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        key, ref = info['frames']
        assert ref['frame_id'] - key['frame_id'] in ref_seq_index
        assert ref['seq_id'] == key['seq_id'] and 0 <= ref['frame_id'] < 6
        assert info['ref_offsets'] == [ref['frame_id'] - key['frame_id']]


def test_single_offsets_drop_exactly_the_boundary_keys(tmp_path):
    make_step_tree(str(tmp_path), 'train', [(0, f) for f in range(5)])
    causal = KITTISTEPDataset(data_root=str(tmp_path), ref_seq_index=[-2])
    assert [key for _, key, _ in _pairs(causal)] == [2, 3, 4]
    ahead = KITTISTEPDataset(data_root=str(tmp_path), ref_seq_index=[3])
    assert _pairs(ahead) == [(0, 0, (3, )), (0, 1, (4, ))]


def test_seeded_determinism(toy_step_root):
    def build(seed):
        return _pairs(KITTISTEPDataset(data_root=toy_step_root, ref_seq_index=[-2, -1, 1, 2],
                                       seed=seed))
    assert build(0) == build(0)
    assert any(build(0) != build(seed) for seed in (1, 2, 3))


@pytest.mark.parametrize('bad', [[], [0], [1, 0], [1.0], [True], [1, 1], 'ab', 2])
def test_invalid_ref_seq_index_rejected(toy_step_root, bad):
    with pytest.raises(ValueError, match='ref_seq_index'):
        KITTISTEPDataset(data_root=toy_step_root, ref_seq_index=bad)


def test_num_ref_frames(toy_step_root):
    dataset = KITTISTEPDataset(data_root=toy_step_root, ref_seq_index=[-2, -1, 1, 2],
                               num_ref_frames=2)
    for i in range(len(dataset)):
        key, *refs = dataset.get_data_info(i)['frames']
        offsets = [ref['frame_id'] - key['frame_id'] for ref in refs]
        assert len(set(offsets)) == 2 and set(offsets) <= {-2, -1, 1, 2}
    with pytest.raises(ValueError, match='num_ref_frames'):
        KITTISTEPDataset(data_root=toy_step_root, ref_seq_index=[-1, 1], num_ref_frames=3)


def test_unreachable_offsets_are_an_error_at_build_time(tmp_path):
    """The mistake: ``ref_seq_index=[100]`` on 20-frame sequences left no clip and failed inside
    mmengine ("need at least one array to concatenate")."""
    make_step_tree(str(tmp_path), 'train', [(0, f) for f in range(20)] + [(1, 0), (1, 1)])
    for offsets, bad in (([100], [100]), ([-1, 20], [20]), ([-25, 19, -20], [-25, -20])):
        with pytest.raises(ValueError, match=rf'ref_seq_index={re.escape(str(offsets))}: offset'
                           rf'\(s\) {re.escape(str(bad))} can never find a reference frame in '
                           r'split train of .*: its longest sequence is sequence 000000 '
                           r'\(20 frames, 2 sequence\(s\) in all\)'):
            DATASETS.build(dict(type='RepeatDataset', _scope_='knet', times=2, dataset=dict(
                type='KITTISTEPDataset', data_root=str(tmp_path), ref_seq_index=offsets)))
    assert len(KITTISTEPDataset(data_root=str(tmp_path), ref_seq_index=[19])) == 1
    # Every offset reaches a frame, but no key has all the references it needs.
    short = tmp_path / 'short'
    make_step_tree(str(short), 'train', [(0, 0), (0, 1)])
    for resample in (False, True):
        with pytest.raises(ValueError, match=r'ref_seq_index=\[-1, 1\] with num_ref_frames=2: '
                           'no key frame of split train'):
            KITTISTEPDataset(data_root=str(short), ref_seq_index=[-1, 1], num_ref_frames=2,
                             resample_each_epoch=resample)


def test_resample_each_epoch_draws_valid_references(tmp_path):
    make_step_tree(str(tmp_path), 'train', [(0, f) for f in range(4)] + [(1, 0)])
    dataset = KITTISTEPDataset(data_root=str(tmp_path), ref_seq_index=[-2, -1, 1, 2],
                               resample_each_epoch=True)
    assert len(dataset) == 4  # sequence 1 has a single frame: no valid reference
    np.random.seed(0)
    seen = set()
    for _ in range(30):
        key, ref = dataset.get_data_info(1)['frames']
        seen.add(ref['frame_id'] - key['frame_id'])
    assert seen == {-1, 1, 2}


def test_clip_sample_and_retry_on_rejected_sample(toy_step_root):
    rejected = []

    def reject_key_frame_zero(results):
        if results['frame_id'] == 0:
            rejected.append(results['sample_idx'])
            return None
        return results

    dataset = KITTISTEPDataset(data_root=toy_step_root, ref_seq_index=[-1, 1],
                               pipeline=[reject_key_frame_zero] + TRAIN_PIPELINE)
    first = [i for i in range(len(dataset)) if dataset.get_data_info(i)['frame_id'] == 0][0]
    np.random.seed(0)
    packed = dataset[first]
    assert rejected and rejected[0] == first
    assert isinstance(packed['data_samples'], ClipDataSample)
    assert packed['data_samples'].frame_id != 0
    assert packed['inputs'].shape == (2, 3, 48, 160) and packed['inputs'].dtype == torch.uint8
    dataset.test_mode = True
    with pytest.raises(Exception, match='should not get `None`'):
        dataset[first]


def _tree_hash(root: str) -> dict:
    return {osp.join(d, n): hashlib.md5(open(osp.join(d, n), 'rb').read()).hexdigest()
            for d, _, names in os.walk(root) for n in names}


def test_dataset_never_modifies_files(toy_step_root):
    before = _tree_hash(toy_step_root)
    dataset = KITTISTEPDataset(data_root=toy_step_root, ref_seq_index=[-1, 1], validate='full',
                               pipeline=TRAIN_PIPELINE)
    for i in range(3):
        dataset[i]
    assert _tree_hash(toy_step_root) == before


def test_missing_and_empty_split_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='video_sequence/val: missing'):
        KITTISTEPDataset(data_root=str(tmp_path), split='val')
    os.makedirs(tmp_path / 'video_sequence' / 'val')
    with pytest.raises(FileNotFoundError, match='no \\*_leftImg8bit.png'):
        KITTISTEPDataset(data_root=str(tmp_path), split='val')


def test_unpaired_files(tmp_path):
    folder = make_step_tree(str(tmp_path), 'train', [(0, 0), (0, 1)])
    os.remove(osp.join(folder, '000000_000001_panoptic.png'))
    with pytest.raises(FileNotFoundError, match='000000_000001_leftImg8bit.png: image without'):
        KITTISTEPDataset(data_root=str(tmp_path))
    shutil.copy(osp.join(folder, '000000_000000_panoptic.png'),
                osp.join(folder, '000000_000001_panoptic.png'))
    os.remove(osp.join(folder, '000000_000000_leftImg8bit.png'))
    with pytest.raises(FileNotFoundError, match='000000_000000_panoptic.png: label without'):
        KITTISTEPDataset(data_root=str(tmp_path))


def test_test_split_needs_no_labels(tmp_path):
    folder = make_step_tree(str(tmp_path), 'test', [(0, 0), (0, 1)])
    os.remove(osp.join(folder, '000000_000001_panoptic.png'))
    dataset = KITTISTEPDataset(data_root=str(tmp_path), split='test')
    assert [dataset.get_data_info(i)['seg_path'] is None for i in range(2)] == [False, True]


def test_corrupt_and_mismatched_pngs(tmp_path):
    folder = make_step_tree(str(tmp_path), 'train', [(0, 0), (0, 1)])
    image = osp.join(folder, '000000_000001_leftImg8bit.png')
    with open(image, 'wb') as handle:
        handle.write(b'garbage')
    with pytest.raises(ValueError, match='000000_000001_leftImg8bit.png: unreadable or corrupt'):
        KITTISTEPDataset(data_root=str(tmp_path))
    write_rgb(image, np.zeros((8, 11, 3), np.uint8))
    with pytest.raises(ValueError, match='000000_000001_panoptic.png: label size'):
        KITTISTEPDataset(data_root=str(tmp_path))
    assert len(KITTISTEPDataset(data_root=str(tmp_path), validate='none')) == 2
    with pytest.raises(ValueError, match='validate'):
        KITTISTEPDataset(data_root=str(tmp_path), validate='quick')


def test_full_validation_checks_semantic_ids(tmp_path):
    folder = make_step_tree(str(tmp_path), 'train', [(0, 0)])
    label = np.zeros((8, 12, 3), np.uint8)
    label[0, 0, 0] = 40
    write_rgb(osp.join(folder, '000000_000000_panoptic.png'), label)
    assert len(KITTISTEPDataset(data_root=str(tmp_path))) == 1  # header check only
    with pytest.raises(ValueError, match=r'000000_000000_panoptic.png: semantic ids \[40\]'):
        KITTISTEPDataset(data_root=str(tmp_path), validate='full')


def test_frame_gaps_warn_and_unrelated_files_are_ignored(tmp_path):
    folder = make_step_tree(str(tmp_path), 'train', [(0, 0), (0, 1), (0, 3)])
    open(osp.join(folder, 'notes.txt'), 'w').close()
    with pytest.warns(UserWarning) as record:
        dataset = KITTISTEPDataset(data_root=str(tmp_path), ref_seq_index=[1])
    messages = [str(warning.message) for warning in record]
    assert any('sequence 000000: 1 missing frame number(s), first [2]' in m for m in messages)
    assert any("ignored 1 file(s)" in m and 'notes.txt' in m for m in messages)
    assert _pairs(dataset) == [(0, 0, (1, ))]  # frame 1 -> 2 is missing: dropped
