"""The measuring procedure of ``tools/analysis/benchmark.py``, on top of :mod:`.profiling`.

Frames (:func:`synthetic_frame`, :func:`frame_source`: (H, W, 3) uint8 RGB; :func:`frame_batch`:
the collated batch of one frame, ``inputs`` a (3, H, W) uint8 tensor), the speed options of a
model (:func:`apply_options`: channels-last, ``torch.compile``, autocast), one frame through
``model.test_step`` (:func:`predict_frame`), the FLOPs of a frame per component
(:func:`count_frame_flops`), the outputs compared with fp32 (:func:`capture_outputs`), the matmul
reference (:func:`matmul_reference`), the summary of timed records (:func:`summarize`: keys
``fps``, ``latency_ms_*``, ``components_ms``, ``gflops_*``, ``matmul_*``, ...) and the report
(:func:`format_report`). A timed record is ``dict(times=RegionMeter.stop() amounts in seconds,
rss=MB[, things=count])``. Definitions: docs/PERFORMANCE.md.
"""
import contextlib
import functools
import json
import os
import os.path as osp
import platform
import statistics
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmengine.model import BaseModel
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from knet.structures import PanopticDataSample
from vseg.io import read_image
from .profiling import Probes, RegionMeter, matmul_gflops, peak_memory_mb, percentile

#: ``--amp``: autocast dtypes by name.
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
#: ``--clock``: wall time, or CPU time of the process (all threads; steadier on a shared CPU).
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}
#: Components that are the network itself (``matmul_ratio_network``).
NETWORK_COMPONENTS = ('preprocess', 'backbone', 'fpn', 'semantic_fpn', 'kernel_head',
                      'mask_upsample', 'kernel_link')


