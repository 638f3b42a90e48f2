"""tools/analysis/benchmark.py over knet.engine.profiling / benchmarking: region accounting,
probes, helpers and CPU smoke runs.

The smoke runs use the tiny Video K-Net config on 64x128 frames (3 timed frames) and, for
``--train``, one iteration on the session's toy KITTI-STEP data; they check the JSON keys and
that the figures are consistent with each other.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from knet.engine.benchmarking import frame_batch, synthetic_frame
from knet.engine.profiling import Probes, RegionMeter, compare_outputs, percentile

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / 'configs' / 'tiny' / 'video-knet_tiny.py')
REQUIRED_KEYS = ('fps', 'latency_ms_median', 'latency_ms_p90', 'components_ms', 'peak_mem_mb',
                 'gflops_per_frame', 'matmul_gflops', 'matmul_ratio')


@pytest.fixture(scope='module')
def bench():
    """The benchmark tool as a module."""
    spec = importlib.util.spec_from_file_location(
        'knet_tools_benchmark', REPO / 'tools' / 'analysis' / 'benchmark.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeClock:
    """A clock that advances only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_region_meter_exclusive_amounts():
    meter = RegionMeter(sync=lambda: None)
    clock = meter.clock = FakeClock()
    meter.start()
    clock.now = 1.0                    # 1 s outside any region
    with meter.region('outer'):
        clock.now = 3.0                # 2 s in outer itself
        with meter.region('inner'):
            clock.now = 7.0            # 4 s in inner
        clock.now = 8.0                # 1 s more in outer
    with meter.region('inner'):        # same name accumulates
        clock.now = 8.5
    clock.now = 10.0
    totals = meter.stop()
    assert totals == dict(outer=3.0, inner=4.5, other=2.5, total=10.0)
    meter.push('ignored')              # outside start/stop nothing is recorded
    meter.pop()
    assert meter.totals == dict(outer=3.0, inner=4.5)


def test_probes_time_observe_and_come_off():
    meter = RegionMeter(sync=lambda: None)
    clock = meter.clock = FakeClock()

    class Part(torch.nn.Module):
        def forward(self, x):
            clock.now += 2.0
            return x

        def finish(self, x, offset=1):
            clock.now += 0.5
            return x + offset

    part = Part()
    seen = []
    with Probes(meter) as probes:
        probes.time_module(part, 'part')
        probes.time_method(part, 'finish', 'finish')
        probes.observe_method(part, 'finish', lambda args, out: seen.append((args, out.item())))
        meter.start()
        assert part.finish(part(torch.zeros(1))).item() == 1.0
        assert meter.stop() == dict(part=2.0, finish=0.5, other=0.0, total=2.5)
        assert seen[0][1] == 1.0 and set(seen[0][0]) == {'x', 'offset'}
        assert seen[0][0]['offset'] == 1  # defaults applied: observers see every parameter
    # Removed: no hook, no instance attribute left, nothing recorded any more.
    assert 'finish' not in vars(part) and not part._forward_hooks and not part._forward_pre_hooks
    meter.start()
    part.finish(part(torch.zeros(1)))
    assert meter.stop() == dict(other=2.5, total=2.5) and len(seen) == 1
    with pytest.raises(ValueError, match='RegionMeter'):
        Probes().time_module(part, 'part')


def test_percentile_and_frames():
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == pytest.approx(9.1)
    first = synthetic_frame(32, 48, 0)
    assert first.shape == (32, 48, 3) and first.dtype == np.uint8
    assert np.array_equal(first, synthetic_frame(32, 48, 0))       # deterministic
    assert not np.array_equal(first, synthetic_frame(32, 48, 1))   # it moves
    batch = frame_batch(first, frame_id=4, seq_id=2)
    assert batch['inputs'][0].shape == (3, 32, 48)
    meta = batch['data_samples'][0].metainfo
    assert (meta['seq_id'], meta['frame_id'], meta['ori_shape']) == (2, 4, (32, 48))


