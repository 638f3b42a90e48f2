"""The online official benchmark metric (``BenchmarkVideoMetric``) equals the offline official
evaluator on the same predictions, whatever the order in which frames reach it."""
import math
import os.path as osp
import random

import numpy as np
import pytest

from knet.datasets.toy_step import make_toy_step
from video_knet.evaluation import BenchmarkVideoMetric
from vseg.formats import vipseg
from vseg.metainfo import VIPSEG_THING_IDS, label_metainfo
from vseg.metrics.benchmark_eval import evaluate_stq, evaluate_vpq


@pytest.fixture(scope='module')
def raw_twin(tmp_path_factory):
    """The raw VIPSeg twin (panomasks/ + val.txt) and its val frames' decoded ground truth."""
    root = str(tmp_path_factory.mktemp('vipseg_online') / 'VIPSeg_720P')
    make_toy_step(root, seed=5, size=(48, 96), train_seqs=1, val_seqs=2, frames=7,
                  layout='vipseg')
    frames = []
    for seq, name in enumerate(vipseg.read_split_list(vipseg.find_split_list(root))):
        folder = osp.join(root, 'panomasks', name)
        for index, png in enumerate(vipseg.list_pngs(folder)):
            path = osp.join(folder, png)
            semantic, instance = vipseg.decode_raw(vipseg.read_raw_mask(path), VIPSEG_THING_IDS)
            frames.append(dict(seq=seq, name=name, frame=index, png=png, path=path,
                               semantic=semantic.astype(np.int64),
                               instance=instance.astype(np.int64)))
    return dict(root=root, frames=frames)


def perturb(frame):
    """A track switch from frame 3 on, two thing tracks merged, a stuff region given class 28
    and a void hole (no prediction)."""
    semantic, instance = frame['semantic'].copy(), frame['instance'].copy()
    tracks = sorted(set(instance[instance > 0].tolist()))
    if frame['frame'] >= 3 and tracks:
        instance[instance == tracks[0]] = 500
    if len(tracks) > 2:
        semantic[instance == tracks[2]] = semantic[instance == tracks[1]][0]
        instance[instance == tracks[2]] = tracks[1]
    stuff = sorted(set(semantic[instance == 0].tolist()) - {255})
    semantic[(semantic == stuff[0]) & (instance == 0)] = 28
    semantic[:4, :4] = 255
    return semantic, instance


def sample(frame, semantic, instance):
    return dict(seq_id=frame['seq'], seq_name=frame['name'], frame_id=frame['frame'],
                seg_path=frame['path'], seg_format='vipseg',
                pred_panoptic=dict(sem_seg=semantic[None], instance_ids=instance[None]))


def online(frames, predict, shuffle_seed=None, **kwargs):
    metric = BenchmarkVideoMetric(benchmark='vipseg', **kwargs)
    metric.dataset_meta = label_metainfo('vipseg')
    samples = [sample(f, *predict(f)) for f in frames]
    if shuffle_seed is not None:  # frames of several ranks arrive interleaved, some twice
        random.Random(shuffle_seed).shuffle(samples)
        samples = samples + samples[:3]
    for start in range(0, len(samples), 2):
        metric.process({}, samples[start:start + 2])
    return metric.compute_metrics(metric.results)


def offline(root, frames, predict, tmp_path):
    videos = {}
    for f in frames:
        videos.setdefault(f['name'], []).append((f['png'], *predict(f)))
    submit = str(tmp_path / 'submit')
    vipseg.write_submission(submit, list(videos.items()))
    gt, kind = vipseg.gt_videos(root)
    assert kind == 'raw'
    preds = vipseg.pair_submission(submit, gt)
    cats = vipseg.categories_table()
    return evaluate_vpq(gt, preds, cats, (1, 2, 4, 6, 8)), evaluate_stq(gt, preds, cats)


