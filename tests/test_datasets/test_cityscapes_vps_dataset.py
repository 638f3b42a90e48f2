"""CityscapesVPSDataset and the 'cityscapes-vps' annotation format on the synthetic twin:
counts, ordering, keys, decoded values against the raw maps, bad inputs as named errors, and the
dataset left untouched."""
import hashlib
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image

import video_knet  # noqa: F401  (registers the datasets)
from knet.datasets.toy_step import make_toy_step
from video_knet.datasets import CityscapesVPSDataset
from vseg.formats import cityscapes_vps as vps
from vseg.formats import get_format
from vseg.formats.panoptic_video import color2id, rgb2id

SIZE = (64, 128)
COLOR = {c[0]: c[4] for c in vps.CATEGORIES}
FORMAT = get_format('cityscapes-vps')


@pytest.fixture(scope='module')
def twin(tmp_path_factory) -> str:
    """Two train clips (0000, 0001) and two val clips (0002, 0003) of 30 raw frames."""
    root = str(tmp_path_factory.mktemp('cityscapes_vps') / 'twin')
    assert make_toy_step(root, seed=3, size=SIZE, train_seqs=2, val_seqs=2, frames=30,
                         layout='cityscapes-vps') == {'train': 12, 'val': 12}
    return root


def _copy(twin: str, tmp_path) -> str:
    dest = str(tmp_path / 'copy')
    shutil.copytree(twin, dest)
    return dest


def _digest(root: str) -> dict:
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            out[path] = (os.stat(path).st_mtime_ns, hashlib.sha1(open(path, 'rb').read())
                         .hexdigest())
    return out


def test_frames_keys_and_order(twin) -> None:
    before = _digest(twin)
    val = CityscapesVPSDataset(data_root=twin, split='val', test_mode=True, validate='full')
    infos = [val.get_data_info(i) for i in range(len(val))]
    assert len(val) == 12
    assert [(i['seq_id'], i['frame_id']) for i in infos] == \
        [(clip, f) for clip in (2, 3) for f in range(6)]
    assert [i['seq_name'] for i in infos[::6]] == ['0002', '0003']
    first, twentieth = infos[0], infos[3]
    assert first['image_id'] == '0002_0004_toycity_000002_000004'
    assert first['img_path'].endswith('val/img_all/0002_0004_toycity_000002_000004'
                                      '_newImg8bit.png')
    assert first['seg_path'].endswith('val/cls/0002_0004_toycity_000002_000004_final_mask.png')
    assert first['ins_path'].endswith('val/inst/0002_0004_toycity_000002_000004_final_mask.png')
    assert twentieth['img_path'].endswith('_000019_leftImg8bit.png')  # the original frame
    assert twentieth['seg_path'].endswith('_gtFine_color.png')
    assert twentieth['ins_path'].endswith('_gtFine_instanceIds.png')
    assert first['seg_format'] == 'cityscapes-vps' and first['num_classes'] == 19
    assert first['thing_ids'] == tuple(range(11, 19))
    assert val.metainfo['classes'][11] == 'person' and val.benchmark == 'cityscapes-vps'
    # the format lists the same frames under the same keys (offline evaluation)
    found = FORMAT.find_frames(twin)
    assert list(found) == [(i['seq_id'], i['frame_id']) for i in infos]
    assert [f['seg_path'] for f in found.values()] == [i['seg_path'] for i in infos]
    assert FORMAT.find_frames(osp.join(twin, 'val')) == found  # the split folder itself
    # training clips: one reference among the neighbouring labelled frames, drawn per fetch
    train = CityscapesVPSDataset(data_root=twin, split='train', ref_seq_index=[-1, 1],
                                 resample_each_epoch=True)
    assert len(train) == 12
    np.random.seed(0)
    for index in range(len(train)):
        clip = train.get_data_info(index)
        key, ref = clip['frames']
        assert ref['seq_id'] == key['seq_id'] and abs(ref['frame_id'] - key['frame_id']) == 1
        assert clip['ref_offsets'][0] == ref['frame_id'] - key['frame_id']
    assert _digest(twin) == before  # nothing written, nothing touched