# ------------------------------------------------------------------------------------ frames
def synthetic_frame(height: int, width: int, index: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame ``index`` of a deterministic driving-like sequence.

    Sky, facade and road bands with texture, plus eight boxes ("cars", "persons") moving a few
    pixels per frame, so consecutive frames are similar as in a real video.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.float32)
    bands = ((0.0, (165, 205, 245)), (0.3, (125, 65, 35)), (0.55, (128, 128, 128)))
    for top, colour in bands:
        image[yy >= int(top * height)] = colour
    image += 12 * np.sin((xx + 3 * index) / 7.0)[..., None] * np.cos(yy / 5.0)[..., None]
    for _ in range(8):
        h = int(rng.integers(height // 10, height // 3))
        w = int(rng.integers(width // 20, width // 6))
        y = int(rng.integers(height // 3, height - h))
        x = int(rng.integers(0, width) + rng.integers(-6, 7) * index) % max(width - w, 1)
        image[y:y + h, x:x + w] = rng.integers(0, 256, 3)
    image += rng.normal(0, 4, (1, width, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def frame_source(count: int, shape: Sequence[int], seed: int = 0,
                 images: Optional[str] = None) -> Iterator[np.ndarray]:
    """``count`` RGB frames: the ``images`` folder (cycled if short) or synthetic ones.

    Args:
        count: number of frames.
        shape: ``(H, W)`` of the synthetic frames.
        seed: seed of the synthetic sequence.
        images: folder with the frames of one sequence (sorted by name), if any.
    """
    if not images:
        for index in range(count):
            yield synthetic_frame(shape[0], shape[1], index, seed)
        return
    names = sorted(n for n in os.listdir(images)
                   if n.lower().endswith(('.png', '.jpg', '.jpeg')))
    if not names:
        raise FileNotFoundError(f'--images {images}: no .png/.jpg frame found')
    for index in range(count):
        yield read_image(osp.join(images, names[index % len(names)]), color=True)


def frame_batch(image: np.ndarray, frame_id: int, seq_id: int = 0) -> Dict[str, list]:
    """Collated batch of one (H, W, 3) RGB frame, as the test pipeline + ``pseudo_collate``."""
    height, width = image.shape[:2]
    sample = PanopticDataSample(metainfo=dict(
        img_path=f'{seq_id:06d}_{frame_id:06d}.png', seq_id=seq_id, frame_id=frame_id,
        ori_shape=(height, width), img_shape=(height, width), scale_factor=(1.0, 1.0),
        flip=False, flip_direction=None))
    inputs = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return dict(inputs=[inputs], data_samples=[sample])


# ------------------------------------------------------------------------------------- model
def compile_targets(model: BaseModel) -> List[nn.Module]:
    """The modules whose ``forward`` ``--compile`` compiles (the network, not the glue)."""
    targets = [getattr(model, name, None) for name in ('backbone', 'neck', 'rpn_head')]
    targets += list(getattr(getattr(model, 'roi_head', None), 'mask_head', []))
    return [module for module in targets if isinstance(module, nn.Module)]


def apply_options(model: BaseModel, device: torch.device, channels_last: bool = False,
                  torch_compile: bool = False, amp: Optional[str] = None) -> Callable[[], Any]:
    """Apply channels-last / ``torch.compile`` in place; returns the autocast context factory.

    Args:
        model: the detector (its ``backbone`` gets NHWC input under ``channels_last``).
        device: where the model runs (the autocast device type).
        channels_last: NHWC weights and input.
        torch_compile: ``torch.compile`` the :func:`compile_targets`.
        amp: a key of :data:`AMP_DTYPES`, or None for no autocast.
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
        model.backbone.register_forward_pre_hook(
            lambda _, inputs: (inputs[0].contiguous(memory_format=torch.channels_last),
                               *inputs[1:]))
    if torch_compile:
        for module in compile_targets(model):
            module.forward = torch.compile(module.forward, dynamic=False)
    dtype = AMP_DTYPES.get(amp) if amp is not None else None
    if dtype is None:
        return contextlib.nullcontext
    return functools.partial(torch.autocast, device_type=device.type, dtype=dtype)


def predict_frame(model: BaseModel, image: np.ndarray, frame_id: int, autocast: Callable[[], Any],
                  meter: Optional[RegionMeter] = None, writer: Optional[Callable] = None,
                  out_dir: Optional[str] = None) -> PanopticDataSample:
    """Run one frame through ``model.test_step`` (and the PNG writer when given)."""
    with torch.no_grad(), autocast():
        sample = model.test_step(frame_batch(image, frame_id))[0]
    if writer is not None:
        with meter.region('write') if meter is not None else contextlib.nullcontext():
            pred = sample.pred_panoptic
            writer(out_dir, 0, frame_id, pred.sem_seg[0].cpu().numpy(),
                   pred.instance_ids[0].cpu().numpy())
    return sample


def flop_clock(counter: FlopCounterMode) -> float:
    """The FLOPs counted so far (a :class:`RegionMeter` clock)."""
    return float(counter.get_total_flops())


def count_frame_flops(model: BaseModel, meter: RegionMeter, images: Sequence[np.ndarray],
                      autocast: Callable[[], Any]) -> Dict[str, float]:
    """FLOPs per component of the last of ``images`` (earlier ones set up the sequence state)."""
    for frame_id, image in enumerate(images[:-1]):
        predict_frame(model, image, frame_id, autocast)
    counter = FlopCounterMode(display=False)
    with counter:
        meter.clock = functools.partial(flop_clock, counter)
        meter.start()
        predict_frame(model, images[-1], len(images) - 1, autocast)
        flops = meter.stop()
    meter.clock = meter.base_clock
    return flops


def capture_outputs(model: BaseModel, images: Sequence[np.ndarray],
                    autocast: Callable[[], Any]) -> List[Dict[str, torch.Tensor]]:
    """Per frame: final class / mask probabilities and the panoptic maps, on CPU in float."""
    captured: List[Dict[str, torch.Tensor]] = []

    def record(arguments: Dict[str, Any], _: Any) -> None:
        """The merge's inputs: final class and mask logits of the frame."""
        captured.append(dict(cls=arguments['cls_score'].float().sigmoid().cpu(),
                             masks=arguments['mask_logits'].float().sigmoid().cpu()))

    with Probes() as probes:
        probes.observe_method(model, 'merge_frame', record)
        for frame_id, image in enumerate(images):
            pred = predict_frame(model, image, frame_id, autocast).pred_panoptic
            captured[-1].update(sem=pred.sem_seg[0].cpu(), ins=pred.instance_ids[0].cpu())
    return captured


# ------------------------------------------------------------------------------- summaries
def matmul_reference(device: torch.device, clock: Callable[[], float],
                     size: Optional[int] = None, amp: Optional[str] = None) -> Dict[str, float]:
    """fp32 and (with ``amp``) low-precision matmul GFLOP/s.

    Args:
        device: where the matmul runs.
        clock: the timing clock (a value of :data:`CLOCKS`).
        size: matrix size (default 2048 on CPU, 8192 on CUDA).
        amp: a key of :data:`AMP_DTYPES`, also measured (keyed by it) when given.
    """
    size = size or (8192 if device.type == 'cuda' else 2048)
    ref = dict(fp32=matmul_gflops(device, torch.float32, size, clock=clock))
    if amp:
        ref[amp] = matmul_gflops(device, AMP_DTYPES[amp], size, clock=clock)
    return ref


def summarize(records: Sequence[Dict[str, Any]], flops: Dict[str, float],
              matmul_before: Dict[str, float], matmul_after: Dict[str, float]) -> Dict[str, Any]:
    """Latency statistics, component medians, FLOPs and the matmul ratios of timed records."""
    totals = [r['times']['total'] for r in records]
    names = list(dict.fromkeys(n for r in records for n in r['times'] if n != 'total'))
    components = {n: 1000 * statistics.median(r['times'].get(n, 0.0) for r in records)
                  for n in names}
    network = [sum(t for n, t in r['times'].items() if n in NETWORK_COMPONENTS
                   or n.startswith('stage')) for r in records]
    post = [sum(r['times'].get(n, 0.0) for n in ('mask_rescale', 'panoptic_merge', 'tracker',
                                                  'write')) for r in records]
    dtype_key = next((k for k in matmul_before if k != 'fp32'), 'fp32')
    matmul = statistics.mean([matmul_before[dtype_key], matmul_after[dtype_key]])
    gflops = flops['total'] / 1e9
    median = statistics.median(totals)
    network_s = statistics.median(network)  # 0 under --no-regions
    return dict(
        fps=len(totals) / sum(totals), latency_ms_median=1000 * median,
        latency_ms_p90=1000 * percentile(totals, 90), latency_ms_mean=1000 * statistics.mean(
            totals), components_ms=components,
        post_share=statistics.median(p / t for p, t in zip(post, totals)),
        gflops_per_frame=gflops,
        gflops_by_component={n: v / 1e9 for n, v in flops.items() if n != 'total' and v},
        achieved_gflops=gflops / median,
        achieved_gflops_network=gflops / network_s if network_s else float('nan'),
        matmul_dtype=dtype_key, matmul_gflops=matmul,
        matmul_gflops_runs=dict(before=matmul_before, after=matmul_after),
        matmul_ratio=gflops / median / matmul,
        matmul_ratio_network=gflops / network_s / matmul if network_s else float('nan'))



def frame_statistics(records: Sequence[Dict[str, Any]], warmup: int,
                     device: torch.device) -> Dict[str, Any]:
    """Warm-up times, memory and thing segments of the inference records (warm-up included).

    Args:
        records: one ``dict(times, rss, things)`` per frame, the ``warmup`` first untimed.
        warmup: number of warm-up frames.
        device: where the model ran (peak memory: :func:`~.profiling.peak_memory_mb`).
    """
    return dict(
        warmup_s=[r['times']['total'] for r in records[:warmup]],
        peak_mem_mb=peak_memory_mb(device), rss_mb_per_frame=[r['rss'] for r in records],
        rss_mb_frame10=records[min(9, len(records) - 1)]['rss'], rss_mb_last=records[-1]['rss'],
        thing_segments_mean=statistics.mean(r['things'] for r in records[warmup:]))

def set_data_root(dataset_cfg: Dict[str, Any], data_root: str) -> None:
    """Set ``data_root`` on a dataset config and on the datasets it wraps."""
    cfg: Any = dataset_cfg
    while isinstance(cfg, dict):
        if 'data_root' in cfg or 'dataset' not in cfg:
            cfg['data_root'] = data_root
        cfg = cfg.get('dataset')


# ---------------------------------------------------------------------------------- report
def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model with the number of logical CPUs."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as file:
            name = next((line.split(':', 1)[1].strip() for line in file
                         if line.startswith('model name')), name)
    return f'{name}, {os.cpu_count()} logical CPUs'


def format_report(result: Dict[str, Any]) -> str:
    """Human-readable summary of a result dict."""
    unit = 'iteration' if result['mode'] == 'train' else 'frame'
    lines = [
        f"{result['config']} ({result['mode']}) on {result['device']} "
        f"[{result['device_name']}], torch {result['torch']}, {result['threads']} threads, "
        f"load avg {result['load_avg_start'][0]:.2f} -> {result['load_avg_end'][0]:.2f}, "
        f"{result['clock']} clock",
        f"{unit}s: {result['frames']} timed after {result['warmup']} warm-up; "
        f"median {result['latency_ms_median']:.1f} ms, p90 {result['latency_ms_p90']:.1f} ms, "
        f"{result['fps']:.3f} {unit}s/s; peak memory {result['peak_mem_mb']:.0f} MB",
        f"{'component':<16}{'median ms':>11}{'share':>8}{'GFLOP':>9}"]
    for name, ms in result['components_ms'].items():
        lines.append(f"{name:<16}{ms:>11.1f}{ms / result['latency_ms_median']:>8.1%}"
                     f"{result['gflops_by_component'].get(name, 0.0):>9.2f}")
    lines.append(
        f"GFLOP per {unit} {result['gflops_per_frame']:.2f}; achieved "
        f"{result['achieved_gflops']:.1f} GFLOP/s ({result['achieved_gflops_network']:.1f} in "
        f"the network); {result['matmul_dtype']} matmul {result['matmul_gflops']:.1f} GFLOP/s; "
        f"ratio {result['matmul_ratio']:.1%} (network {result['matmul_ratio_network']:.1%})")
    if result['mode'] == 'train':
        lines.append(f"data loading: median {result['data_ms_median']:.1f} ms, "
                     f"{result['data_share']:.1%} of the time "
                     f"({result['num_workers']} workers)")
    else:
        lines.append(f"merge + tracker + writing: {result['post_share']:.1%} of a frame; "
                     f"RSS {result['rss_mb_frame10']:.0f} MB at frame 10, "
                     f"{result['rss_mb_last']:.0f} MB at frame {len(result['rss_mb_per_frame'])}"
                     f"; thing segments/frame {result['thing_segments_mean']:.1f}")
    if 'compare_fp32' in result:
        lines.append(f"vs fp32: {json.dumps(result['compare_fp32'])}")
    return '\n'.join(lines)
