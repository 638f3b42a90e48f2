"""The official VIPSeg VPQ / STQ: hand-derived cases, the conversion, the tools end to end and
the bad inputs of the submission."""
import json
import math
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from knet.datasets.toy_step import make_toy_step
from vseg.formats import vipseg
from vseg.formats.panoptic_video import (
    IdGenerator,
    Segment,
    SegmentFrame,
    color2id,
    id2rgb,
    rgb2id,
)
from vseg.metainfo import VIPSEG_THING_IDS
from vseg.metrics.benchmark_eval import evaluate_stq, evaluate_vpq, stq_labels
from vseg.metrics.cli import benchmark_main
from vseg.metrics.evaluate import to_jsonable
from vseg.metrics.pairs import count_pairs
from vseg.metrics.segment_vpq import SegmentVPQ, WindowFrame, video_stats

CATS = {0: dict(isthing=0, name='stuff0'), 1: dict(isthing=0, name='stuff1'),
        2: dict(isthing=1, name='thing2')}


def frame(gt_ids, gt_segs, pred_ids, pred_cats):
    gt_ids, pred_ids = np.array(gt_ids), np.array(pred_ids)
    table = count_pairs(gt_ids, pred_ids)
    gt = {i: Segment(c, crowd, int((gt_ids == i).sum())) for i, (c, crowd) in gt_segs.items()}
    pred = {i: Segment(c) for i, c in pred_cats.items()}
    return WindowFrame(table, gt, pred, 'frame')


GT = [[1, 1, 1, 1], [1, 1, 2, 2], [0, 0, 2, 2]]
PRED = [[7, 7, 7, 7], [7, 9, 9, 9], [7, 0, 9, 9]]


def vpq_of(frames, windows):
    metric = SegmentVPQ(CATS, windows)
    metric.add_video(video_stats(frames, windows), len(frames))
    return metric.result()


def test_one_frame_by_hand() -> None:
    # stuff: I(1, 7) = 5, |p| = 6, |g| = 6, 1 pixel of 7 on void -> IoU 5 / (6 + 6 - 5 - 1)
    # thing: I(2, 9) = 4, |p| = 5, |g| = 4 -> IoU 4 / 5; (1, 9) differ in category.
    result = vpq_of([frame(GT, {1: (0, 0), 2: (2, 0)}, PRED, {7: 0, 9: 2})], [1])
    window = result['per_window']['1']
    assert window['VPQ_st'] == pytest.approx(5 / 6)
    assert window['VPQ_th'] == pytest.approx(0.8)
    assert window['VPQ'] == pytest.approx((5 / 6 + 0.8) / 2)  # 2 counted categories of 3
    assert window['n'] == 2 and window['k'] == 0
    assert window['per_class'][2]['TP'] == 1 and window['per_class'][1]['TP'] == 0


def test_track_switch_is_a_miss_in_two_frame_windows() -> None:
    first = frame(GT, {1: (0, 0), 2: (2, 0)}, PRED, {7: 0, 9: 2})
    switched = np.where(np.array(PRED) == 9, 10, PRED)
    second = frame(GT, {1: (0, 0), 2: (2, 0)}, switched, {7: 0, 10: 2})
    result = vpq_of([first, second], [1, 2])
    one, two = result['per_window']['1'], result['per_window']['2']
    assert one['VPQ'] == pytest.approx((5 / 6 + 0.8) / 2)
    # window of 2: stuff IoU 10 / (12 + 12 - 10 - 2); thing tube 2 (8 px) vs 9 and 10 (5 px each,
    # IoU 4 / 9): no match, 1 FN and 2 FP -> PQ 0.
    assert two['VPQ_st'] == pytest.approx(10 / 12)
    assert two['VPQ_th'] == 0.0
    assert two['per_class'][2] == dict(PQ=0.0, SQ=0, RQ=0.0, TP=0, FP=2, FN=1, IoU=0.0)
    assert result['VPQ'] == pytest.approx((one['VPQ'] + two['VPQ']) / 2)
    assert two['k'] == 5 and two['num_windows'] == 1


