"""VideoPanopticMetric (mmengine wrapper): same figures as the functional metrics, independent of
how frames are spread over (simulated) ranks, GT from arrays, from the KITTI-STEP panoptic PNG or
from Cityscapes labelTrainIds + instanceTrainIds PNGs; image PQ checked by hand and against
VPQ with window 1."""
from itertools import zip_longest
from pathlib import Path

import mmengine.evaluator.metric as mm_metric
import numpy as np
import pytest
import torch
from eval_helpers import DIV, SEQUENCES, P, V, random_sequences, write_gt_png
from mmengine.structures import PixelData
from test_datasets.step_files import image_for, write_gray, write_rgb

from knet.datasets import CityscapesSTEPDataset
from knet.registry import METRICS
from knet.structures import PanopticDataSample
from vseg.metrics import STQuality, VideoPanopticQuality

META = dict(classes=('road', 'sky', 'car'), thing_ids=(2,), ignore_label=255, label_divisor=DIV)
FRAMES = [(seq, frame, gt, pred) for seq, frames in SEQUENCES.items()
          for frame, (gt, pred) in enumerate(frames)]


def sample(seq, frame, gt, pred, seg_path=None, as_dict=True, seg_format='kitti-step'):
    """A predicted frame as the evaluator hands it to ``process`` (``to_dict()``)."""
    data = PanopticDataSample(metainfo=dict(seq_id=seq, frame_id=frame))
    data.pred_panoptic = PixelData(sem_seg=torch.as_tensor(pred // DIV)[None],
                                   instance_ids=torch.as_tensor(pred % DIV)[None])
    if seg_path is None:
        data.gt_panoptic = gt
    else:
        data.set_metainfo(dict(seg_path=seg_path, seg_format=seg_format))
    return data.to_dict() if as_dict else data


def build(**kwargs):
    metric = METRICS.build(dict(type='VideoPanopticMetric', window_sizes=[1, 2], **kwargs))
    metric.dataset_meta = META
    return metric


def expected(legacy: bool = False) -> dict:
    stq, vpq = STQuality(3, [2], legacy=legacy), VideoPanopticQuality(3, [2], (1, 2))
    for seq, _, gt, pred in FRAMES:
        stq.update(gt, pred, seq)
        vpq.update(gt, pred, seq)
    s, v = stq.result(), vpq.result()
    return {'STQ': s['STQ'], 'AQ': s['AQ'], 'SQ': s['SQ'], 'VPQ': v['VPQ'],
            'VPQ_th': v['VPQ_th'], 'VPQ_st': v['VPQ_st'], 'VPQ@1': v['per_window'][1]['VPQ'],
            'VPQ@2': v['per_window'][2]['VPQ']}


@pytest.mark.parametrize('as_dict', [True, False])
def test_single_process_equals_functional(as_dict):
    metric = build()
    for item in FRAMES:
        metric.process({}, [sample(*item, as_dict=as_dict)])
    assert metric.evaluate(len(FRAMES)) == pytest.approx(expected())


def test_two_simulated_ranks_equal_single_process(monkeypatch):
    # Rank 0 gets frames 0 and 2 of sequence 2, rank 1 the rest out of order plus a padded
    # duplicate; mmengine's gathering is replaced by its zip_longest interleaving.
    rank0, rank1 = build(), build()
    for index in (0, 2):
        rank0.process({}, [sample(*FRAMES[index])])
    for index in (3, 1, 3):
        rank1.process({}, [sample(*FRAMES[index])])
    parts = [list(rank0.results), list(rank1.results)]

    def collect(results, size, device='cpu', tmpdir=None):
        return [r for group in zip_longest(*parts) for r in group if r is not None][:size]

    monkeypatch.setattr(mm_metric, 'collect_results', collect)
    assert rank0.evaluate(5) == pytest.approx(expected())


def test_ground_truth_from_seg_path(tmp_path: Path):
    metric = build(legacy_stq=True, metric='STQ')
    for seq, frame, gt, pred in FRAMES:
        path = tmp_path / f'{seq:06d}_{frame:06d}_panoptic.png'
        write_gt_png(path, gt)
        metric.process({}, [sample(seq, frame, gt, pred, seg_path=str(path))])
    result = metric.evaluate(len(FRAMES))
    assert set(result) == {'STQ', 'AQ', 'SQ'}
    reference = expected(legacy=True)
    assert result == pytest.approx({k: reference[k] for k in ('STQ', 'AQ', 'SQ')})


def test_clear_errors():
    metric = build()
    bad = sample(*FRAMES[0])
    del bad['gt_panoptic']
    with pytest.raises(KeyError, match='neither "gt_panoptic" nor "seg_path"'):
        metric.process({}, [bad])
    del bad['seq_id']
    with pytest.raises(KeyError, match='seq_id'):
        metric.process({}, [bad])
    wrong_size = sample(*FRAMES[0])
    wrong_size['gt_panoptic'] = np.zeros((3, 4), np.int64)
    with pytest.raises(ValueError, match='sequence 2 frame 0'):
        metric.process({}, [wrong_size])
    metric.process({}, [sample(*FRAMES[0])])
    metric.dataset_meta = dict(classes=META['classes'])
    with pytest.raises(KeyError, match='thing_ids'):
        metric.compute_metrics(metric.results)
    for bad_metric in (['PQ', 'XQ'], []):
        with pytest.raises(ValueError, match='metric'):
            build(metric=bad_metric)


# Two frames of 2x4 pixels (classes road 0, sky 1, car 2 = thing); predicted 255 = no prediction.
HAND_FRAMES = [
    (np.array([[P(0), P(0), P(2, 1), P(2, 1)], [P(1), P(1), P(2, 2), P(2, 2)]]),
     np.array([[P(0), P(0), P(2, 7), P(2, 7)], [P(1), P(0), P(2, 9), V]])),
    (np.array([[P(0), P(0), P(2, 1), P(2, 1)], [P(1), P(1), P(1), V]]),
     np.array([[P(0), P(2, 3), P(2, 3), P(2, 3)], [P(1), P(1), P(1), P(1)]])),
]


def test_pq_by_hand():
    # Frame 0: road IoU 2/3 (TP); sky 1/2 and car 2 1/2 (not > 1/2: FN + FP each); car 1 IoU 1.
    # Frame 1: road 1/2 (FN + FP); car IoU 2/3 (TP); sky IoU 3/3 (the pixel on GT void leaves
    # the union). Totals: road TP 1 (IoU 2/3), FN 1, FP 1 -> PQ 2/3 * 1/2 = 1/3; sky TP 1 (IoU 1),
    # FN 1, FP 1 -> 1/2; car TP 2 (IoU 5/3), FN 1, FP 1 -> 5/6 * 2/3 = 5/9.
    metric = build(metric='PQ')
    for frame, (gt, pred) in enumerate(HAND_FRAMES):
        metric.process({}, [sample(4, frame, gt, pred)])
    result = metric.evaluate(2)
    assert result == pytest.approx(dict(PQ=(1 / 3 + 1 / 2 + 5 / 9) / 3, PQ_th=5 / 9,
                                        PQ_st=(1 / 3 + 1 / 2) / 2))


def test_pq_ignores_track_ids_and_sequences():
    # Every car gets a new track id in every frame and the frames are split into two sequences:
    # PQ does not change (VPQ with windows of 2 frames would).
    reference = build(metric='PQ')
    relabelled = build(metric='PQ')
    for frame, (gt, pred) in enumerate(HAND_FRAMES):
        reference.process({}, [sample(4, frame, gt, pred)])
        pred = np.where(pred // DIV == 2, pred + 100 * (frame + 1), pred)
        relabelled.process({}, [sample(frame, 0, gt, pred)])
    assert relabelled.evaluate(2) == pytest.approx(reference.evaluate(2))


def test_pq_equals_vpq_window_1_on_random_sequences():
    meta = dict(classes=('a', 'b', 'c', 'd'), thing_ids=(1, 3), ignore_label=255,
                label_divisor=DIV)
    both = METRICS.build(dict(type='VideoPanopticMetric', metric=['VPQ', 'PQ'],
                              window_sizes=[1, 2]))
    both.dataset_meta = meta
    for seq, frames in random_sequences(3).items():
        for frame, (gt, pred) in enumerate(frames):
            both.process({}, [sample(seq, frame, gt, pred)])
    result = both.evaluate(7)
    vpq = VideoPanopticQuality(4, [1, 3], [1])
    for seq, frames in random_sequences(3).items():
        for gt, pred in frames:
            vpq.update(gt, pred, seq)
    window_1 = vpq.result()['per_window'][1]
    assert result['PQ'] == pytest.approx(result['VPQ@1']) and result['PQ'] != result['VPQ']
    assert [result[k] for k in ('PQ', 'PQ_th', 'PQ_st')] == pytest.approx(
        [window_1[k] for k in ('VPQ', 'VPQ_th', 'VPQ_st')])


def _cityscapes_tree(root: Path) -> list:
    """Two val frames of different cities with the same sequence and frame numbers; returns
    their ground truth as ids. Person 11 and car 13 are things; the person pixel with value 11
    (no instance) is crowd (instance 0)."""
    semantic = np.array([[0, 11, 11, 13], [10, 11, 13, 255]], np.uint8)
    raw = np.array([[0, 11000, 11000, 13002], [10, 11, 13002, 255]], np.uint16)
    for city in ('lindau', 'munster'):
        stem = f'{city}_000000_000019'
        write_rgb(str(root / 'leftImg8bit' / 'val' / city / f'{stem}_leftImg8bit.png'),
                  image_for(0, 19, semantic.shape))
        gt = root / 'gtFine' / 'val' / city / stem
        write_gray(f'{gt}_gtFine_labelTrainIds.png', semantic)
        write_gray(f'{gt}_gtFine_instanceTrainIds.png', raw)
    ids = np.array([[P(0), P(11, 1), P(11, 1), P(13, 3)], [P(10), P(11), P(13, 3), V]])
    return [ids, ids]


def test_cityscapes_ground_truth(tmp_path: Path):
    """Cityscapes-STEP samples as packed by the dataset pipeline: seg_path + ins_path PNGs,
    frames of two cities that share seq_id / frame_id are both counted (keyed by seq_name)."""
    gts = _cityscapes_tree(tmp_path)
    dataset = CityscapesSTEPDataset(data_root=str(tmp_path), split='val', pipeline=[
        dict(type='LoadFrames'), dict(type='PackPanopticInputs')])
    preds = [gts[0], np.where(gts[1] == P(10), P(0), gts[1])]  # munster: sky taken for road
    metric = METRICS.build(dict(type='VideoPanopticMetric', metric='PQ'))
    metric.dataset_meta = dataset.metainfo
    reference = VideoPanopticQuality(19, [11, 13], [1])
    for index, (gt, pred) in enumerate(zip(gts, preds)):
        data = dataset[index]['data_samples']
        assert data.seg_format == 'cityscapes' and data.ins_path.endswith('instanceTrainIds.png')
        data.pred_panoptic = PixelData(sem_seg=torch.as_tensor(pred // DIV)[None],
                                       instance_ids=torch.as_tensor(pred % DIV)[None])
        metric.process({}, [data.to_dict()])
        reference.update(gt, pred, index)
    window_1 = reference.result()['per_window'][1]
    result = metric.evaluate(2)
    assert result == pytest.approx(dict(PQ=window_1['VPQ'], PQ_th=window_1['VPQ_th'],
                                        PQ_st=window_1['VPQ_st']))
    assert window_1['per_class'][10]['FN'] == 1 and window_1['per_class'][11]['TP'] == 4


def test_cityscapes_ground_truth_errors(tmp_path: Path):
    _cityscapes_tree(tmp_path)
    label = str(tmp_path / 'gtFine' / 'val' / 'lindau' / 'lindau_000000_000019_gtFine')
    gt = np.zeros((2, 4), np.int64)
    metric = build(metric='PQ')
    without_format = sample(0, 19, gt, gt, seg_path=label + '_labelTrainIds.png',
                            seg_format=None)
    with pytest.raises(KeyError, match='has no "seg_format"'):
        metric.process({}, [without_format])
    # a labelTrainIds PNG read as a KITTI-STEP panoptic PNG: the file is named
    with pytest.raises(ValueError, match='lindau_000000_000019_gtFine_labelTrainIds.png: '
                                         'expected an 8-bit RGB panoptic PNG'):
        metric.process({}, [dict(without_format, seg_format='kitti-step')])
    without_instances = dict(without_format, seg_format='cityscapes')
    with pytest.raises(KeyError, match="needs the data info key 'ins_path'"):
        metric.process({}, [without_instances])
    with pytest.raises(ValueError, match="unknown annotation format 'coco'"):
        metric.process({}, [dict(without_format, seg_format='coco')])
