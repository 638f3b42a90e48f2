"""Cityscapes-VPS ground truth read frame by frame (``read_segments``, what the online metric
uses) gives the official VPQ, and results in our layout turn into a submission that the
official evaluator scores (perfect = 1.0)."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
from typing import List, NamedTuple

import numpy as np
import pytest
from eval_helpers import assert_same_vpq
from helpers import converted_cityscapes_vps

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
    predicted on every bicycle region (void crowd on every other labelled frame)."""
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
            bicycle = codes == vps.color2id(vps.CATEGORIES[18][4])
            semantic[bicycle], track[bicycle] = 18, 7
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
                                         r'0001_0029_toycity_000001_000029, frame = index'):
        vps.submission_from_results(results, twin, str(tmp_path / 'sub'))
    extra = str(tmp_path / 'extra')
    _write_results(twin, extra, {**predictions, (1, 6): predictions[(1, 5)]})
    with pytest.raises(ValueError, match='sequence 1 frame 6 is no labelled frame'):
        vps.submission_from_results(extra, twin, str(tmp_path / 'sub2'))


def test_frame_keys_errors() -> None:
    keys = vps.frame_keys([('0003_0009_c_000000_000009', 'b.png'),
                           ('0003_0004_c_000000_000004', 'a.png')])
    assert keys == {'0003_0004_c_000000_000004': (3, 0), '0003_0009_c_000000_000009': (3, 1)}
    raw = vps.frame_keys([('0003_0009_c_000000_000009', 'b.png'),
                          ('0003_0004_c_000000_000004', 'a.png')], numbering='all')
    assert raw == {'0003_0004_c_000000_000004': (3, 4), '0003_0009_c_000000_000009': (3, 9)}
    with pytest.raises(ValueError, match='x.png: image id .* 4-digit clip'):
        vps.frame_keys([('clip_0004_c_000000_000004', 'x.png')])
    with pytest.raises(ValueError, match='b.png and a.png: two labelled files of clip 0003'):
        vps.frame_keys([('0003_0004_c_0_4', 'a.png'), ('0003_0004_d_0_4', 'b.png')])


def _raw_numbered(predictions: dict) -> dict:
    """The labelled-frame predictions keyed by raw frame number (rank r -> 5 r + 4), with the
    24 unlabelled frames of each clip predicted as all void."""
    out = {}
    for (seq, rank), (semantic, track) in predictions.items():
        for raw in range(5 * rank, 5 * rank + 4):
            out[(seq, raw)] = np.full_like(semantic, 255), np.zeros_like(track)
        out[(seq, 5 * rank + 4)] = semantic, track
    return out


def test_submission_of_all_frames(twin, tmp_path) -> None:
    """frames='all' results (every raw frame, numbered FFFF) give the same submission as the
    labelled-frame results; the wrong numbering is a named error that names the right one."""
    predictions = _predictions(twin, perturb=True)
    labelled, every = str(tmp_path / 'labelled'), str(tmp_path / 'all')
    _write_results(twin, labelled, predictions)
    _write_results(twin, every, _raw_numbered(predictions))
    a = vps.submission_from_results(labelled, twin, str(tmp_path / 'sub_l'))
    b = vps.submission_from_results(every, twin, str(tmp_path / 'sub_a'), frames='all')
    assert open(a).read() == open(b).read()
    names = sorted(os.listdir(tmp_path / 'sub_l' / 'pan_pred'))
    assert names == sorted(os.listdir(tmp_path / 'sub_a' / 'pan_pred')) and len(names) == 18
    for name in names:
        assert open(tmp_path / 'sub_l' / 'pan_pred' / name, 'rb').read() == \
            open(tmp_path / 'sub_a' / 'pan_pred' / name, 'rb').read()
    with pytest.raises(ValueError, match=r"is no labelled frame.*frames='all' \(--frames all\)"):
        vps.submission_from_results(every, twin, str(tmp_path / 'x1'))
    with pytest.raises(ValueError, match=r"raw frame number.*frames='labelled' \(--frames "):
        vps.submission_from_results(labelled, twin, str(tmp_path / 'x2'), frames='all')
    with pytest.raises(ValueError, match=r"frames='some': expected one of \['labelled', 'all'\]"):
        vps.submission_from_results(labelled, twin, str(tmp_path / 'x3'), frames='some')