def test_crowd_void_and_first_listed_category() -> None:
    gt = [[1, 1, 1, 1], [3, 3, 3, 0], [3, 3, 0, 0]]  # 3: crowd of the thing class
    pred = [[5, 5, 5, 5], [6, 6, 6, 8], [6, 6, 8, 8]]
    # 6 lies on the crowd tube (5 px of 5): no FP; 8 lies on void: no FP; 5 matches stuff 1.
    result = vpq_of([frame(gt, {1: (0, 0), 3: (2, 1)}, pred, {5: 0, 6: 2, 8: 1})], [1])
    window = result['per_window']['1']
    assert window['per_class'][2]['FP'] == 0 and window['per_class'][2]['FN'] == 0
    assert window['per_class'][1]['FP'] == 0
    assert math.isnan(window['VPQ_th'])  # no thing category is counted
    assert result['warnings'] and 'no thing category' in result['warnings'][0]
    # the predicted id keeps the category of the first frame that lists it
    a = frame(GT, {1: (0, 0), 2: (2, 0)}, PRED, {7: 0, 9: 2})
    b = frame(GT, {1: (0, 0), 2: (2, 0)}, PRED, {7: 0, 9: 0})
    two = vpq_of([a, b], [2])['per_window']['2']
    assert two['per_class'][2]['TP'] == 1  # 9 is a thing over the window
    assert two['per_class'][0]['FP'] == 0


class _Video:
    """A one-frame video whose ground truth and prediction are the same map."""

    def __init__(self, ids, segments):
        self.video_id, self.ids, self.segments = 'v', np.array(ids), segments

    def load(self):
        return [SegmentFrame(self.ids, dict(self.segments), 'x.png', 'x.json')]


def test_stq_first_listed_thing_is_crowd() -> None:
    """The official STQ numbers segments from 0: a thing listed first becomes crowd."""
    cats = {c: dict(isthing=int(c >= 2)) for c in range(3)}
    thing_first = _Video([[0, 5, 5], [0, 5, 5]], {5: Segment(2, 0, 4)})
    assert stq_labels([f.segments for f in thing_first.load()], 'v') == [{5: 2 << 16}]
    result = evaluate_stq([thing_first], [thing_first], cats)
    # SQ: class 2 IoU 1 (void never counts); AQ: the only tube is crowd -> 0 tubes, AQ 0.
    assert result['SQ'] == 1.0 and result['AQ'] == 0.0 and result['STQ'] == 0.0
    stuff_first = _Video([[1, 5, 5], [1, 5, 5]], {1: Segment(0, 0, 2), 5: Segment(2, 0, 4)})
    assert stq_labels([f.segments for f in stuff_first.load()], 'v') == [{1: 0, 5: (2 << 16) + 1}]
    assert evaluate_stq([stuff_first], [stuff_first], cats)['STQ'] == 1.0


def test_id_generator_and_conversion() -> None:
    cats = vipseg.categories_table()
    generator = IdGenerator(cats)
    car = 48  # shares its colour with the stuff class Playground_slide
    assert generator.get_color(car) != (140, 140, 140)
    assert generator.get_color(0) == (120, 120, 120)  # stuff: always its colour
    assert color2id((11, 200, 200)) == 13158411 and rgb2id(id2rgb(np.array([[6031871]]))) == \
        6031871
    # ceiling (1) written as 2 and as 200 -> one segment; two door instances; void 0
    raw = np.array([[2, 2, 200, 0], [300, 300, 301, 301]])
    (ids, segments), (ids2, segments2) = vipseg.convert_video([('a.png', raw), ('b.png', raw)])
    assert len(segments) == 3 and ids[0, 0] == ids[0, 2] == color2id((180, 120, 120))
    assert [s.category_id for s in segments.values()] == [1, 2, 2]  # smallest raw value first
    assert segments[int(ids[0, 0])].area == 3 and ids[0, 3] == 0
    assert ids[1, 0] != ids[1, 2]
    np.testing.assert_array_equal(ids, ids2)  # a value keeps its id in the video
    with pytest.raises(ValueError, match='12500'):
        vipseg.convert_video([('bad.png', np.array([[12500]]))])