def test_perfect_predictions_score_one(raw_twin) -> None:
    result = online(raw_twin['frames'], lambda f: (f['semantic'], f['instance']))
    assert set(result) == {'VPQ', 'VPQ_th', 'VPQ_st', 'VPQ@1', 'VPQ@2', 'VPQ@4', 'VPQ@6',
                           'VPQ@8', 'STQ', 'AQ', 'SQ'}
    assert math.isnan(result['VPQ@8'])  # 7-frame videos have no 8-frame window
    assert result['VPQ@1'] == result['VPQ@6'] == 1.0
    assert result['STQ'] == result['AQ'] == result['SQ'] == 1.0


def test_online_equals_the_official_evaluator(raw_twin, tmp_path) -> None:
    frames = raw_twin['frames']
    vpq, stq = offline(raw_twin['root'], frames, perturb, tmp_path)
    result = online(frames, perturb, shuffle_seed=0)
    for length, window in vpq['per_window'].items():
        if math.isnan(window['VPQ']):
            assert math.isnan(result[f'VPQ@{length}'])
        else:
            assert result[f'VPQ@{length}'] == window['VPQ']  # the same sums: bit-exact
    assert 0.3 < result['VPQ@1'] < 0.95 and result['VPQ@1'] > result['VPQ@4']  # the switch
    assert (result['STQ'], result['AQ'], result['SQ']) == (stq['STQ'], stq['AQ'], stq['SQ'])
    assert 0.3 < stq['STQ'] < 0.95
    # the benchmark's windows can be chosen, and one metric alone
    only = online(frames, perturb, metric='VPQ', windows=[1, 2, 4])
    assert set(only) == {'VPQ', 'VPQ_th', 'VPQ_st', 'VPQ@1', 'VPQ@2', 'VPQ@4'}
    assert only['VPQ'] == pytest.approx(np.mean([vpq['per_window'][k]['VPQ']
                                                 for k in ('1', '2', '4')]))


def test_bad_arguments_and_inputs(raw_twin) -> None:
    with pytest.raises(ValueError, match="benchmark 'vspw' is not one of"):
        BenchmarkVideoMetric(benchmark='vspw')
    with pytest.raises(ValueError, match='STQ.*the metrics of cityscapes-vps'):
        BenchmarkVideoMetric(benchmark='cityscapes-vps', metric='STQ')
    frame = raw_twin['frames'][0]
    metric = BenchmarkVideoMetric()
    metric.dataset_meta = label_metainfo('vipseg')
    small = frame['semantic'][:40], frame['instance'][:40]
    with pytest.raises(ValueError, match='differ in size'):
        metric.process({}, [sample(frame, *small)])
    bad = sample(frame, frame['semantic'], frame['instance'])
    bad['seg_format'] = 'kitti-step'
    with pytest.raises(NotImplementedError, match="'kitti-step' has no segment listing"):
        metric.process({}, [bad])


def test_unlabelled_frames_are_tracked_not_scored(raw_twin) -> None:
    """Samples without ``seg_path`` (unlabelled frames the tracker runs through) leave the
    figures unchanged; an evaluation of unlabelled frames only is an error."""
    frames = raw_twin['frames']
    metric = BenchmarkVideoMetric(benchmark='vipseg')
    metric.dataset_meta = label_metainfo('vipseg')
    for frame in frames:
        unlabelled = dict(sample(frame, *perturb(frame)), seg_path=None,
                          frame_id=frame['frame'] + 100)
        metric.process({}, [sample(frame, *perturb(frame)), unlabelled])
    assert sum('unlabelled' in item for item in metric.results) == len(frames)
    result, expected = metric.compute_metrics(metric.results), online(frames, perturb)
    assert set(result) == set(expected)
    for key, value in expected.items():
        assert result[key] == value or (math.isnan(result[key]) and math.isnan(value)), key
    only = BenchmarkVideoMetric(benchmark='vipseg')
    only.dataset_meta = label_metainfo('vipseg')
    only.process({}, [dict(sample(frames[0], *perturb(frames[0])), seg_path=None)])
    with pytest.raises(ValueError, match='none of the 1 evaluated frames has a ground-truth'):
        only.compute_metrics(only.results)