@pytest.fixture(scope='module')
def converted(twin, tmp_path_factory) -> str:
    """The twin as users have it after VPSNet's (or our) preparation: img_all/ beside the
    converted panoptic_video/ + JSON, without the cls/ and inst/ maps."""
    return converted_cityscapes_vps(twin, tmp_path_factory.mktemp('cityscapes_vps_converted'))


def test_dataset_reads_the_converted_ground_truth(twin, converted) -> None:
    """panoptic_video/ + JSON decode to the classes of the shipped maps and to the same objects
    (instance numbers renamed one-to-one per clip, the same in every frame), and the online
    metric's segments give the official VPQ of the converted ground truth."""
    from video_knet.datasets import CityscapesVPSDataset
    raw = CityscapesVPSDataset(data_root=twin, split='val', test_mode=True)
    conv = CityscapesVPSDataset(data_root=converted, split='val', test_mode=True,
                                validate='full')
    raw_infos = [raw.get_data_info(i) for i in range(len(raw))]
    infos = [conv.get_data_info(i) for i in range(len(conv))]
    assert [(i['seq_id'], i['frame_id'], osp.basename(i['img_path'])) for i in infos] == \
        [(i['seq_id'], i['frame_id'], osp.basename(i['img_path'])) for i in raw_infos]
    assert {i['seg_format'] for i in infos} == {'cityscapes-vps-panoptic'}
    fmt = get_format('cityscapes-vps-panoptic')
    renaming: dict = {}
    for info, raw_info in zip(infos, raw_infos):
        semantic, instance = fmt.decode(fmt.files_of(info), range(11, 19))
        raw_semantic, raw_instance = FORMAT.decode(FORMAT.files_of(raw_info), range(11, 19))
        assert np.array_equal(semantic, raw_semantic)
        assert np.array_equal(instance > 0, raw_instance > 0) and instance.max() > 0
        things = raw_instance > 0  # an object of the raw maps: (class, instance number)
        for c, a, b in set(zip(raw_semantic[things].tolist(), raw_instance[things].tolist(),
                               instance[things].tolist())):
            assert renaming.setdefault((info['seq_id'], c, a), b) == b
    per_clip: dict = {}
    for (clip, _, _), b in renaming.items():
        per_clip.setdefault(clip, []).append(b)
    assert all(len(set(bs)) == len(bs) for bs in per_clip.values())  # one-to-one
    # online segments (read_segments of the converted format) == the official converted GT
    official, categories, kind, _ = vps.gt_videos(converted)
    assert kind == 'converted'
    predictions = _predictions(twin, perturb=True)
    keys = [(i['seq_id'], i['frame_id']) for i in infos]
    videos: dict = {}
    for info in infos:
        ids, segments = fmt.read_segments(fmt.files_of(info))
        videos.setdefault(info['seq_id'], []).append(
            SegmentFrame(ids, segments, info['seg_path'], ''))
    ours = [_Video(str(seq), frames) for seq, frames in sorted(videos.items())]
    a = evaluate_vpq(official, _pred_videos(predictions, keys), categories, WINDOWS)
    b = evaluate_vpq(ours, _pred_videos(predictions, keys), categories, WINDOWS)
    for length, window in a['per_window'].items():
        assert window['VPQ'] == b['per_window'][length]['VPQ']  # same ids, same sums
    assert 0.3 < a['VPQ'] < 0.9


def test_converted_ground_truth_errors(converted, tmp_path) -> None:
    fmt = get_format('cityscapes-vps-panoptic')
    json_path = osp.join(converted, vps.gt_json_name('val'))
    png = sorted(os.listdir(osp.join(converted, 'val', 'panoptic_video')))[0]
    files = dict(seg_path=osp.join(converted, 'val', 'panoptic_video', png), ann_path=json_path)
    with pytest.raises(ValueError, match=r'its things are \[11, .*, 18\], got thing_ids'):
        fmt.decode(files, [11, 13])
    other = tmp_path / 'other.png'
    shutil.copy(files['seg_path'], other)
    with pytest.raises(ValueError, match='lists no image whose mask is other.png'):
        fmt.decode(dict(files, seg_path=str(other)), ())
    data = json.load(open(json_path))
    data['annotations'][0]['segments_info'] = data['annotations'][0]['segments_info'][1:]
    edited = tmp_path / vps.gt_json_name('val')
    edited.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r'segment id\(s\) \[\d+\] are not listed for image'):
        fmt.read_segments(dict(files, ann_path=str(edited)))
    with pytest.raises(FileNotFoundError, match='missing.json: file does not exist'):
        fmt.decode(dict(files, ann_path=str(tmp_path / 'missing.json')), ())
