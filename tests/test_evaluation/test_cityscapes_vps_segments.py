"""Cityscapes-VPS ground truth read frame by frame (``read_segments``, what the online metric
uses) gives the official VPQ, and results in our layout turn into a submission that the
official evaluator scores (perfect = 1.0)."""
import os.path as osp
import subprocess
import sys
from typing import List, NamedTuple

import numpy as np
import pytest
from eval_helpers import assert_same_vpq

from knet.datasets.toy_step import make_toy_step
from vseg.formats import cityscapes_vps as vps
from vseg.formats import get_format
from vseg.formats.panoptic_video import SegmentFrame, prediction_segments
from vseg.layouts import get_layout
from vseg.metrics.benchmark_eval import evaluate_vpq

ROOT = osp.join(osp.dirname(__file__), '..', '..')
SIZE = (64, 128)
WINDOWS = [1, 2, 3, 4]
FORMAT = get_format('cityscapes-vps')


class _Video(NamedTuple):
    video_id: str
    frames: List[SegmentFrame]

    def load(self) -> List[SegmentFrame]:
        return self.frames


@pytest.fixture(scope='module')
def twin(tmp_path_factory) -> str:
    """Three val clips of 30 raw frames (6 labelled each)."""
    root = str(tmp_path_factory.mktemp('cityscapes_vps_segments') / 'twin')
    make_toy_step(root, seed=7, size=SIZE, train_seqs=0, val_seqs=3, frames=30,
                  layout='cityscapes-vps')
    return root


def _predictions(twin: str, perturb: bool) -> dict:
    """``{(seq, frame): (semantic, track)}``: the decoded ground truth, optionally with a car
    track switch from the 3rd frame on, persons as riders, sky as terrain and a bicycle
    predicted on the (void) crowd region."""
    out = {}
    for (seq, frame), files in FORMAT.find_frames(twin).items():
        semantic, instance = FORMAT.decode(files, range(11, 19))
        semantic, track = semantic.astype(np.int64), instance.astype(np.int64)
        if perturb:
            cars = track[semantic == 13]
            if frame >= 2 and cars.size:
                track[(semantic == 13) & (track == cars.min())] += 50
            semantic[semantic == 11] = 12
            semantic[semantic == 10] = 9
            codes = vps.rgb2id(vps.read_cls(files['seg_path']))
            crowd = codes == vps.color2id(vps.CATEGORIES[18][4])
            semantic[crowd], track[crowd] = 18, 7
        out[(seq, frame)] = semantic, track
    return out


def _pred_videos(predictions: dict, keys_in_order: list) -> List[_Video]:
    frames = [SegmentFrame(*prediction_segments(*predictions[k], 19), f'{k}', '')
              for k in keys_in_order]
    return [_Video(str(i), frames[start:start + 6]) for i, start in
            enumerate(range(0, len(frames), 6))]


def _read_segments_videos(twin: str) -> List[_Video]:
    """The ground truth as the online metric reads it: per frame, grouped by seq_id."""
    videos: dict = {}
    for (seq, _), files in FORMAT.find_frames(twin).items():
        ids, segments = FORMAT.read_segments(files)
        videos.setdefault(seq, []).append(SegmentFrame(ids, segments, files['seg_path'], ''))
    return [_Video(str(seq), frames) for seq, frames in sorted(videos.items())]


@pytest.mark.parametrize('perturb', [False, True], ids=['perfect', 'perturbed'])
def test_read_segments_gives_the_official_vpq(twin, perturb) -> None:
    official, categories, kind, warnings = vps.gt_videos(twin)
    assert kind == 'raw' and not warnings and len(official) == 3
    keys = list(FORMAT.find_frames(twin))
    assert [len(v.frames) for v in official] == [6, 6, 6]
    predictions = _predictions(twin, perturb)
    a = evaluate_vpq(official, _pred_videos(predictions, keys), categories, WINDOWS)
    ours = _read_segments_videos(twin)
    assert [len(v.frames) for v in ours] == [6, 6, 6]
    b = evaluate_vpq(ours, _pred_videos(predictions, keys), categories, WINDOWS)
    assert_same_vpq(a, b)
    if perturb:
        assert 0.3 < a['VPQ'] < 0.9
        assert a['per_window']['1']['per_class'][18]['FP'] == 0  # on crowd = void: no FP
        assert a['per_window']['4']['VPQ'] < a['per_window']['1']['VPQ']  # the track switch
    else:
        assert a['VPQ'] == a['VPQ_th'] == a['VPQ_st'] == 1.0