def test_all_frames_mode(twin) -> None:
    """frames='all': every raw frame in (clip, FFFF) order, the labelled ones (FFFF = 4, 9,
    ..., 29) with the maps of the labelled-frame dataset and the others without."""
    labelled = CityscapesVPSDataset(data_root=twin, split='val', test_mode=True)
    every = CityscapesVPSDataset(data_root=twin, split='val', test_mode=True, frames='all',
                                 validate='full')
    infos = [every.get_data_info(i) for i in range(len(every))]
    assert len(every) == 60 and every.submission_options == dict(frames='all')
    assert labelled.submission_options == dict(frames='labelled')
    assert [(i['seq_id'], i['frame_id']) for i in infos] == \
        [(clip, f) for clip in (2, 3) for f in range(30)]
    assert [i['image_id'].split('_')[1] for i in infos[:30]] == [f'{f:04d}' for f in range(30)]
    with_maps = [i for i in infos if i['seg_path']]
    assert [(i['seq_id'], i['frame_id']) for i in with_maps] == \
        [(clip, 5 * r + 4) for clip in (2, 3) for r in range(6)]
    expected = [labelled.get_data_info(i) for i in range(len(labelled))]
    assert [(i['img_path'], i['seg_path'], i['ins_path']) for i in with_maps] == \
        [(i['img_path'], i['seg_path'], i['ins_path']) for i in expected]
    assert all(i['ins_path'] is None for i in infos if not i['seg_path'])
    with pytest.raises(ValueError, match="frames='all' lists unlabelled frames"):
        CityscapesVPSDataset(data_root=twin, split='train', frames='all', ref_seq_index=[-1, 1])
    with pytest.raises(ValueError, match=r"frames='6': expected one of \['labelled', 'all'\]"):
        CityscapesVPSDataset(data_root=twin, split='val', frames='6')


def test_decode_against_the_raw_maps(twin) -> None:
    val = CityscapesVPSDataset(data_root=twin, split='val', test_mode=True)
    for index in (0, 3):  # a new frame (RGB cls) and the 20th frame (RGBA cls)
        info = val.get_data_info(index)
        cls_rgb = np.array(Image.open(info['seg_path']))[..., :3]
        inst = np.array(Image.open(info['ins_path'])).astype(np.int64)
        semantic, instance = FORMAT.decode(FORMAT.files_of(info), info['thing_ids'])
        assert semantic.dtype == np.uint8 and instance.dtype == np.int32
        # by hand: the class of a colour; things are inst >= 1000 with instance k % 1000 + 1;
        # the bicycle is crowd (its labelId 33, becomes void) on the 1st labelled frame (t = 4)
        # and one instance (33000) on the 4th (t = 19)
        codes = rgb2id(cls_rgb)
        expected = np.full(codes.shape, 255)
        for train_id, category in enumerate(vps.CATEGORIES):
            expected[codes == color2id(category[4])] = train_id
        bicycle = codes == color2id(COLOR['bicycle'])
        crowd = {0: True, 3: False}[index]
        assert bicycle.any() and (inst[bicycle] == (33 if crowd else 33000)).all()
        if crowd:
            expected[bicycle] = 255
        np.testing.assert_array_equal(semantic, expected)
        things = inst >= 1000
        np.testing.assert_array_equal(instance, np.where(things, inst % 1000 + 1, 0))
        assert set(np.unique(semantic[things]).tolist()) == \
            set(np.unique(expected[things]).tolist()) and \
            set(np.unique(semantic[things]).tolist()) <= set(range(11, 19))
        assert (18 in semantic[things]) is not crowd
        # cars hold 26000 + k (labelId 26, k from 0): instance k + 1
        car = semantic == 13
        assert car.any() and (instance[car] == inst[car] - 26000 + 1).all()
        assert not instance[semantic < 11].any()