def _load_tool(relative):
    import importlib.util
    path = osp.join(osp.dirname(__file__), '..', '..', relative)
    spec = importlib.util.spec_from_file_location(osp.basename(relative)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def twin(tmp_path_factory):
    """A small synthetic VIPSeg, its converted ground truth and a perfect submission."""
    root = tmp_path_factory.mktemp('vipseg')
    raw_root = str(root / 'raw')
    make_toy_step(raw_root, seed=3, size=(48, 96), train_seqs=1, val_seqs=2, frames=8,
                  layout='vipseg')
    prepare = _load_tool('datasets/prepare_vipseg.py').prepare
    out = str(root / 'VIPSeg_720P')
    counts = prepare(raw_root, out, keep_size=True)
    assert counts == dict(videos=3, frames=24, val_videos=2)
    perfect = str(root / 'perfect')
    videos = []
    for name in vipseg.read_split_list(osp.join(out, 'val.txt')):
        frames = []
        for png in vipseg.list_pngs(osp.join(out, 'panomasks', name)):
            raw = vipseg.read_raw_mask(osp.join(out, 'panomasks', name, png))
            semantic, instance = vipseg.decode_raw(raw, VIPSEG_THING_IDS)
            frames.append((png, semantic, instance))
        videos.append((name, frames))
    vipseg.write_submission(perfect, videos)
    return dict(raw=raw_root, out=out, perfect=perfect, root=root)


def test_perfect_submission_scores_one(twin, tmp_path, capsys) -> None:
    out_json = str(tmp_path / 'vpq.json')
    result = benchmark_main('vpq', [twin['perfect'], '--format', 'vipseg', '--gt-dir',
                                    twin['out'], '--json', out_json, '--no-progress',
                                    '--workers', '1'])
    assert result['ground_truth'] == 'converted'
    assert result['VPQ'] == result['VPQ_th'] == result['VPQ_st'] == 1.0
    saved = json.load(open(out_json))
    assert list(saved['per_window']) == ['1', '2', '4', '6', '8']
    assert [w['k'] for w in saved['per_window'].values()] == [0, 5, 15, 25, 35]
    assert [w['num_windows'] for w in saved['per_window'].values()] == [16, 14, 10, 6, 2]
    # no 9-frame window in 8-frame videos: NaN (null) with a warning, the rest reported
    result = benchmark_main('vpq', [twin['perfect'], '--format', 'vipseg', '--gt-dir',
                                    twin['out'], '--windows', '1,9', '--no-progress',
                                    '--json', out_json])
    saved = json.load(open(out_json))
    assert saved['per_window']['1']['VPQ'] == 1.0 and saved['per_window']['9']['VPQ'] is None
    assert saved['VPQ'] is None and math.isnan(result['VPQ'])
    assert 'window length 9: no video has 9 frames' in capsys.readouterr().err
    stq = benchmark_main('stq', [twin['perfect'], '--format', 'vipseg', '--gt-dir', twin['out'],
                                 '--no-progress'])
    assert stq['STQ'] == stq['AQ'] == stq['SQ'] == 1.0
    assert list(stq['per_video']) == ['toy_0001', 'toy_0002']


def _perturbed(twin, dest):
    """The perfect submission with a track switch, a merged pair and a wrong class."""
    src = twin['perfect']
    pred = json.load(open(osp.join(src, 'pred.json')))
    for video in pred['annotations']:
        for index, entry in enumerate(video['annotations']):
            path = osp.join(src, 'pan_pred', video['video_id'], entry['file_name'])
            ids = rgb2id(np.array(Image.open(path)))
            things = sorted({s['id'] for s in entry['segments_info']
                             if s['category_id'] in VIPSEG_THING_IDS})
            if index >= 2 and things:  # the first thing track switches id from frame 2 on
                ids[ids == things[0]] = things[0] + 777
            if len(things) > 2:  # two tracks merged
                ids[ids == things[2]] = things[1]
            stuff = [s['id'] for s in entry['segments_info']
                     if s['category_id'] not in VIPSEG_THING_IDS]
            ids[ids == stuff[0]] = (29 << 16)  # one stuff segment labelled sky (28)
            out_png = osp.join(dest, 'pan_pred', video['video_id'], entry['file_name'])
            os.makedirs(osp.dirname(out_png), exist_ok=True)
            Image.fromarray(id2rgb(ids)).save(out_png)
            entry['segments_info'] = vipseg.frame_segments(ids)
    json.dump(pred, open(osp.join(dest, 'pred.json'), 'w'))
    return dest


def test_raw_and_converted_ground_truth_agree(twin, tmp_path) -> None:
    submit = _perturbed(twin, str(tmp_path / 'sub'))
    gt, kind = vipseg.gt_videos(twin['out'])
    raw_gt, raw_kind = vipseg.gt_videos(twin['raw'])  # panomasks/ + val.txt
    assert (kind, raw_kind) == ('converted', 'raw')
    cats = vipseg.categories_table()
    preds = vipseg.pair_submission(submit, gt)
    a = evaluate_vpq(gt, preds, cats, [1, 2, 4])
    b = evaluate_vpq(raw_gt, vipseg.pair_submission(submit, raw_gt), cats, [1, 2, 4], workers=2)
    assert a['per_window'] == b['per_window'] and 0.2 < a['VPQ'] < 0.95
    assert a['per_window']['1']['VPQ_th'] > a['per_window']['4']['VPQ_th']  # the switch
    s1 = evaluate_stq(gt, preds, cats)
    s2 = evaluate_stq(raw_gt, vipseg.pair_submission(submit, raw_gt), cats, workers=2)
    assert to_jsonable(s1) == to_jsonable(s2)
    assert 0.2 < s1['STQ'] < 0.95 and s1['AQ'] < 1.0 and s1['SQ'] < 1.0


def _copy_submission(src, dest):
    import shutil
    shutil.copytree(src, dest)
    return dest


def _edit_json(submit, edit):
    path = osp.join(submit, 'pred.json')
    data = json.load(open(path))
    edit(data)
    json.dump(data, open(path, 'w'))


@pytest.mark.parametrize('case, match', [
    ('missing_video', 'toy_0002 of the ground truth is missing'),
    ('duplicate_video', 'listed twice'),
    ('frame_count', 'has 7 frame entries, the ground truth 8'),
    ('listed_zero', 'lists segment id 0'),
    ('unlisted_id', 'is in the PNG but not in'),
    ('absent_id', 'listed but absent'),
    ('bad_category', 'category 124'),
    ('palette_png', 'expected an 8-bit RGB'),
    ('wrong_size', 'differs from the ground truth'),
    ('missing_png', 'does not exist'),
])
def test_bad_submissions_are_named_errors(twin, tmp_path, case, match) -> None:
    submit = _copy_submission(twin['perfect'], str(tmp_path / 'sub'))
    png = osp.join(submit, 'pan_pred', 'toy_0001', '00001.png')
    if case == 'missing_video':
        _edit_json(submit, lambda d: d['annotations'].pop())
    elif case == 'duplicate_video':
        _edit_json(submit, lambda d: d['annotations'].append(d['annotations'][0]))
    elif case == 'frame_count':
        _edit_json(submit, lambda d: d['annotations'][1]['annotations'].pop())
    elif case == 'listed_zero':
        _edit_json(submit, lambda d: d['annotations'][0]['annotations'][1]['segments_info']
                   .append(dict(id=0, category_id=0)))
    elif case == 'unlisted_id':
        _edit_json(submit, lambda d: d['annotations'][0]['annotations'][1]['segments_info']
                   .pop(0))
    elif case == 'absent_id':
        _edit_json(submit, lambda d: d['annotations'][0]['annotations'][1]['segments_info']
                   .append(dict(id=12345, category_id=0)))
    elif case == 'bad_category':
        _edit_json(submit, lambda d: d['annotations'][0]['annotations'][1]['segments_info'][0]
                   .update(category_id=124))
    elif case == 'palette_png':
        Image.open(png).convert('P').save(png)
    elif case == 'wrong_size':
        Image.open(png).crop((0, 0, 40, 40)).save(png)
    elif case == 'missing_png':
        os.remove(png)
    args = [submit, '--format', 'vipseg', '--gt-dir', twin['out'], '--no-progress']
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        benchmark_main('vpq', args)
    if case == 'unlisted_id':  # STQ reproduces the official code: void there, with a warning
        result = benchmark_main('stq', args)
        assert result['STQ'] < 1.0
    elif case != 'absent_id':
        with pytest.raises((ValueError, FileNotFoundError), match=match):
            benchmark_main('stq', args)


def test_tools_write_nothing_but_the_json(twin, tmp_path) -> None:
    before = sorted(os.walk(twin['root']))
    benchmark_main('vpq', [twin['perfect'], '--format', 'vipseg', '--gt-dir', twin['out'],
                           '--no-progress', '--json', str(tmp_path / 'a.json')])
    assert sorted(os.walk(twin['root'])) == before


def test_submission_from_results_layout(twin, tmp_path) -> None:
    """Our results layout -> official submission: the perfect results score 1."""
    from vseg.layouts import get_layout
    results = str(tmp_path / 'results')
    layout = get_layout('knet')
    for seq, name in enumerate(vipseg.read_split_list(osp.join(twin['out'], 'val.txt'))):
        folder = osp.join(twin['out'], 'panomasks', name)
        for frame, png in enumerate(vipseg.list_pngs(folder)):
            semantic, instance = vipseg.decode_raw(vipseg.read_raw_mask(osp.join(folder, png)),
                                                   VIPSEG_THING_IDS)
            layout.write_frame(results, seq, frame, semantic, instance)
    submit = str(tmp_path / 'submit')
    _load_tool('tools/make_submission.py').main([results, '--format', 'vipseg', '--gt-dir',
                                                 twin['out'], '--out', submit])
    result = benchmark_main('vpq', [submit, '--format', 'vipseg', '--gt-dir', twin['out'],
                                    '--no-progress'])
    assert result['VPQ'] == 1.0


def test_raw_segments_match_the_official_conversion() -> None:
    raw = np.array([[2, 3, 200, 0], [300, 300, 301, 3]])  # 3: door written as stuff
    (official, segs), = vipseg.convert_video([('a.png', raw)])
    ids, segments = vipseg.raw_segments(raw)
    pairs = set(zip(official.ravel().tolist(), ids.ravel().tolist()))
    assert len(pairs) == len(set(official.ravel().tolist())) == len(set(ids.ravel().tolist()))
    assert [s.category_id for s in segments.values()] == [s.category_id for s in segs.values()]
    assert [s.area for s in segments.values()] == [s.area for s in segs.values()]


def test_vipseg_dataset_reads_the_twin_and_names_bad_files(twin, tmp_path) -> None:
    from video_knet.datasets import VIPSegDataset
    pipeline = [dict(type='LoadFrames'), dict(type='LoadPanopticAnnotations')]
    data = VIPSegDataset(data_root=twin['out'], split='val', pipeline=pipeline)
    assert len(data) == 16 and data[0]['seq_name'] == 'toy_0001' and data[0]['seq_id'] == 0
    sample = data[0]
    car = VIPSEG_THING_IDS.index(48)
    assert car in sample['gt_labels'].tolist()  # model label of car: things first
    import shutil
    bad = str(tmp_path / 'bad')
    shutil.copytree(twin['out'], bad)
    os.remove(osp.join(bad, 'panomasks', 'toy_0001', '00003.png'))
    with pytest.raises(FileNotFoundError, match='00003.png: missing mask'):
        VIPSegDataset(data_root=bad, split='val', pipeline=pipeline)
    shutil.rmtree(bad)
    shutil.copytree(twin['out'], bad)
    image = osp.join(bad, 'images', 'toy_0002', '00004.jpg')
    Image.open(image).resize((40, 30)).save(image)
    with pytest.raises(ValueError, match='00004.jpg'):
        VIPSegDataset(data_root=bad, split='val', pipeline=pipeline)
