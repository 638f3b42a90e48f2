"""Per-frame pair tables, the results layout and ground-truth format readers, frame pairing."""
import os
import shutil
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import SEQUENCES, write_gt_png, write_result_pngs
from PIL import Image

from knet.structures import decode_step_png, encode_step_png
from vseg.formats import get_format
from vseg.layouts import get_layout
from vseg.metrics import count_pairs
from vseg.metrics.evaluate import Reading, frame_pair_table, pair_frames, pair_tables


def test_count_pairs_by_hand():
    gt = np.array([[1, 1, 2], [2, 2, 2]])
    pred = np.array([[5, 5, 5], [5, 6, 6]])
    table = count_pairs(gt, pred)
    assert list(zip(*(a.tolist() for a in table))) == [(1, 5, 2), (2, 5, 2), (2, 6, 2)]
    assert table.num_pixels == 6


@pytest.mark.parametrize('blocky', [False, True])
def test_count_pairs_equals_unique_of_pairs(blocky):
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 4, size=(7, 9)) * 65536 + rng.integers(0, 300, size=(7, 9))
    pred = rng.integers(0, 5, size=(7, 9)) * 65536 + rng.integers(0, 3, size=(7, 9))
    if blocky:
        gt, pred = gt.repeat(3, axis=1), pred.repeat(3, axis=1)
    pairs, counts = np.unique(np.stack([gt.ravel(), pred.ravel()], 1), axis=0, return_counts=True)
    table = count_pairs(gt, pred)
    assert table.gt_ids.tolist() == pairs[:, 0].tolist()
    assert table.pred_ids.tolist() == pairs[:, 1].tolist()
    assert table.counts.tolist() == counts.tolist()


def test_count_pairs_rejects_bad_input():
    with pytest.raises(ValueError, match='shape'):
        count_pairs(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match='integers'):
        count_pairs(np.zeros((2, 2)), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match='non-negative'):
        count_pairs(-np.ones((2, 2), int), np.zeros((2, 2), int))
    assert count_pairs(np.zeros((0, 3), int), np.zeros((0, 3), int)).num_pixels == 0


def test_readers_decode_16_bit_ids(tmp_path: Path):
    gt, pred = SEQUENCES[2][0]
    write_gt_png(tmp_path / 'g.png', gt)
    write_result_pngs(tmp_path, 2, 0, pred)
    ids = get_format('kitti-step').read_panoptic(dict(seg_path=str(tmp_path / 'g.png')), (),
                                                 65536)
    assert ids.tolist() == gt.tolist()
    sem, inst = decode_step_png(np.asarray(Image.open(tmp_path / 'g.png')))
    assert (ids == sem.astype(np.int64) * 65536 + inst).all()
    # the generic decode path (any label divisor) gives the same ids as the byte-level one
    slow = get_format('kitti-step').read_panoptic(dict(seg_path=str(tmp_path / 'g.png')), (),
                                                  1 << 20)
    assert (slow == sem.astype(np.int64) * (1 << 20) + inst).all()
    got = get_layout('knet').read_panoptic(dict(cat=str(tmp_path / '000002_000000_cat.png'),
                                                ins=str(tmp_path / '000002_000000_ins.png')),
                                           65536)
    assert got.tolist() == pred.tolist() and got.max() % 65536 == 700


def test_step_png_bytes_by_hand_and_round_trip():
    semantic = np.array([[0, 1, 2, 255], [3, 4, 5, 6]])
    instance = np.array([[0, 1, 255, 256], [257, 65535, 1000, 4242]], np.int32)
    rgb = encode_step_png(semantic, instance)
    assert rgb.dtype == np.uint8 and rgb[0, 3].tolist() == [255, 1, 0]  # 256 = 1 * 256 + 0
    assert rgb[1, 1].tolist() == [4, 255, 255] and rgb[1, 3].tolist() == [6, 16, 146]  # 4242
    sem, inst = decode_step_png(rgb)
    assert sem.tolist() == semantic.tolist() and inst.tolist() == instance.tolist()
    transposed = encode_step_png(semantic.T, instance.T)  # Fortran-ordered views
    assert np.array_equal(transposed, rgb.transpose(1, 0, 2))
    with pytest.raises(ValueError, match='65535'):
        encode_step_png(semantic, instance + 65535)


def test_pair_frames_by_name_and_errors(step_dirs):
    results, gt_dir = step_dirs
    frames = pair_frames(str(results), str(gt_dir))
    assert [(f.seq_id, f.frame_id) for f in frames] == [(2, 0), (2, 1), (2, 2), (13, 0)]
    assert '/13' not in frames[0].pred['cat'] and '000013' in frames[3].pred['cat']
    assert [f.seq_id for f in pair_frames(str(results), str(gt_dir), [13])] == [13]
    table = frame_pair_table(frames[3])
    assert table.num_pixels == 8

    (results / 'panoptic' / '2' / '000002_000001_ins.png').unlink()
    with pytest.raises(ValueError, match='000002_000001_cat.png has no matching _ins.png'):
        pair_frames(str(results), str(gt_dir))
    (results / 'panoptic' / '2' / '000002_000001_cat.png').unlink()
    with pytest.raises(ValueError, match='no result .*seq 2 frame 1'):
        pair_frames(str(results), str(gt_dir))
    (gt_dir / '000002_000001_panoptic.png').unlink()
    write_result_pngs(results / 'panoptic' / '2', 2, 7, SEQUENCES[2][0][1])
    with pytest.raises(ValueError, match='no ground truth .*seq 2 frame 7'):
        pair_frames(str(results), str(gt_dir))
    with pytest.raises(ValueError, match=r'sequences \[5\] have no ground truth'):
        pair_frames(str(results), str(gt_dir), [5])


def test_size_mismatch_and_wrong_folder_are_named(step_dirs):
    results, gt_dir = step_dirs
    write_result_pngs(results / 'panoptic' / '000013', 13, 0, np.zeros((3, 4), np.int64))
    frame = pair_frames(str(results), str(gt_dir))[3]
    with pytest.raises(ValueError, match='sequence 13 frame 0.*4x3.*4x2'):
        frame_pair_table(frame)
    for folder in ('13x', '6'):
        write_result_pngs(results / 'panoptic' / folder, 13, 1, np.zeros((2, 4), np.int64))
        with pytest.raises(ValueError, match=f'sequence 13 does not match its folder {folder}'):
            pair_frames(str(results), str(gt_dir))
        shutil.rmtree(results / 'panoptic' / folder)


def test_tables_cache_round_trip_and_invalidation(step_dirs, tmp_path: Path):
    results, gt_dir = step_dirs
    frames = pair_frames(str(results), str(gt_dir))
    cache = str(tmp_path / 'cache' / 'tables.npz')
    args = Namespace(tables_cache=cache, workers=1, no_progress=True)

    def tables():
        found, save = pair_tables(frames, args, Reading())
        save()
        return found

    fresh = tables()
    mtime = os.stat(cache).st_mtime_ns
    cached = tables()
    assert os.stat(cache).st_mtime_ns == mtime  # loaded, not rewritten
    for a, b in zip(fresh, cached):
        assert all((x == y).all() for x, y in zip(a, b))
    # Rewriting a prediction with other content invalidates the cache.
    write_result_pngs(results / 'panoptic' / '000013', 13, 0, np.zeros((2, 4), np.int64))
    os.utime(frames[3].pred['cat'], ns=(mtime + 10**9, mtime + 10**9))
    changed = tables()[3]
    assert changed.pred_ids.tolist() == [0] * len(changed.pred_ids)
