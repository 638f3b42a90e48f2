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


def test_cityscapes_layout_holds_the_same_frames(tmp_path):
    """--layout cityscapes: the same scenes in the Cityscapes-STEP layout and encoding, read
    back by the Cityscapes format (offline evaluation) and CityscapesSTEPDataset (training)."""
    from knet.datasets import CityscapesSTEPDataset
    from vseg.formats import get_format
    step, city = str(tmp_path / 'step'), str(tmp_path / 'city')
    make_toy_step(step, seed=2, **TINY)
    assert make_toy_step(city, seed=2, layout='cityscapes', **TINY) == {'train': 2, 'val': 2}
    assert _files(city) == sorted(
        [MARKER_NAME] + [f'leftImg8bit/{s}/toycity/toycity_{q:06d}_{t:06d}_leftImg8bit.png'
                         for s, q in (('train', 0), ('val', 1)) for t in range(2)]
        + [f'gtFine/{s}/toycity/toycity_{q:06d}_{t:06d}_gtFine_{kind}.png'
           for s, q in (('train', 0), ('val', 1)) for t in range(2)
           for kind in ('instanceTrainIds', 'labelTrainIds')])
    cityscapes, kitti = get_format('cityscapes'), get_format('kitti-step')
    frames = cityscapes.find_frames(osp.join(city, 'gtFine', 'val'))
    assert list(frames) == [(1, 0), (1, 1)]
    for (seq, frame), files in frames.items():
        stem = osp.join(step, 'video_sequence', 'val', f'{seq:06d}_{frame:06d}')
        sem, inst = kitti.decode(dict(seg_path=stem + '_panoptic.png'))
        sem_c, inst_c = cityscapes.decode(files, thing_ids=(11, 13))
        assert np.array_equal(sem, sem_c) and np.array_equal(inst, inst_c) and inst.max() > 0
        raw = cv2.imread(files['ins_path'], cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16
        # a thing pixel holds class * 1000 + instance - 1, any other its class id (255 void)
        things = inst > 0
        assert np.array_equal(raw[things], sem[things].astype(int) * 1000 + inst[things] - 1)
        assert np.array_equal(raw[~things], sem[~things])
        image = cv2.imread(osp.join(city, 'leftImg8bit', 'val', 'toycity',
                                    f'toycity_{seq:06d}_{frame:06d}_leftImg8bit.png'))
        assert np.array_equal(image, cv2.imread(stem + '_leftImg8bit.png'))
    dataset = CityscapesSTEPDataset(data_root=city, split='train', pipeline=[],
                                    validate='full')
    assert [(i['seq_name'], i['frame_id']) for i in dataset] == [('toycity_000000', 0),
                                                                ('toycity_000000', 1)]
    # the marker records the layout: the other layout into the same folder is refused
    with pytest.raises(FileExistsError):
        make_toy_step(city, seed=2, **TINY)


def test_offline_evaluation_of_the_cityscapes_twin(tmp_path, capsys):
    """Predictions equal to the ground truth score 100 with --dataset cityscapes-step; with
    every thing pixel predicted as road, AQ is 0."""
    from vseg.formats import get_format
    from vseg.layouts import get_layout
    from vseg.metrics.cli import stq_main, vpq_main
    city, results, wrong = (str(tmp_path / name) for name in ('city', 'results', 'wrong'))
    make_toy_step(city, seed=1, size=(48, 96), train_seqs=0, val_seqs=1, frames=3,
                  layout='cityscapes')
    gt_dir = osp.join(city, 'gtFine', 'val')
    layout = get_layout('knet')
    for (seq, frame), files in get_format('cityscapes').find_frames(gt_dir).items():
        sem, inst = get_format('cityscapes').decode(files, thing_ids=(11, 13))
        layout.write_frame(results, seq, frame, sem, inst)
        road = np.where(inst > 0, 0, sem).astype(sem.dtype)
        layout.write_frame(wrong, seq, frame, road, np.zeros_like(inst))
    args = ['--dataset', 'cityscapes-step', '--gt-dir', gt_dir]
    stq = stq_main([results] + args)
    assert (stq['STQ'], stq['AQ'], stq['SQ']) == pytest.approx((1.0, 1.0, 1.0), abs=1e-9)
    assert vpq_main([results] + args + ['--window-sizes', '1', '3'])['VPQ'] == \
        pytest.approx(1.0, abs=1e-9)
    bad = stq_main([wrong] + args)
    assert bad['AQ'] == 0.0 and bad['SQ'] < 1.0


def test_cityscapes_ground_truth_listing_errors(tmp_path):
    """Two cities with the same sequence number cannot be keyed apart; a missing
    instanceTrainIds file is named."""
    import shutil

    from vseg.formats import get_format
    city = str(tmp_path / 'city')
    make_toy_step(city, seed=2, layout='cityscapes', **TINY)
    val = osp.join(city, 'gtFine', 'val')
    os.makedirs(osp.join(val, 'other'))
    for name in os.listdir(osp.join(val, 'toycity')):
        os.link(osp.join(val, 'toycity', name),
                osp.join(val, 'other', name.replace('toycity', 'other')))
    cityscapes = get_format('cityscapes')
    with pytest.raises(ValueError, match=r'have the same sequence and frame numbers \(1, 0\)'):
        cityscapes.find_frames(val)
    shutil.rmtree(osp.join(val, 'other'))
    missing = osp.join(val, 'toycity', 'toycity_000001_000001_gtFine_instanceTrainIds.png')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match=f'{missing}: missing'):
        cityscapes.find_frames(val)
    with pytest.raises(FileNotFoundError, match='no {city}/'):
        cityscapes.find_frames(osp.join(val, 'toycity'))


