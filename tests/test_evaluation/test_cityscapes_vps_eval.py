"""The official Cityscapes-VPS VPQ: chunking, the ground-truth conversion by hand, the tools end to
end on the synthetic twin (converted and raw ground truth) and the bad inputs as named errors."""
import filecmp
import importlib.util
import json
import math
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from eval_helpers import assert_same_vpq
from PIL import Image

from knet.datasets.toy_step import make_toy_step
from vseg.formats import cityscapes_vps as vps
from vseg.formats.panoptic_video import color2id, id2rgb, rgb2id
from vseg.metrics.benchmark_eval import BENCHMARKS, evaluate_vpq
from vseg.metrics.cli import benchmark_main

SIZE = (64, 128)
COLOR = {name: c[4] for name, c in zip([c[0] for c in vps.CATEGORIES], vps.CATEGORIES)}


def _frames(clip_lengths):
    frames = []
    for clip, length in enumerate(clip_lengths):
        frames += [vps.GTFrame(f'{clip:04d}_{5 * t + 4:04d}_c_000000_{t:06d}', 'x.png', '', [],
                               'gt.json') for t in range(length)]
    return frames


def test_chunks_by_position_as_array_split() -> None:
    assert vps.chunk_bounds(12) == [(0, 6), (6, 12)]
    assert vps.chunk_bounds(17) == [(0, 9), (9, 17)]  # 17 // 6 = 2 chunks: 9 + 8
    assert vps.chunk_bounds(13) == [(0, 7), (7, 13)]
    assert vps.chunk_bounds(6) == [(0, 6)] and vps.chunk_bounds(11) == [(0, 11)]
    assert [b - a for a, b in vps.chunk_bounds(35)] == [7, 7, 7, 7, 7]  # 35 // 6 = 5 chunks
    for n in range(6, 80):  # the sizes of NumPy's array_split (of an index array: not ragged)
        assert [b - a for a, b in vps.chunk_bounds(n)] == \
            [len(part) for part in np.array_split(np.arange(n), n // 6)]
    with pytest.raises(ValueError, match='gt.json: 5 labelled frames in all, fewer than 6'):
        vps.chunk_bounds(5, where='gt.json')
    # clips of 3, 6 and 8 frames: the first chunk straddles clips 0000 and 0001
    videos, warnings = vps.make_chunks(_frames([3, 6, 8]), 'gt.json')
    assert [len(v.frames) for v in videos] == [9, 8]
    assert videos[0].clips == ['0000', '0001'] and videos[1].clips == ['0002']
    assert len(warnings) == 1 and 'clips 0000, 0001' in warnings[0] and 'chunk 0' in warnings[0]
    assert vps.make_chunks(_frames([6, 6]), 'gt.json')[1] == []


def _rgb(names):
    return np.array([[COLOR.get(n, (0, 0, 0)) for n in row] for row in names], dtype=np.uint8)


def test_conversion_step_one_by_hand() -> None:
    cls_rgb = _rgb([['road', 'road', 'car', 'car', 'person'],
                    ['car', 'person', 'person', 'bicycle', 'bicycle'],
                    ['sky', 'sky', 'road', 'void', 'car']])
    inst = np.array([[7, 26001, 26001, 26001, 24000],  # road pixel inside car instance 26001
                     [26002, 26002, 24000, 33, 33],  # 26002: person vs car tie; 33: crowd
                     [23, 24005, 24005, 0, 26]])  # 24005: road and sky only -> skipped
    pan = vps.panoptic_values(cls_rgb, inst)
    car, person = color2id(COLOR['car']), color2id(COLOR['person'])
    assert person < car  # so the tie of 26002 goes to person
    np.testing.assert_array_equal(pan, [[0, 13001, 13001, 13001, 11000],
                                        [11002, 11002, 11000, 255, 255],
                                        [10, 10, 0, 255, 255]])
    # the object number is taken modulo 1000 whatever the inst class: 24001 painted car merges
    # with 26001
    merged = vps.panoptic_values(_rgb([['car', 'car']]), np.array([[24001, 26001]]))
    np.testing.assert_array_equal(merged, [[13001, 13001]])
    np.testing.assert_array_equal(vps.labelmap(cls_rgb)[1], [13, 11, 11, 18, 18])
    with pytest.raises(ValueError, match='differ in size'):
        vps.panoptic_values(cls_rgb, inst[:2], 'a.png')


def test_conversion_step_two_ids() -> None:
    labeler = vps.VideoLabeler()
    pan = np.array([[0, 0, 13000, 13001], [10, 255, 11000, 11000]])
    ids_a, segs_a = labeler.label('0000_0004_c_0_4', pan)
    ids_b, segs_b = labeler.label('0000_0009_c_0_9', pan)
    ids_c, segs_c = labeler.label('0001_0004_c_1_4', pan)
    road, sky = color2id(COLOR['road']), color2id(COLOR['sky'])
    assert list(segs_a) == [road, sky, int(ids_a[1, 2]), int(ids_a[0, 2]), int(ids_a[0, 3])]
    assert [s.category_id for s in segs_a.values()] == [0, 10, 11, 13, 13]
    assert all(s.iscrowd == 0 for s in segs_a.values()) and segs_a[road].area == 2
    assert ids_a[0, 2] == color2id(COLOR['car'])  # the first car gets its category colour
    assert ids_a[1, 1] == 0  # 255 is void
    np.testing.assert_array_equal(ids_a, ids_b)  # same clip: same ids
    assert ids_c[0, 0] == road and ids_c[1, 0] == sky  # stuff: one id in the whole split
    assert not set(ids_c[:, 2:].ravel().tolist()) & set(ids_a[:, 2:].ravel().tolist())
    # the in-memory conversion: the same segments with ids of its own
    ids_p, segs_p = vps.partition_ids(pan, 0)
    ids_q, _ = vps.partition_ids(pan, 1)
    assert [(s.category_id, s.area) for s in segs_p.values()] == \
        [(s.category_id, s.area) for s in segs_a.values()]
    assert ids_p[0, 0] == ids_q[0, 0] == 1 and ids_p[0, 2] != ids_q[0, 2]
    remap = dict(zip(ids_a.ravel().tolist(), ids_p.ravel().tolist()))
    assert len(set(remap.values())) == len(remap)


def _load_tool(relative):
    path = osp.join(osp.dirname(__file__), '..', '..', relative)
    spec = importlib.util.spec_from_file_location(osp.basename(relative)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_perfect(gt_root, dest):
    data = json.load(open(osp.join(gt_root, vps.gt_json_name())))
    os.makedirs(osp.join(dest, 'pan_pred'))
    for image, annotation in zip(data['images'], data['annotations']):
        shutil.copy(osp.join(gt_root, 'val', vps.CONVERTED_DIR, annotation['file_name']),
                    osp.join(dest, 'pan_pred', image['id'] + '.png'))
    entries = [dict(segments_info=a['segments_info']) for a in data['annotations']]
    json.dump(dict(annotations=entries), open(osp.join(dest, 'pred.json'), 'w'))
    return dest


@pytest.fixture(scope='module')
def twin(tmp_path_factory):
    """Two 30-frame clips of the synthetic Cityscapes-VPS, converted, and a perfect
    submission."""
    root = tmp_path_factory.mktemp('cityscapes_vps')
    raw = str(root / 'raw')
    counts = make_toy_step(raw, seed=5, size=SIZE, train_seqs=0, val_seqs=2, frames=30,
                           layout='cityscapes-vps')
    assert counts == {'train': 0, 'val': 12}
    out = str(root / 'converted')
    prepare = _load_tool('datasets/prepare_cityscapes_vps.py').prepare
    assert prepare(raw, out) == dict(frames=12, clips=2)
    return dict(raw=raw, out=out, perfect=_write_perfect(out, str(root / 'perfect')),
                root=root)


def test_twin_layout_and_conversion(twin, tmp_path) -> None:
    names = sorted(os.listdir(osp.join(twin['raw'], 'val', 'cls')))
    assert names[:4] == ['0000_0004_toycity_000000_000004_final_mask.png',
                         '0000_0009_toycity_000000_000009_final_mask.png',
                         '0000_0014_toycity_000000_000014_final_mask.png',
                         '0000_0019_toycity_000000_000019_gtFine_color.png'] and len(names) == 12
    assert len(os.listdir(osp.join(twin['raw'], 'val', 'img_all'))) == 60
    assert osp.isfile(osp.join(twin['raw'], 'val', 'img_all',
                               '0001_0019_toycity_000001_000019_leftImg8bit.png'))
    inst_name = '0000_0019_toycity_000000_000019_gtFine_instanceIds.png'
    inst = np.array(Image.open(osp.join(twin['raw'], 'val', 'inst', inst_name)))
    cls_image = Image.open(osp.join(twin['raw'], 'val', 'cls', names[3]))
    assert cls_image.mode == 'RGBA' and inst.dtype == np.uint16
    assert {26000, 24000, 7, 23} <= set(np.unique(inst).tolist())
    cls_rgb = np.array(cls_image)[..., :3]
    bicycle = (rgb2id(cls_rgb) == color2id(COLOR['bicycle']))
    assert bicycle.any() and set(np.unique(inst[bicycle]).tolist()) == {33000}  # an instance
    crowd_rgb = np.array(Image.open(osp.join(twin['raw'], 'val', 'cls', names[0])))[..., :3]
    crowd_inst = np.array(Image.open(osp.join(twin['raw'], 'val', 'inst', names[0])))
    crowd = (rgb2id(crowd_rgb) == color2id(COLOR['bicycle']))
    assert crowd.any() and set(np.unique(crowd_inst[crowd]).tolist()) == {33}  # t = 4: crowd
    # converted: crowd is void, stuff ids split-wide, thing ids new per clip
    data = json.load(open(osp.join(twin['out'], vps.gt_json_name())))

    def converted(name):
        return rgb2id(np.array(Image.open(osp.join(twin['out'], 'val', vps.CONVERTED_DIR,
                                                   name))))

    assert (converted(names[0])[crowd] == 0).all()
    bicycle_ids = np.unique(converted(names[3])[bicycle]).tolist()
    assert len(bicycle_ids) == 1 and bicycle_ids[0] != 0
    assert {s['category_id'] for s in data['annotations'][3]['segments_info']
            if s['id'] == bicycle_ids[0]} == {18}
    first, other = data['annotations'][0], data['annotations'][6]
    assert first['image_id'] == '0000_0004_toycity_000000_000004'
    assert data['images'][3]['file_name'].endswith('_leftImg8bit.png')
    stuff = {s['category_id']: s['id'] for s in first['segments_info'] if s['category_id'] < 11}
    stuff_other = {s['category_id']: s['id'] for s in other['segments_info']
                   if s['category_id'] < 11}
    assert stuff == stuff_other and stuff[0] == color2id(COLOR['road'])
    things = {s['id'] for s in first['segments_info'] if s['category_id'] >= 11}
    assert things and not things & {s['id'] for s in other['segments_info']}
    assert all(s['iscrowd'] == 0 for a in data['annotations'] for s in a['segments_info'])
    # the bicycle is a segment exactly on the labelled frames t = 9, 19, 29 of each clip
    with_bicycle = [a['image_id'] for a in data['annotations']
                    if 18 in {s['category_id'] for s in a['segments_info']}]
    assert with_bicycle == [a['image_id'] for a in data['annotations']
                            if int(a['image_id'].split('_')[1]) in (9, 19, 29)]
    # same arguments, same bytes
    again = str(tmp_path / 'again')
    make_toy_step(again, seed=5, size=SIZE, train_seqs=0, val_seqs=2, frames=30,
                  layout='cityscapes-vps')
    for folder in ('cls', 'inst', 'img_all'):
        files = sorted(os.listdir(osp.join(again, 'val', folder)))
        match, mismatch, errors = filecmp.cmpfiles(osp.join(twin['raw'], 'val', folder),
                                                   osp.join(again, 'val', folder), files,
                                                   shallow=False)
        assert not mismatch and not errors


def test_perfect_submission_scores_one(twin, tmp_path, capsys) -> None:
    assert BENCHMARKS['cityscapes-vps'].windows == (1, 2, 3, 4)
    out_json = str(tmp_path / 'vpq.json')
    for gt_dir, kind in ((twin['out'], 'converted'), (twin['raw'], 'raw')):
        result = benchmark_main('vpq', [twin['perfect'], '--format', 'cityscapes-vps',
                                        '--gt-dir', gt_dir, '--json', out_json, '--no-progress',
                                        '--workers', '1'])
        assert result['ground_truth'] == kind and result['num_videos'] == 2
        assert result['VPQ'] == result['VPQ_th'] == result['VPQ_st'] == 1.0
        saved = json.load(open(out_json))
        assert list(saved['per_window']) == ['1', '2', '3', '4']
        assert [w['k'] for w in saved['per_window'].values()] == [0, 5, 10, 15]
        assert [w['num_windows'] for w in saved['per_window'].values()] == [12, 10, 8, 6]
    assert 'warning' not in capsys.readouterr().err
    # no 7-frame window in 6-frame chunks: NaN (null) with a warning, the rest reported
    result = benchmark_main('vpq', [twin['perfect'], '--format', 'cityscapes-vps', '--gt-dir',
                                    twin['out'], '--windows', '1,7', '--no-progress', '--json',
                                    out_json])
    saved = json.load(open(out_json))
    assert saved['per_window']['1']['VPQ'] == 1.0 and saved['per_window']['7']['VPQ'] is None
    assert saved['VPQ'] is None and math.isnan(result['VPQ'])
    assert 'window length 7: no video has 7 frames' in capsys.readouterr().err


def _perturbed(twin, dest):
    """The perfect submission with a track switch, a merge, a wrong stuff class and a bicycle
    predicted on every bicycle region (crowd, so void, on t = 4, 14, 24; an instance on the
    other labelled frames)."""
    src = twin['perfect']
    pred = json.load(open(osp.join(src, 'pred.json')))
    gt = json.load(open(osp.join(twin['out'], vps.gt_json_name())))
    os.makedirs(osp.join(dest, 'pan_pred'))
    for index, (image, entry) in enumerate(zip(gt['images'], pred['annotations'])):
        ids = rgb2id(np.array(Image.open(osp.join(src, 'pan_pred', image['id'] + '.png'))))
        category = {s['id']: s['category_id'] for s in entry['segments_info']}
        cars = sorted(i for i, c in category.items() if c == 13)
        persons = sorted(i for i, c in category.items() if c == 11)
        first_car = cars[0] + 777 if index % 6 >= 2 and cars else (cars or [0])[0]
        if cars:  # the first car switches track from the 3rd frame of every clip on
            ids[ids == cars[0]] = first_car
            category[first_car] = 13
        if len(cars) > 1 and index % 2:  # the second car merged into it in every second frame
            ids[ids == cars[1]] = first_car
        for person in persons:  # persons labelled riders
            category[person] = 12
        sky = next(i for i, c in category.items() if c == 10)
        category[sky] = 9  # sky labelled terrain
        cls_name = image['file_name'].replace('_newImg8bit', '_final_mask').replace(
            '_leftImg8bit', '_gtFine_color')
        cls_rgb = np.array(Image.open(osp.join(twin['raw'], 'val', 'cls', cls_name)))[..., :3]
        ids[rgb2id(cls_rgb) == color2id(COLOR['bicycle'])] = 4242  # void or the bicycle
        category[4242] = 18
        present = set(np.unique(ids).tolist()) - {0}
        entry['segments_info'] = [dict(id=i, category_id=category[i]) for i in sorted(present)]
        Image.fromarray(id2rgb(ids)).save(osp.join(dest, 'pan_pred', image['id'] + '.png'))
    json.dump(pred, open(osp.join(dest, 'pred.json'), 'w'))
    return dest


def test_raw_and_converted_ground_truth_agree(twin, tmp_path) -> None:
    submit = _perturbed(twin, str(tmp_path / 'sub'))
    gt, cats, kind, _ = vps.gt_videos(twin['out'])
    raw_gt, raw_cats, raw_kind, _ = vps.gt_videos(twin['raw'])
    assert (kind, raw_kind) == ('converted', 'raw')
    assert [c['name'] for c in cats.values()] == [c['name'] for c in raw_cats.values()]
    a = evaluate_vpq(gt, vps.pair_submission(submit, gt), cats, [1, 2, 3, 4])
    b = evaluate_vpq(raw_gt, vps.pair_submission(submit, raw_gt), raw_cats, [1, 2, 3, 4],
                     workers=2)
    assert_same_vpq(a, b)
    assert 0.2 < a['VPQ'] < 0.95
    one, four = a['per_window']['1'], a['per_window']['4']
    # the bicycle on crowd (void) is no FP; it is the GT bicycle on 3 frames of each clip
    assert one['per_class'][18]['FP'] == 0 and one['per_class'][18]['TP'] == 6
    assert one['per_class'][18]['FN'] == 0
    assert one['per_class'][10]['FN'] == 12 and one['per_class'][9]['FP'] == 12
    assert one['VPQ_th'] > four['VPQ_th']  # the track switch
    assert one['per_class'][11]['TP'] == 0 and one['per_class'][12]['FP'] > 0


def test_chunk_spanning_clips_is_a_warning(tmp_path, capsys) -> None:
    raw = str(tmp_path / 'raw')
    make_toy_step(raw, seed=1, size=SIZE, train_seqs=0, val_seqs=2, frames=20,
                  layout='cityscapes-vps')  # 4 labelled frames per clip: one chunk of 8
    videos, _, kind, warnings = vps.gt_videos(raw)
    assert kind == 'raw' and [len(v.frames) for v in videos] == [8]
    assert len(warnings) == 1 and 'clips 0000, 0001' in warnings[0]
    out = str(tmp_path / 'out')
    _load_tool('datasets/prepare_cityscapes_vps.py').prepare(raw, out)
    submit = _write_perfect(out, str(tmp_path / 'sub'))
    result = benchmark_main('vpq', [submit, '--format', 'cityscapes-vps', '--gt-dir', out,
                                    '--no-progress'])
    assert result['VPQ'] == 1.0 and result['per_window']['4']['num_windows'] == 5
    assert 'warning:' in capsys.readouterr().err
    with pytest.raises(ValueError, match='frames >= 5'):
        make_toy_step(str(tmp_path / 'short'), frames=4, layout='cityscapes-vps')


def _edit(path, edit):
    data = json.load(open(path))
    edit(data)
    json.dump(data, open(path, 'w'))


def _swap_images(data):
    data['images'][1], data['images'][2] = data['images'][2], data['images'][1]
    data['annotations'][1], data['annotations'][2] = data['annotations'][2], \
        data['annotations'][1]


def _keep_five(data):
    data['images'], data['annotations'] = data['images'][:5], data['annotations'][:5]


@pytest.mark.parametrize('case, match', [
    ('fewer_entries', 'pred.json: 11 entries, but the ground truth has 12 images'),
    ('more_entries', 'pred.json: 13 entries, but the ground truth has 12 images'),
    ('unsorted_images', 'panoptic_gt_val_city_vps.json: the images are not in sorted'),
    ('annotations_out_of_step', 'panoptic_gt_val_city_vps.json: annotation 1 is for image'),
    ('annotation_count', 'panoptic_gt_val_city_vps.json: 12 images but 11 annotations'),
    ('fewer_than_six', 'panoptic_gt_val_city_vps.json: 5 labelled frames in all'),
    ('missing_png', '0000_0009_toycity_000000_000009.png: file does not exist'),
    ('palette_png', 'expected an 8-bit RGB'),
    ('wrong_size', 'differs from the ground truth'),
    ('unlisted_id', 'is in the PNG but not in'),
    ('bad_category', 'category 19'),
])
def test_bad_inputs_are_named_errors(twin, tmp_path, case, match) -> None:
    submit = shutil.copytree(twin['perfect'], str(tmp_path / 'sub'))
    gt_dir = shutil.copytree(twin['out'], str(tmp_path / 'gt'))
    pred_json, gt_json = osp.join(submit, 'pred.json'), osp.join(gt_dir, vps.gt_json_name())
    png = osp.join(submit, 'pan_pred', '0000_0009_toycity_000000_000009.png')
    if case == 'fewer_entries':
        _edit(pred_json, lambda d: d['annotations'].pop())
    elif case == 'more_entries':
        _edit(pred_json, lambda d: d['annotations'].append(d['annotations'][0]))
    elif case == 'unsorted_images':
        _edit(gt_json, _swap_images)
    elif case == 'annotations_out_of_step':
        _edit(gt_json, lambda d: d['annotations'].insert(1, d['annotations'].pop(2)))
    elif case == 'annotation_count':
        _edit(gt_json, lambda d: d['annotations'].pop())
    elif case == 'fewer_than_six':
        _edit(gt_json, _keep_five)
    elif case == 'missing_png':
        os.remove(png)
    elif case == 'palette_png':
        Image.open(png).convert('P').save(png)
    elif case == 'wrong_size':
        Image.open(png).crop((0, 0, 40, 40)).save(png)
    elif case == 'unlisted_id':
        _edit(pred_json, lambda d: d['annotations'][1]['segments_info'].pop(0))
    elif case == 'bad_category':
        _edit(pred_json, lambda d: d['annotations'][1]['segments_info'][0].update(category_id=19))
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        benchmark_main('vpq', [submit, '--format', 'cityscapes-vps', '--gt-dir', gt_dir,
                               '--no-progress'])


def test_raw_maps_that_do_not_pair_are_errors(twin, tmp_path) -> None:
    root = str(tmp_path / 'raw')
    os.makedirs(osp.join(root, 'val'))
    for folder in ('cls', 'inst'):
        shutil.copytree(osp.join(twin['raw'], 'val', folder), osp.join(root, 'val', folder))
    inst = osp.join(root, 'val', 'inst', '0001_0004_toycity_000001_000004_final_mask.png')
    os.rename(inst, inst.replace('0001_0004', '0001_0005'))
    with pytest.raises(ValueError, match='cls/0001_0004_toycity_000001_000004_final_mask.png: '
                                         'no file of image 0001_0004_toycity_000001_000004'):
        vps.gt_videos(root)
    os.remove(osp.join(root, 'val', 'cls', '0001_0004_toycity_000001_000004_final_mask.png'))
    with pytest.raises(ValueError, match='inst/0001_0005_toycity_000001_000004_final_mask.png'):
        vps.raw_pairs(root)
    with pytest.raises(FileNotFoundError, match='no Cityscapes-VPS ground truth'):
        vps.gt_videos(str(tmp_path / 'empty'))
    prepare = _load_tool('datasets/prepare_cityscapes_vps.py').prepare
    with pytest.raises(FileExistsError, match='refusing to write into it'):
        prepare(twin['raw'], twin['raw'])  # never writes into the inputs


def test_tools_write_nothing_but_the_json(twin, tmp_path) -> None:
    before = sorted(os.walk(twin['root']))
    benchmark_main('vpq', [twin['perfect'], '--format', 'cityscapes-vps', '--gt-dir',
                           twin['raw'], '--no-progress', '--json', str(tmp_path / 'a.json')])
    assert sorted(os.walk(twin['root'])) == before
