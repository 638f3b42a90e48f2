"""Synthetic KITTI-STEP generator (knet.datasets.make_toy_step, tools/make_toy_step.py)."""
import filecmp
import glob
import importlib.util
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from knet.datasets import make_toy_step
from knet.structures import decode_step_png

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = dict(size=(48, 96), train_seqs=1, val_seqs=1, frames=2)


def _labels(root: str, split: str):
    for path in sorted(glob.glob(osp.join(root, 'video_sequence', split, '*_panoptic.png'))):
        yield path, decode_step_png(cv2.imread(path, cv2.IMREAD_UNCHANGED)[..., ::-1])


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    first, second, other = (str(tmp_path / name) for name in ('a', 'b', 'c'))
    assert make_toy_step(first, seed=3, **TINY) == {'train': 2, 'val': 2}
    make_toy_step(second, seed=3, **TINY)
    make_toy_step(other, seed=4, **TINY)
    names = sorted(os.listdir(osp.join(first, 'video_sequence', 'train')))
    assert names == ['000000_000000_leftImg8bit.png', '000000_000000_panoptic.png',
                     '000000_000001_leftImg8bit.png', '000000_000001_panoptic.png']
    for split in ('train', 'val'):
        match, mismatch, errors = filecmp.cmpfiles(
            osp.join(first, 'video_sequence', split), osp.join(second, 'video_sequence', split),
            names if split == 'train' else
            sorted(os.listdir(osp.join(first, 'video_sequence', split))), shallow=False)
        assert not mismatch and not errors and len(match) == 4
    assert not filecmp.cmp(osp.join(first, 'video_sequence', 'train', names[0]),
                           osp.join(other, 'video_sequence', 'train', names[0]), shallow=False)


def test_all_classes_in_both_splits_and_void(toy_step_root):
    for split in ('train', 'val'):
        present = set()
        for _, (semantic, _) in _labels(toy_step_root, split):
            present |= set(np.unique(semantic).tolist())
        assert present == set(range(19)) | {255}, split


def test_instances_per_frame_size_and_consistent_ids(toy_step_root):
    min_area = 225 * (64 / 128) * (192 / 416)
    for split in ('train', 'val'):
        ids_per_seq = {}
        for path, (semantic, instance) in _labels(toy_step_root, split):
            thing = np.isin(semantic, (11, 13))
            assert not (instance[~thing] != 0).any()  # ids only on things
            ids = {(c, i) for c in (11, 13) for i in np.unique(instance[semantic == c])}
            assert 1 <= len(ids) <= 4 and all(i > 0 for _, i in ids), path
            for c, i in ids:
                assert ((semantic == c) & (instance == i)).sum() >= min_area
            ids_per_seq.setdefault(osp.basename(path)[:6], []).append(ids)
        for frames in ids_per_seq.values():
            common = set.intersection(*frames)  # the anchor car and person stay in view
            assert (13, 1) in common and (11, 1) in common


def test_images_are_rgb_and_things_move(toy_step_root):
    folder = osp.join(toy_step_root, 'video_sequence', 'train')
    image = cv2.imread(osp.join(folder, '000000_000000_leftImg8bit.png'))
    assert image.shape == (64, 192, 3)
    centroids = []
    for frame in (0, 5):
        rgb = cv2.imread(osp.join(folder, f'000000_{frame:06d}_panoptic.png'))[..., ::-1]
        semantic, instance = decode_step_png(rgb)
        centroids.append(np.argwhere((semantic == 13) & (instance == 1)).mean(axis=0))
    assert not np.allclose(centroids[0], centroids[1])


def test_command_line(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'make_toy_step_tool', osp.join(REPO, 'tools', 'make_toy_step.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.parse_size('64x192') == (64, 192)
    tool.main(['--out', str(tmp_path), '--size', '40x80', '--train-seqs', '1', '--val-seqs', '0',
               '--frames', '1'])
    assert "{'train': 1, 'val': 0}" in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / 'video_sequence/train/000000_000000_leftImg8bit.png')).shape \
        == (40, 80, 3)
    with pytest.raises(ValueError, match='size'):
        make_toy_step(str(tmp_path), size=(8, 8))