def test_compare_outputs():
    sem = torch.tensor([[1, 1, 1], [2, 2, 2]])
    ins = torch.tensor([[3, 3, 0], [0, 0, 0]])
    frame = dict(cls=torch.tensor([0.2, 0.9]), masks=torch.zeros(1, 2, 3), sem=sem, ins=ins)
    same = compare_outputs([frame], [dict(frame)])
    assert same['pixel_agreement_min'] == 1.0 and same['frames_with_same_segments'] == 1
    assert same['segment_iou_min'] == 1.0 and same['cls_prob_max_abs_diff'] == 0.0
    shrunk = dict(frame, ins=torch.tensor([[3, 0, 0], [0, 0, 0]]), cls=torch.tensor([0.25, 0.9]))
    diff = compare_outputs([frame], [shrunk])
    assert diff['pixel_agreement_min'] == pytest.approx(5 / 6)
    assert diff['frames_with_same_segments'] == 1       # same (class, id) pairs ...
    assert diff['segment_iou_min'] == 0.5               # ... but (1, 3) lost 1 of its 2 pixels
    assert diff['cls_prob_max_abs_diff'] == pytest.approx(0.05)
    gone = dict(frame, ins=torch.tensor([[0, 0, 0], [0, 0, 0]]))
    assert compare_outputs([frame], [gone])['frames_with_same_segments'] == 0


def test_inference_smoke(bench, tmp_path):
    out = tmp_path / 'bench.json'
    result = bench.main([TINY, '--device', 'cpu', '--shape', '64', '128', '--frames', '3',
                         '--warmup', '1', '--matmul-size', '128', '--compare-fp32', '1',
                         '--channels-last', '--out-dir', str(tmp_path / 'png'),
                         '--json', str(out)])
    saved = json.loads(out.read_text())
    for key in REQUIRED_KEYS:
        assert key in saved, key
    assert saved['fps'] == pytest.approx(result['fps'])
    assert saved['latency_ms_p90'] >= saved['latency_ms_median'] > 0
    assert saved['fps'] == pytest.approx(3000 / (3 * saved['latency_ms_mean']))
    components = saved['components_ms']
    for name in ('backbone', 'fpn', 'semantic_fpn', 'kernel_head', 'stage0', 'stage1',
                 'kernel_link', 'panoptic_merge', 'tracker', 'write'):
        assert components[name] >= 0, name
    # tiny model: ResNet-18 at 64x128 is ~0.6 GFLOP, the whole frame a bit more
    assert 0.5 < saved['gflops_per_frame'] < 2
    assert saved['gflops_by_component']['backbone'] < saved['gflops_per_frame']
    assert saved['matmul_ratio'] == pytest.approx(
        saved['gflops_per_frame'] * 1000 / saved['latency_ms_median'] / saved['matmul_gflops'])
    assert saved['peak_mem_mb'] > 0 and len(saved['rss_mb_per_frame']) == 4
    assert saved['compare_fp32']['pixel_agreement_min'] == 1.0     # channels-last is exact
    assert saved['compare_fp32']['cls_prob_max_abs_diff'] < 1e-4
    assert len(list((tmp_path / 'png' / 'panoptic' / '0').iterdir())) == 2 * 4


def test_inference_async_write_without_regions(bench, tmp_path):
    result = bench.main([TINY, '--device', 'cpu', '--shape', '64', '128', '--frames', '2',
                         '--warmup', '1', '--matmul-size', '64', '--async-write',
                         '--no-regions', '--out-dir', str(tmp_path / 'png')])
    assert len(list((tmp_path / 'png' / 'panoptic' / '0').iterdir())) == 2 * 3
    assert len(list((tmp_path / 'png' / 'final' / '0000').iterdir())) == 3
    assert set(result['components_ms']) == {'write', 'other'}  # --no-regions: whole frames
    assert result['fps'] > 0 and result['latency_ms_median'] > 0


def test_train_smoke(bench, tmp_path, toy_step_root):
    result = bench.main([TINY, '--train', '--device', 'cpu', '--data-root', toy_step_root,
                         '--iters', '1', '--warmup', '0', '--matmul-size', '128',
                         '--cfg-options', 'train_dataloader.num_workers=0',
                         'train_dataloader.persistent_workers=False',
                         '--json', str(tmp_path / 'train.json')])
    for key in REQUIRED_KEYS + ('data_ms_median', 'data_share'):
        assert key in result, key
    assert 0 <= result['data_share'] < 1
    for name in ('backbone', 'losses', 'backward', 'optimizer_step', 'data'):
        assert result['components_ms'][name] > 0, name
    # backward costs about twice the forward FLOPs
    assert result['gflops_by_component']['backward'] > result['gflops_by_component']['backbone']