def test_decode_segments_by_hand(tmp_path) -> None:
    """A 2x4 frame: a car instance over a road pixel, a stuff-coloured instance, crowd, an
    unknown colour; decode and read_segments follow the official conversion."""
    names = [['road', 'car', 'car', 'person'], ['sky', 'bicycle', 'odd', 'road']]
    rgb = np.array([[COLOR.get(n, (1, 2, 3)) for n in row] for row in names], dtype=np.uint8)
    inst = np.array([[26005, 26005, 26005, 24000], [23, 33, 0, 24007]], dtype=np.uint16)
    cls_path, inst_path = str(tmp_path / 'a_cls.png'), str(tmp_path / 'a_inst.png')
    Image.fromarray(rgb).save(cls_path)
    Image.fromarray(inst).save(inst_path)
    files = dict(seg_path=cls_path, ins_path=inst_path)
    semantic, instance = FORMAT.decode(files, range(11, 19))
    # 26005: two car pixels beat one road pixel -> car instance 5 over all three (the road pixel
    # inside it too); 24007 covers only a road pixel (stuff colour) -> skipped, stays road;
    # the bicycle (crowd) and the unknown colour are void
    np.testing.assert_array_equal(semantic, [[13, 13, 13, 11], [10, 255, 255, 0]])
    np.testing.assert_array_equal(instance, [[6, 6, 6, 1], [0, 0, 0, 0]])
    ids, segments = FORMAT.read_segments(files)
    np.testing.assert_array_equal(ids, [[113005, 113005, 113005, 111000], [11, 0, 0, 1]])
    assert segments == {1: vps.Segment(0, 0, 1), 11: vps.Segment(10, 0, 1),
                        111000: vps.Segment(11, 0, 1), 113005: vps.Segment(13, 0, 3)}
    with pytest.raises(ValueError, match='things'):
        FORMAT.decode(files, [11, 13])  # not the official things
    Image.fromarray(inst[:, :3]).save(inst_path)
    with pytest.raises(ValueError, match='a_cls.png .*differ in size'):
        FORMAT.decode(files, ())
    Image.fromarray(rgb[..., 0]).save(cls_path)
    with pytest.raises(ValueError, match='a_cls.png: expected an RGB'):
        FORMAT.read_segments(files)


def test_unknown_colour_is_void_not_an_error(twin, tmp_path) -> None:
    root = _copy(twin, tmp_path)
    val = CityscapesVPSDataset(data_root=root, split='val', test_mode=True)
    info = val.get_data_info(1)
    rgb = np.array(Image.open(info['seg_path']))
    rgb[0, 0, :3] = (1, 2, 3)
    Image.fromarray(rgb).save(info['seg_path'])
    semantic, _ = FORMAT.decode(FORMAT.files_of(info), info['thing_ids'])
    assert semantic[0, 0] == 255
    CityscapesVPSDataset(data_root=root, split='val', test_mode=True, validate='full')


def _resize(path: str, size) -> None:
    image = Image.open(path)
    image.resize(size, Image.NEAREST).save(path)