def _write_results(twin: str, results: str, predictions: dict) -> None:
    layout = get_layout('knet')
    for (seq, frame), (semantic, track) in predictions.items():
        layout.write_frame(results, seq, frame, semantic, track)


def _evaluate_tool(submit: str, gt_dir: str, out_json: str) -> dict:
    import json
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'evaluate_vpq.py'), submit,
                    '--format', 'cityscapes-vps', '--gt-dir', gt_dir, '--json', out_json,
                    '--no-progress', '--workers', '1'], check=True, capture_output=True)
    return json.load(open(out_json))


def test_submission_round_trip(twin, tmp_path) -> None:
    results, submit = str(tmp_path / 'results'), str(tmp_path / 'submit')
    _write_results(twin, results, _predictions(twin, perturb=False))
    path = vps.submission_from_results(results, twin, submit)
    assert path == osp.join(submit, 'pred.json')
    assert osp.isfile(osp.join(submit, 'pan_pred', '0000_0004_toycity_000000_000004.png'))
    saved = _evaluate_tool(submit, twin, str(tmp_path / 'vpq.json'))
    assert saved['VPQ'] == saved['VPQ_th'] == saved['VPQ_st'] == 1.0
    # a perturbed submission scores what the in-memory official path gives
    perturbed, submit2 = str(tmp_path / 'results2'), str(tmp_path / 'submit2')
    predictions = _predictions(twin, perturb=True)
    _write_results(twin, perturbed, predictions)
    vps.submission_from_results(perturbed, twin, submit2, progress=False, split='val')
    saved = _evaluate_tool(submit2, twin, str(tmp_path / 'vpq2.json'))
    official, categories, _, _ = vps.gt_videos(twin)
    expected = evaluate_vpq(official, _pred_videos(predictions, list(FORMAT.find_frames(twin))),
                            categories, WINDOWS)
    assert saved['VPQ'] == pytest.approx(expected['VPQ'], rel=1e-12)


def test_submission_needs_exactly_the_labelled_frames(twin, tmp_path) -> None:
    predictions = _predictions(twin, perturb=False)
    missing = dict(predictions)
    del missing[(1, 5)]
    results = str(tmp_path / 'missing')
    _write_results(twin, results, missing)
    with pytest.raises(ValueError, match=r'no result for sequence 1 frame 5 \(image '
                                         r'0001_0029_toycity_000001_000029\)'):
        vps.submission_from_results(results, twin, str(tmp_path / 'sub'))
    extra = str(tmp_path / 'extra')
    _write_results(twin, extra, {**predictions, (1, 6): predictions[(1, 5)]})
    with pytest.raises(ValueError, match='sequence 1 frame 6 is no labelled frame'):
        vps.submission_from_results(extra, twin, str(tmp_path / 'sub2'))


def test_frame_keys_errors() -> None:
    keys = vps.frame_keys([('0003_0009_c_000000_000009', 'b.png'),
                           ('0003_0004_c_000000_000004', 'a.png')])
    assert keys == {'0003_0004_c_000000_000004': (3, 0), '0003_0009_c_000000_000009': (3, 1)}
    with pytest.raises(ValueError, match='x.png: image id .* 4-digit clip'):
        vps.frame_keys([('clip_0004_c_000000_000004', 'x.png')])
    with pytest.raises(ValueError, match='b.png and a.png: two labelled files of clip 0003'):
        vps.frame_keys([('0003_0004_c_0_4', 'a.png'), ('0003_0004_d_0_4', 'b.png')])