def test_val_seed_changes_only_val_scenes_and_is_recorded(tmp_path):
    from knet.datasets.toy_step import toy_step_complete
    same, held_out = str(tmp_path / 'same'), str(tmp_path / 'held_out')
    make_toy_step(same, seed=3, **TINY)
    make_toy_step(held_out, seed=3, val_seed=7, **TINY)
    for split in ('train', 'val'):
        a, b = (osp.join(root, 'video_sequence', split) for root in (same, held_out))
        names = sorted(os.listdir(a))
        match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
        if split == 'train':  # training scenes come from `seed` either way
            assert len(match) == 4 and not mismatch and not errors
        else:  # every val frame and label differs
            assert not match and len(mismatch) == 4
    # val_seed equal to seed is the default: same bytes, same marker as before val_seed existed
    default = str(tmp_path / 'default')
    make_toy_step(default, seed=3, val_seed=3, **TINY)
    assert filecmp.cmp(osp.join(same, MARKER_NAME), osp.join(default, MARKER_NAME),
                       shallow=False)
    with open(osp.join(held_out, MARKER_NAME)) as f:
        assert json.load(f)['arguments']['val_seed'] == 7

    assert toy_step_complete(held_out, seed=3, val_seed=7, **TINY)
    assert toy_step_complete(same, seed=3, **TINY) and toy_step_complete(same, seed=3,
                                                                          val_seed=3, **TINY)
    assert not toy_step_complete(same, seed=3, val_seed=7, **TINY)  # other arguments
    assert not toy_step_complete(held_out, seed=3, **TINY)
    assert not toy_step_complete(str(tmp_path / 'missing'), seed=3, **TINY)
    os.remove(osp.join(held_out, 'video_sequence', 'val', '000001_000001_panoptic.png'))
    assert not toy_step_complete(held_out, seed=3, val_seed=7, **TINY)  # incomplete run


def test_folder_complete_marker_arguments_and_files(tmp_path):
    from vseg.folders import claim_folder, folder_complete
    folder = str(tmp_path / 'out')
    files = ['a/x.png', 'b.png']
    assert not folder_complete(folder, 'tool', dict(size=(2, 3)), files)  # no folder
    claim_folder(folder, 'tool', dict(size=(2, 3)), files)
    assert not folder_complete(folder, 'tool', dict(size=(2, 3)), files)  # no file yet
    os.makedirs(osp.join(folder, 'a'))
    for name in files:
        with open(osp.join(folder, name), 'w') as f:
            f.write('x')
    # the marker stores JSON: a tuple and a list of the same values are the same arguments
    assert folder_complete(folder, 'tool', dict(size=(2, 3)), files)
    assert folder_complete(folder, 'tool', dict(size=[2, 3]), files)
    assert not folder_complete(folder, 'tool', dict(size=(2, 4)), files)
    assert not folder_complete(folder, 'other', dict(size=(2, 3)), files)
    assert not folder_complete(folder, 'tool', dict(size=(2, 3)), files + ['c.png'])
    with open(osp.join(folder, MARKER_NAME), 'w') as f:
        f.write('{"tool": "tool"}')
    with pytest.raises(ValueError, match='corrupt folder marker'):
        folder_complete(folder, 'tool', dict(size=(2, 3)), files)
