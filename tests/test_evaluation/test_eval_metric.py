"""VideoPanopticMetric (mmengine wrapper): same figures as the functional metrics, independent of
how frames are spread over (simulated) ranks, GT from arrays or from the panoptic PNG."""
from itertools import zip_longest
from pathlib import Path

import mmengine.evaluator.metric as mm_metric
import numpy as np
import pytest
import torch
from eval_helpers import DIV, SEQUENCES, write_gt_png
from mmengine.structures import PixelData

from knet.registry import METRICS
from knet.structures import PanopticDataSample
from video_knet.evaluation.functional import STQuality, VideoPanopticQuality

META = dict(classes=('road', 'sky', 'car'), thing_ids=(2,), ignore_label=255, label_divisor=DIV)
FRAMES = [(seq, frame, gt, pred) for seq, frames in SEQUENCES.items()
          for frame, (gt, pred) in enumerate(frames)]


def sample(seq, frame, gt, pred, seg_path=None, as_dict=True):
    """A predicted frame as the evaluator hands it to ``process`` (``to_dict()``)."""
    data = PanopticDataSample(metainfo=dict(seq_id=seq, frame_id=frame))
    data.pred_panoptic = PixelData(sem_seg=torch.as_tensor(pred // DIV)[None],
                                   instance_ids=torch.as_tensor(pred % DIV)[None])
    if seg_path is None:
        data.gt_panoptic = gt
    else:
        data.set_metainfo(dict(seg_path=seg_path))
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
    metric = build(legacy_stq=True, metrics=['STQ'])
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
    with pytest.raises(ValueError, match='metrics'):
        build(metrics=['PQ'])
