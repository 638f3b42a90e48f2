"""The torch-free layer: annotation formats, results layouts, metainfo, label tables, PQ."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import DIV, P, V, random_sequences, write_gt_png
from PIL import Image

from knet.datasets.transforms import LoadPanopticAnnotations
from vseg.formats import AnnotationFormat, check_semantic, format_names, get_format
from vseg.layouts import KNetLayout, get_layout, layout_names, register_layout
from vseg.metainfo import dataset_metainfo, label_metainfo, register_dataset
from vseg.metrics import PanopticQuality, VideoPanopticQuality, count_pairs
from vseg.panoptic import dataset_to_model_lut, encode_step_png, model_to_dataset_lut

REPO = Path(__file__).resolve().parents[2]


def test_vseg_imports_neither_torch_nor_mmengine():
    code = ('import sys, vseg.formats, vseg.layouts, vseg.metainfo, vseg.metrics.cli; '
            'print(sorted(m for m in ("torch", "mmengine", "knet", "video_knet") '
            'if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    assert out.strip() == '[]'


def test_registries_and_their_errors():
    assert {'kitti-step', 'cityscapes'} <= set(format_names())
    assert 'knet' in layout_names()
    with pytest.raises(KeyError, match="unknown annotation format 'coco'; known"):
        get_format('coco')
    with pytest.raises(KeyError, match="unknown results layout 'x'"):
        get_layout('x')
    with pytest.raises(KeyError, match='already registered'):
        register_layout(KNetLayout())
    class Unlisted(AnnotationFormat):
        name = 'unlisted'
    with pytest.raises(NotImplementedError, match="'unlisted' cannot be listed from a folder"):
        Unlisted().find_frames('.')
    with pytest.raises(KeyError, match="needs the data info key 'ins_path'"):
        get_format('cityscapes').files_of(dict(seg_path='a.png', img_path='a.jpg'))


def test_metainfo_copies_and_registration():
    meta = dataset_metainfo('kitti-step')
    assert meta['thing_ids'] == (11, 13) and len(meta['classes']) == 19
    assert meta['format'] == 'kitti-step' and meta['gt_dir'].endswith('video_sequence/val')
    meta['classes'] = ()
    assert len(dataset_metainfo('kitti-step')['classes']) == 19  # a fresh copy every time
    assert set(label_metainfo('cityscapes-step')) == {'classes', 'thing_ids', 'palette',
                                                      'ignore_label', 'label_divisor'}
    with pytest.raises(KeyError, match='lacks'):
        register_dataset('half', dict(classes=('a', )))


def test_kitti_step_format_decode_list_and_ids(tmp_path: Path):
    ids = np.array([[P(0), P(11, 1)], [P(13, 300), V]])
    write_gt_png(tmp_path / '000004_000007_panoptic.png', ids)
    (tmp_path / 'notes.txt').write_text('ignored')
    fmt = get_format('kitti-step')
    frames = fmt.find_frames(str(tmp_path))
    assert list(frames) == [(4, 7)]
    semantic, instance = fmt.decode(frames[(4, 7)])
    assert semantic.tolist() == [[0, 11], [13, 255]] and instance.tolist() == [[0, 1], [300, 0]]
    assert fmt.read_panoptic(frames[(4, 7)], (), DIV).tolist() == ids.tolist()
    with pytest.raises(FileNotFoundError, match='no \\*_panoptic.png'):
        fmt.find_frames(str(tmp_path / 'empty' if (tmp_path / 'empty').mkdir() is None else ''))


def test_knet_layout_round_trip_and_bytes(tmp_path: Path):
    layout = get_layout('knet')
    semantic = np.array([[0, 200], [255, 18]])
    instance = np.array([[0, 65535], [0, 4242]])
    paths = layout.write_frame(str(tmp_path), 3, 12, semantic, instance)
    assert paths == layout.frame_paths(str(tmp_path), 3, 12)
    assert paths['cat'].endswith('panoptic/3/000003_000012_cat.png')
    assert paths['final'].endswith('final/0003/000012.png')
    assert layout.frame_complete(str(tmp_path), 3, 12)
    assert not layout.frame_complete(str(tmp_path), 3, 13)
    found = layout.find_frames(str(tmp_path))
    assert list(found) == [(3, 12)]
    got_sem, got_ins = layout.read_frame(found[(3, 12)])
    assert got_sem.tolist() == semantic.tolist() and got_ins.tolist() == instance.tolist()
    assert layout.read_panoptic(found[(3, 12)], DIV).tolist() == (semantic * DIV
                                                                   + instance).tolist()
    # the submission PNG is the STEP encoding, RGB order on disk
    final = np.asarray(Image.open(paths['final']))
    assert final.tolist() == encode_step_png(semantic, instance).tolist()
    # class ids above 255 do not fit it: refused before any file of the frame is written
    with pytest.raises(ValueError, match='0..255'):
        layout.write_frame(str(tmp_path), 3, 14, semantic + 100, instance)
    assert not any(os.path.exists(p) for p in layout.frame_paths(str(tmp_path), 3, 14).values())
    assert not [p for p in tmp_path.rglob('*') if '.tmp' in p.name]


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path):
    blocker = tmp_path / 'final'
    blocker.write_text('a file where the final/ folder should be')
    with pytest.raises(OSError):
        get_layout('knet').write_frame(str(tmp_path), 0, 0, np.zeros((2, 2)), np.zeros((2, 2)))
    assert not [p for p in tmp_path.rglob('*') if '.tmp' in p.name]


def test_label_tables_for_more_than_256_classes():
    lut = dataset_to_model_lut(300, [5, 299])
    assert lut.dtype == np.uint16 and len(lut) == 300
    assert lut[5] == 0 and lut[299] == 1 and lut[0] == 2 and lut[298] == 299
    assert lut[255] == 255 + 1  # class 255 is a real class here (ignore 255 < num_classes)
    back = model_to_dataset_lut(300, [5, 299], ignore_label=65535)
    assert back[:3].tolist() == [5, 299, 0] and back[65535] == 65535
    small = dataset_to_model_lut(19, [11, 13])
    assert small.dtype == np.uint8 and len(small) == 256 and small[255] == 255 and small[11] == 0
    with pytest.raises(ValueError, match=r'\[300\]'):
        check_semantic('x.png', np.array([[0, 300]]), 300, 1000)


class _WideFormat(AnnotationFormat):
    """Test format: a 16-bit class PNG + a 16-bit instance PNG (more than 256 classes)."""

    name = 'test-wide'
    file_keys = ('seg_path', 'ins_path')

    def decode(self, files, thing_ids=()):
        return (np.asarray(Image.open(files['seg_path'])).astype(np.int64),
                np.asarray(Image.open(files['ins_path'])).astype(np.int32))


def test_loader_and_pq_with_300_classes(tmp_path: Path):
    """Any class count: a format with class ids up to 299 goes through the loader and PQ."""
    from vseg.formats import register_format
    if 'test-wide' not in format_names():
        register_format(_WideFormat())
    semantic = np.array([[0, 299, 299], [256, 256, 1000]], np.uint16)  # 1000 = void
    instance = np.array([[0, 1, 1], [0, 0, 0]], np.uint16)
    Image.fromarray(semantic).save(tmp_path / 's.png')
    Image.fromarray(instance).save(tmp_path / 'i.png')
    frame = dict(img_path='img.png', seg_path=str(tmp_path / 's.png'),
                 ins_path=str(tmp_path / 'i.png'), seg_format='test-wide', thing_ids=(299, ),
                 num_classes=300, ignore_label=1000, label_divisor=DIV)
    out = LoadPanopticAnnotations()(dict(frame))
    assert out['gt_sem_seg'].tolist() == [[1, 0, 0], [257, 257, 1000]]
    assert out['gt_labels'].tolist() == [0] and out['gt_instance_ids'].tolist() == [299 * DIV + 1]
    gt = get_format('test-wide').read_panoptic(
        {k: frame[k] for k in ('seg_path', 'ins_path')}, (299, ), DIV)
    pq = PanopticQuality(300, [299], ignore_label=1000)
    pq.update(gt, gt)
    result = pq.result()
    assert result['PQ_present'] == pytest.approx(1.0) and result['per_class'][256]['TP'] == 1


def test_pq_is_vpq_at_window_one():
    sequences = random_sequences(seed=5)
    pq = PanopticQuality(5, [3, 4])
    vpq = VideoPanopticQuality(5, [3, 4], [1])
    for seq, frames in sequences.items():
        for gt, pred in frames:
            pq.update(gt, pred, seq)
            vpq.update(gt, pred, seq)
    image, window = pq.result(), vpq.result()['per_window'][1]
    assert image['num_images'] == window['num_windows'] == sum(map(len, sequences.values()))
    for key in ('PQ', 'PQ_th', 'PQ_st', 'PQ_present'):
        assert image[key] == pytest.approx(window['V' + key], abs=1e-12)
    for c, stats in image['per_class'].items():  # counts equal, IoU sums up to summation order
        assert stats == pytest.approx(window['per_class'][c], abs=1e-12)


def test_pq_by_hand_two_images():
    # image 1: road matched (IoU 3/4), car FN; image 2: a car predicted on void is no FP
    pq = PanopticQuality(3, [2])
    pq.update(np.array([[P(0), P(0), P(0), P(2, 1)]]), np.array([[P(0), P(0), P(0), P(0)]]))
    pq.update(np.array([[V, V, P(1), P(1)]]), np.array([[P(2, 5), P(2, 5), P(1), P(1)]]))
    result = pq.result()
    assert result['per_class'][0] == dict(PQ=pytest.approx(0.75), SQ=pytest.approx(0.75),
                                          RQ=pytest.approx(1.0), TP=1, FP=0, FN=0)
    assert result['per_class'][2]['FN'] == 1 and result['per_class'][2]['FP'] == 0
    assert result['PQ'] == pytest.approx((0.75 + 1.0 + 0.0) / 3)
    assert count_pairs(np.array([[V]]), np.array([[V]])).num_pixels == 1
    assert os.environ.get('KNET_DATA_ROOT', 'datasets')  # the evaluators' data root default
