"""Synthetic KITTI-STEP generator (knet.datasets.make_toy_step, tools/make_toy_step.py)."""
import filecmp
import glob
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from knet.datasets import make_toy_step
from knet.structures import decode_step_png
from vseg.folders import MARKER_NAME, remove_listed_files

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


def _tool():
    spec = importlib.util.spec_from_file_location(
        'make_toy_step_tool', osp.join(REPO, 'tools', 'make_toy_step.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_command_line(tmp_path, capsys):
    tool = _tool()
    assert tool.parse_size('64x192') == (64, 192)
    tool.main(['--out', str(tmp_path), '--size', '40x80', '--train-seqs', '1', '--val-seqs', '0',
               '--frames', '1'])
    assert "{'train': 1, 'val': 0}" in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / 'video_sequence/train/000000_000000_leftImg8bit.png')).shape \
        == (40, 80, 3)
    with pytest.raises(ValueError, match='size'):
        make_toy_step(str(tmp_path), size=(8, 8))


def _files(root) -> list:
    return sorted(osp.relpath(osp.join(d, n), root) for d, _, names in os.walk(root)
                  for n in names)


def test_the_generator_owns_its_folder(tmp_path):
    out = str(tmp_path / 'toy')
    make_toy_step(out, seed=3, **TINY)
    marker = json.loads(open(osp.join(out, MARKER_NAME)).read())
    assert marker['arguments'] == dict(seed=3, size=[48, 96], train_seqs=1, val_seqs=1, frames=2)
    assert sorted(marker['files']) == [f for f in _files(out) if f != MARKER_NAME]
    # Same arguments: allowed (a crashed run resumes), same bytes.
    first = osp.join(out, 'video_sequence', 'val', '000001_000001_panoptic.png')
    before = open(first, 'rb').read()
    os.remove(first)
    make_toy_step(out, seed=3, **TINY)
    assert open(first, 'rb').read() == before
    # Other arguments: refused, nothing changed (no silent mix of two datasets) ...
    snapshot = {f: open(osp.join(out, f), 'rb').read() for f in _files(out)}
    with pytest.raises(FileExistsError, match='other arguments .*seed: 3 then, 5 now.*--overwrite'):
        make_toy_step(out, seed=5, size=(48, 96), train_seqs=2, val_seqs=1, frames=2)
    assert {f: open(osp.join(out, f), 'rb').read() for f in _files(out)} == snapshot
    # ... unless overwrite, which removes the generator's own files only.
    with open(osp.join(out, 'video_sequence', 'notes.txt'), 'w') as f:
        f.write('a file of the user')
    make_toy_step(out, seed=5, size=(48, 96), train_seqs=2, val_seqs=1, frames=2, overwrite=True)
    names = _files(out)
    assert osp.join('video_sequence', 'notes.txt') in names
    assert sum(n.startswith(osp.join('video_sequence', 'train')) for n in names) == 8
    assert sorted(os.listdir(osp.join(out, 'video_sequence', 'val'))) == [
        '000002_000000_leftImg8bit.png', '000002_000000_panoptic.png',
        '000002_000001_leftImg8bit.png', '000002_000001_panoptic.png']


def test_a_folder_the_generator_did_not_make_is_refused(tmp_path, capsys):
    out = tmp_path / 'data'
    (out / 'video_sequence' / 'train').mkdir(parents=True)
    mine = out / 'video_sequence' / 'train' / '000000_000000_leftImg8bit.png'
    mine.write_bytes(b'my own image')
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=f'{out} is not empty and was not made by'):
            make_toy_step(str(out), overwrite=overwrite, **TINY)
    assert _files(str(out)) == [osp.join('video_sequence', 'train', mine.name)]
    assert mine.read_bytes() == b'my own image'
    with pytest.raises(SystemExit, match='^error: .* is not empty and was not made by'):
        _tool().main(['--out', str(out), '--overwrite'])


def test_a_corrupt_or_tampered_marker_is_an_error(tmp_path):
    out = tmp_path / 'toy'
    make_toy_step(str(out), **TINY)
    marker = out / MARKER_NAME
    data = json.loads(marker.read_text())
    outside = tmp_path / 'precious.txt'
    outside.write_text('not the generator\'s')
    marker.write_text(json.dumps(dict(data, files=['../precious.txt'])))
    with pytest.raises(ValueError, match=r"lists '../precious.txt', outside"):
        make_toy_step(str(out), seed=9, overwrite=True, **TINY)
    assert outside.exists()
    marker.write_text('{"tool": ')
    with pytest.raises(ValueError, match=f'{marker}: unreadable or corrupt folder marker'):
        make_toy_step(str(out), **TINY)


def test_overwrite_never_removes_through_a_linked_folder(tmp_path):
    out = tmp_path / 'toy'
    make_toy_step(str(out), **TINY)
    elsewhere = tmp_path / 'elsewhere'
    os.rename(out / 'video_sequence' / 'val', elsewhere)
    os.symlink(elsewhere, out / 'video_sequence' / 'val')
    kept = sorted(os.listdir(elsewhere))
    remove_listed_files(str(out), json.loads((out / MARKER_NAME).read_text())['files'])
    assert sorted(os.listdir(elsewhere)) == kept and len(kept) == 4
    assert not (out / 'video_sequence' / 'train').exists()