def test_bad_inputs_are_named_errors(twin, tmp_path) -> None:
    root = _copy(twin, tmp_path)
    stem = '0002_0009_toycity_000002_000009'
    cls = osp.join(root, 'val', 'cls', stem + '_final_mask.png')
    inst = osp.join(root, 'val', 'inst', stem + '_final_mask.png')
    image = osp.join(root, 'val', 'img_all', stem + '_newImg8bit.png')

    def build(**kwargs):
        return CityscapesVPSDataset(data_root=root, split='val', test_mode=True, **kwargs)

    # a cls map without its inst map
    aside = str(tmp_path / 'aside.png')
    shutil.move(inst, aside)
    with pytest.raises(ValueError, match=f'{stem}_final_mask.png: no file of image {stem}'):
        build()
    shutil.move(aside, inst)
    # a labelled frame without its image
    shutil.move(image, aside)
    with pytest.raises(FileNotFoundError, match=f'no image of {cls}'):
        build()
    shutil.move(aside, image)
    # a frame of another size than the rest of its clip (image and maps agree)
    for path in (image, cls, inst):
        _resize(path, (64, 32))
    with pytest.raises(ValueError, match=f'{image}: size .* frames of clip 0002 must have one'):
        build()
    # maps of another size than their image
    _resize(image, (128, 64))
    with pytest.raises(ValueError, match=f'{cls}: label size'):
        build()
    _resize(cls, (128, 64))
    _resize(inst, (128, 64))
    build(validate='full')
    # a name that is no Cityscapes-VPS name
    odd = osp.join(root, 'val', 'img_all', 'frame.png')
    shutil.copy(image, odd)
    with pytest.raises(ValueError, match='img_all/frame.png: not a Cityscapes-VPS file name'):
        build()
    os.remove(odd)
    # a split without its maps: an error unless annotations are optional (the test split)
    with pytest.raises(FileNotFoundError, match='train/cls: missing folder'):
        shutil.rmtree(osp.join(root, 'train', 'cls'))
        CityscapesVPSDataset(data_root=root, split='train')
    with pytest.raises(FileNotFoundError, match='no image folder'):
        CityscapesVPSDataset(data_root=root, split='nothing')


def test_test_split_lists_the_labelled_positions(twin, tmp_path) -> None:
    root = str(tmp_path / 'test_only')
    shutil.copytree(osp.join(twin, 'val', 'img_all'), osp.join(root, 'test', 'img_all'))
    test = CityscapesVPSDataset(data_root=root, split='test', test_mode=True)
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert len(infos) == 12 and all(i['seg_path'] is None for i in infos)
    assert [i['image_id'].split('_')[1] for i in infos[:6]] == \
        ['0004', '0009', '0014', '0019', '0024', '0029']
    assert [(i['seq_id'], i['frame_id']) for i in infos[6:8]] == [(3, 0), (3, 1)]


def test_clips_without_six_frames_warn(tmp_path) -> None:
    root = str(tmp_path / 'short')
    make_toy_step(root, seed=1, size=SIZE, train_seqs=0, val_seqs=2, frames=20,
                  layout='cityscapes-vps')
    with pytest.warns(UserWarning, match='2 clip.* do not have 6 labelled frames'):
        CityscapesVPSDataset(data_root=root, split='val', test_mode=True)


def test_browse_dataset_on_the_twin(twin, tmp_path) -> None:
    """browse_dataset.py draws Cityscapes-VPS training clips of the tiny config: key + reference
    columns, three rows each, the semantic row in the Cityscapes colours; the twin untouched."""
    from helpers import load_tool
    config = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'tiny',
                      'video-knet_tiny_cityscapes-vps.py')
    before = _digest(twin)
    out = tmp_path / 'browse'
    load_tool('browse_dataset').main([config, '--output-dir', str(out), '--num', '3',
                                      '--data-root', twin])
    names = sorted(os.listdir(out))
    # labelled-mode samples are numbered by labelled frame: clip 0, frames 0, 1, 2 (t = 4, 9, 14)
    assert names == ['0000_seq0_frame0.png', '0001_seq0_frame1.png', '0002_seq0_frame2.png']
    palette = {tuple(c[4]) for c in vps.CATEGORIES} | {(0, 0, 0)}
    for name in names:
        panel = np.array(Image.open(out / name))
        # 3 rows x (key | reference) of at most the crop (resize ratio 0.8-1.2, then a 64x128
        # crop; padding is the data preprocessor's)
        (height, rem_h), (width, rem_w) = divmod(panel.shape[0], 3), divmod(panel.shape[1], 2)
        assert rem_h == rem_w == 0 and height <= SIZE[0] and width <= SIZE[1]
        assert height >= 0.8 * SIZE[0] - 1 and width >= 0.8 * SIZE[1] - 1
        semantic = panel[height:2 * height].reshape(-1, 3)
        colours = {tuple(c) for c in np.unique(semantic, axis=0).tolist()}
        assert colours <= palette and len(colours - {(0, 0, 0)}) >= 5
    assert _digest(twin) == before
