"""VIPSeg end to end on the synthetic twin: ``tools/inference.py`` writes the official submission
beside our layout, the official evaluator scores it, and ``tools/test.py`` (the Runner with the
online ``BenchmarkVideoMetric``) reports the very same figures."""
import json
import math
import os
import os.path as osp

import numpy as np
import pytest
from helpers import load_tool, random_checkpoint, run_inference, run_test
from PIL import Image

from knet.datasets.toy_step import make_toy_step
from vseg.formats import vipseg
from vseg.formats.panoptic_video import rgb2id
from vseg.metrics.cli import benchmark_main

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'tiny', 'video-knet_tiny_vipseg.py')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp('vipseg_infer')
    root = str(folder / 'VIPSeg_720P')
    make_toy_step(root, seed=2, size=(64, 128), train_seqs=1, val_seqs=2, frames=4,
                  layout='vipseg')
    return dict(root=root, ckpt=random_checkpoint(CONFIG, str(folder / 'tiny_vipseg.pth')),
                folder=folder)


def _infer(setup, out, *extra):
    return run_inference(CONFIG, setup['ckpt'], setup['root'], out, *extra)


def test_inference_writes_the_submission_and_test_reports_the_same(setup, tmp_path) -> None:
    out = tmp_path / 'results'
    before = sorted(os.walk(setup['root']))
    assert _infer(setup, out)['frames'] == 8
    submit = out / 'submission'
    names = vipseg.read_split_list(osp.join(setup['root'], 'val.txt'))
    assert sorted(os.listdir(submit)) == ['pan_pred', 'pred.json']
    assert sorted(os.listdir(submit / 'pan_pred')) == sorted(names)
    pred = json.load(open(submit / 'pred.json'))
    assert [v['video_id'] for v in pred['annotations']] == names
    # each PNG holds exactly the listed segments; ids encode (class + 1) << 16 | track
    for video in pred['annotations']:
        assert [a['file_name'] for a in video['annotations']] == [f'{i:05d}.png' for i in range(4)]
        for entry in video['annotations']:
            ids = rgb2id(np.array(Image.open(submit / 'pan_pred' / video['video_id']
                                             / entry['file_name'])))
            listed = {s['id']: s for s in entry['segments_info']}
            assert set(np.unique(ids).tolist()) - {0} == set(listed)
            for seg_id, seg in listed.items():
                assert seg['category_id'] == (seg_id >> 16) - 1
                assert seg['area'] == int((ids == seg_id).sum())
    assert sorted(os.walk(setup['root'])) == before  # the dataset is never modified

    common = [str(submit), '--format', 'vipseg', '--gt-dir', setup['root'], '--no-progress',
              '--workers', '1']
    vpq = benchmark_main('vpq', common)
    stq = benchmark_main('stq', common)
    online = run_test(CONFIG, setup['ckpt'], setup['root'], tmp_path / 'work')
    for key in ('VPQ@1', 'VPQ@2', 'VPQ@4'):
        offline = vpq['per_window'][key[4:]]['VPQ']
        assert online[key] == pytest.approx(offline, abs=1e-12) or (
            math.isnan(online[key]) and math.isnan(offline))
    assert online['STQ'] == pytest.approx(stq['STQ'], abs=1e-12)
    assert online['SQ'] == pytest.approx(stq['SQ'], abs=1e-12) and 0 < stq['SQ'] <= 1

    # a second run replaces the submission whole; --no-submission leaves it alone
    stale = submit / 'pan_pred' / 'stale_video'
    os.makedirs(stale)
    assert _infer(setup, out, '--overwrite')['frames'] == 8
    assert not stale.exists() and (submit / 'pred.json').is_file()
    mtime = (submit / 'pred.json').stat().st_mtime_ns
    _infer(setup, out, '--overwrite', '--no-submission')
    assert (submit / 'pred.json').stat().st_mtime_ns == mtime


def test_make_submission_refuses_a_folder_of_other_files(setup, tmp_path) -> None:
    out = tmp_path / 'results'
    _infer(setup, out, '--no-submission')
    assert not (out / 'submission').exists()
    user = tmp_path / 'mine'
    os.makedirs(user)
    (user / 'notes.txt').write_text('keep me')
    tool = load_tool('make_submission')
    with pytest.raises(SystemExit, match="holds \\['notes.txt'\\]"):
        tool.main([str(out), '--format', 'vipseg', '--gt-dir', setup['root'], '--out',
                   str(user)])
    assert os.listdir(user) == ['notes.txt']
    tool.main([str(out), '--format', 'vipseg', '--gt-dir', setup['root'], '--out',
               str(tmp_path / 'sub')])
    assert sorted(os.listdir(tmp_path)) == ['mine', 'results', 'sub']  # no partial folder left


def test_browse_dataset_on_the_twin(setup, tmp_path) -> None:
    """browse_dataset.py draws VIPSeg training clips (key + reference, three rows each)."""
    out = tmp_path / 'browse'
    load_tool('browse_dataset').main([CONFIG, '--output-dir', str(out), '--num', '2',
                                      '--data-root', setup['root']])
    names = sorted(os.listdir(out))
    assert len(names) == 2
    image = np.array(Image.open(out / names[0]))
    assert image.shape == (3 * 64, 2 * 128, 3)  # 3 rows x (key | reference) of 64x128 crops
