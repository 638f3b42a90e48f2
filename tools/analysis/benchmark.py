"""Speed, FLOPs and memory of online (Video) K-Net inference and of a training iteration.

Inference as ``tools/inference.py`` runs it (batch 1, frame by frame, kernel memory and tracker
carried along the sequence, panoptic merge, tracker, the PNGs of the ``'knet'`` results layout
written with :class:`video_knet.apis.BackgroundWriter` under ``--async-write``); ``--train``
times a training iteration (key + reference frame). The model is built by the inference API
(:func:`video_knet.apis.build_detector`) and measured from outside by the probes of
:mod:`knet.engine.profiling`. Usage::

    python tools/analysis/benchmark.py CONFIG [--checkpoint CKPT] [--device cpu|cuda]
        [--shape H W] [--frames N] [--warmup W] [--amp bf16|fp16] [--channels-last] [--compile]
        [--images DIR] [--compare-fp32 K] [--thing-logit-bias B] [--clock wall|cpu] [--json OUT]
    python tools/analysis/benchmark.py CONFIG --train [--iters N] [--data-root DIR] [--json OUT]

Printed and in ``--json`` (always: ``fps``, ``latency_ms_median``, ``latency_ms_p90``,
``components_ms``, ``peak_mem_mb``, ``gflops_per_frame``, ``matmul_gflops``, ``matmul_ratio``;
``--train`` adds ``data_ms_median`` and ``data_share``): per-frame latency after warm-up, the
exclusive time of each component (:class:`~knet.engine.profiling.Probes`: forward hooks and
wrapped methods, nested regions subtracted from their parent; CUDA synchronizes at each
boundary), peak memory
(RSS on CPU, allocated on CUDA) and the RSS after every frame, the FLOPs of a frame
(``FlopCounterMode``: conv / matmul / attention) in total and per component, and the FLOP/s of a
large matmul measured in the same run, whose ratio to the model's FLOP/s is ``matmul_ratio``.
Definitions and measured figures: docs/PERFORMANCE.md.
"""
import argparse
import contextlib
import copy
import functools
import json
import os
import os.path as osp
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from knet.engine.profiling import (
    Probes,
    RegionMeter,
    compare_outputs,
    instrument,
    matmul_gflops,
    peak_memory_mb,
    percentile,
    rss_mb,
    sync_device,
)
from knet.structures import PanopticDataSample
from video_knet.apis import BackgroundWriter, build_detector, load_config
from vseg.layouts import get_layout

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
#: ``--clock``: wall time, or CPU time of the process (all threads; steadier on a shared CPU).
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}
#: Components that are the network itself (``matmul_ratio_network``).
NETWORK_COMPONENTS = ('preprocess', 'backbone', 'fpn', 'semantic_fpn', 'kernel_head',
                      'mask_upsample', 'kernel_link')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Benchmark (Video) K-Net inference / training')
    add = parser.add_argument
    add('config', help='model config (e.g. configs/tiny/video-knet_tiny.py)')
    add('--checkpoint', help='weights to load (default: random init)')
    add('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    add('--shape', type=int, nargs=2, default=(375, 1242), metavar=('H', 'W'),
        help='synthetic frame size (default: KITTI-STEP 375 1242)')
    add('--frames', type=int, default=10, help='timed frames (after the warm-up)')
    add('--warmup', type=int, default=2, help='untimed first frames / iterations')
    add('--amp', choices=sorted(AMP_DTYPES), help='autocast dtype')
    add('--channels-last', action='store_true', help='NHWC weights and input')
    add('--compile', action='store_true', help='torch.compile backbone, necks, heads, stages')
    add('--images', help='folder with the frames of one sequence (sorted by name)')
    add('--compare-fp32', type=int, default=0, metavar='K',
        help='compare K frames of the optioned model with the plain fp32 model')
    add('--thing-logit-bias', type=float, default=0.0,
        help='added to the last stage\'s thing-class biases (untrained weights give no thing '
        'segments; this feeds merge and tracker)')
    add('--threads', type=int, help='torch.set_num_threads (default: torch\'s choice)')
    add('--clock', choices=sorted(CLOCKS), default='wall',
        help='wall time, or process CPU time (all threads; steadier on a shared machine)')
    add('--out-dir', help='where the PNGs are written (default: a temporary folder)')
    add('--no-regions', action='store_true',
        help='time whole frames only: no per-component hooks (on CUDA every region boundary '
        'synchronizes, which serializes CPU and GPU work)')
    add('--async-write', action='store_true',
        help='write the PNGs on a background thread as tools/inference.py does (`write` is '
        'then the main thread\'s share; the final wait counts in the last frame)')
    add('--matmul-size', type=int, help='matmul reference size (default 2048 CPU, 8192 CUDA)')
    add('--train', action='store_true', help='time training iterations instead')
    add('--iters', type=int, default=10, help='timed training iterations')
    add('--data-root', help='dataset root for --train (overrides the config)')
    add('--seed', type=int, default=0)
    add('--json', help='write the results to this JSON file')
    add('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


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
        h, w = rng.integers(height // 10, height // 3), rng.integers(width // 20, width // 6)
        y = int(rng.integers(height // 3, height - h))
        x = int(rng.integers(0, width) + rng.integers(-6, 7) * index) % max(width - w, 1)
        image[y:y + h, x:x + w] = rng.integers(0, 256, 3)
    image += rng.normal(0, 4, (1, width, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def frame_source(args: argparse.Namespace, count: int) -> Iterator[np.ndarray]:
    """``count`` RGB frames: the ``--images`` folder (cycled if short) or synthetic ones."""
    if not args.images:
        for index in range(count):
            yield synthetic_frame(args.shape[0], args.shape[1], index, args.seed)
        return
    names = sorted(n for n in os.listdir(args.images)
                   if n.lower().endswith(('.png', '.jpg', '.jpeg')))
    if not names:
        raise FileNotFoundError(f'--images {args.images}: no .png/.jpg frame found')
    for index in range(count):
        image = cv2.imread(osp.join(args.images, names[index % len(names)]), cv2.IMREAD_COLOR)
        yield np.ascontiguousarray(image[..., ::-1])


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
def build_model(cfg: Config, args: argparse.Namespace, device: torch.device) -> nn.Module:
    """Build ``cfg.model`` (random init, no backbone download) and load ``--checkpoint``."""
    cfg = copy.deepcopy(cfg)
    if isinstance(cfg.model.get('backbone'), dict) and 'pretrained' in cfg.model.backbone:
        cfg.model.backbone.pretrained = None  # random init or the checkpoint, never a download
    torch.manual_seed(args.seed)
    model = build_detector(cfg, args.checkpoint, device)
    if args.thing_logit_bias:
        head = model.roi_head.mask_head[-1]
        with torch.no_grad():
            head.fc_cls.bias[:model.num_thing_classes] += args.thing_logit_bias
    return model


def compile_targets(model: nn.Module) -> List[nn.Module]:
    """The modules whose ``forward`` ``--compile`` compiles (the network, not the glue)."""
    targets = [getattr(model, name, None) for name in ('backbone', 'neck', 'rpn_head')]
    targets += list(getattr(getattr(model, 'roi_head', None), 'mask_head', []))
    return [module for module in targets if isinstance(module, nn.Module)]


def apply_options(model: nn.Module, args: argparse.Namespace,
                  device: torch.device) -> Callable[[], Any]:
    """Apply ``--channels-last`` / ``--compile`` in place; returns the autocast context factory."""
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
        model.backbone.register_forward_pre_hook(
            lambda _, inputs: (inputs[0].contiguous(memory_format=torch.channels_last),
                               *inputs[1:]))
    if args.compile:
        for module in compile_targets(model):
            module.forward = torch.compile(module.forward, dynamic=False)
    dtype = AMP_DTYPES.get(args.amp)
    if dtype is None:
        return contextlib.nullcontext
    return functools.partial(torch.autocast, device_type=device.type, dtype=dtype)


def predict_frame(model: nn.Module, image: np.ndarray, frame_id: int, autocast: Callable[[], Any],
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


def _total_flops(counter: FlopCounterMode) -> float:
    """The FLOPs counted so far (a :class:`RegionMeter` clock)."""
    return float(counter.get_total_flops())


def count_frame_flops(model: nn.Module, meter: RegionMeter, images: Sequence[np.ndarray],
                      autocast: Callable[[], Any]) -> Dict[str, float]:
    """FLOPs per component of the last of ``images`` (earlier ones set up the sequence state)."""
    for frame_id, image in enumerate(images[:-1]):
        predict_frame(model, image, frame_id, autocast)
    counter = FlopCounterMode(display=False)
    with counter:
        meter.clock = functools.partial(_total_flops, counter)
        meter.start()
        predict_frame(model, images[-1], len(images) - 1, autocast)
        flops = meter.stop()
    meter.clock = meter.base_clock
    return flops


# --------------------------------------------------------------------------------- comparing
def capture_outputs(model: nn.Module, images: Sequence[np.ndarray],
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


# ------------------------------------------------------------------------------- inference
def run_inference(cfg: Config, args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    """The inference benchmark; returns the result dict (see module docstring)."""
    model = build_model(cfg, args, device)
    writer = get_layout('knet').write_frame
    background = BackgroundWriter() if args.async_write else None
    if background is not None:
        writer = functools.partial(background.submit, writer)
    meter = RegionMeter(functools.partial(sync_device, device), CLOCKS[args.clock])
    if not args.no_regions:
        instrument(model, meter, inside_compiled=not args.compile)
    plain = contextlib.nullcontext
    result: Dict[str, Any] = {}
    flop_images = list(frame_source(args, 2))
    flops = count_frame_flops(model, meter, flop_images, plain)
    compare_images = list(frame_source(args, args.compare_fp32))
    reference = capture_outputs(model, compare_images, plain) if compare_images else None
    autocast = apply_options(model, args, device)
    if reference is not None:
        start = time.perf_counter()
        try:
            outputs = capture_outputs(model, compare_images, autocast)
        except Exception as error:  # noqa: BLE001  (torch.compile failures are varied)
            raise SystemExit(_option_failure(args, error)) from error
        result['compare_fp32'] = compare_outputs(reference, outputs)
        result['compare_fp32']['seconds'] = time.perf_counter() - start
    matmul_before = _matmul_reference(args, device)
    records = []
    with tempfile.TemporaryDirectory(prefix='knet_benchmark_') as tmp:
        out_dir = args.out_dir or tmp
        for frame_id, image in enumerate(frame_source(args, args.warmup + args.frames)):
            meter.start()
            try:
                sample = predict_frame(model, image, frame_id, autocast, meter, writer, out_dir)
            except Exception as error:  # noqa: BLE001
                raise SystemExit(_option_failure(args, error)) from error
            times = meter.stop()
            if frame_id == args.warmup - 1 and device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(device)
            records.append(dict(times=times, rss=rss_mb(),
                                things=int(sample.pred_instances.labels.numel())))
        if background is not None:  # the last frames' files: their wait counts in the last frame
            start = CLOCKS[args.clock]()
            background.close()
            waited = CLOCKS[args.clock]() - start
            for key in ('write', 'total'):
                records[-1]['times'][key] = records[-1]['times'].get(key, 0.0) + waited
    matmul_after = _matmul_reference(args, device)
    result.update(summarize(records[args.warmup:], flops, matmul_before, matmul_after))
    result.update(
        warmup_s=[r['times']['total'] for r in records[:args.warmup]],
        peak_mem_mb=peak_memory_mb(device), rss_mb_per_frame=[r['rss'] for r in records],
        rss_mb_frame10=records[min(9, len(records) - 1)]['rss'], rss_mb_last=records[-1]['rss'],
        thing_segments_mean=statistics.mean(r['things'] for r in records[args.warmup:]))
    tracker = getattr(model, 'tracker', None)
    if hasattr(tracker, 'memory_size'):
        result['tracker_memory'] = list(tracker.memory_size())
    return result


def _option_failure(args: argparse.Namespace, error: Exception) -> str:
    """One-line message for a failed frame, naming the options in use."""
    options = [name for name, on in (('--compile', args.compile), (f'--amp {args.amp}', args.amp),
                                     ('--channels-last', args.channels_last)) if on]
    detail = (str(error).strip().splitlines() or [''])[0][:300]
    return (f'benchmark: inference failed with {" ".join(options) or "no option"}: '
            f'{type(error).__name__}: {detail} (run without these options to compare)')


def _matmul_reference(args: argparse.Namespace, device: torch.device) -> Dict[str, float]:
    """fp32 and (with ``--amp``) low-precision matmul GFLOP/s."""
    size = args.matmul_size or (8192 if device.type == 'cuda' else 2048)
    clock = CLOCKS[args.clock]
    ref = dict(fp32=matmul_gflops(device, torch.float32, size, clock=clock))
    if args.amp:
        ref[args.amp] = matmul_gflops(device, AMP_DTYPES[args.amp], size, clock=clock)
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


# -------------------------------------------------------------------------------- training
def _set_data_root(dataset_cfg: Dict[str, Any], data_root: str) -> None:
    """Set ``data_root`` on a dataset config and on the datasets it wraps."""
    while isinstance(dataset_cfg, dict):
        if 'data_root' in dataset_cfg or 'dataset' not in dataset_cfg:
            dataset_cfg['data_root'] = data_root
        dataset_cfg = dataset_cfg.get('dataset')


def run_training(cfg: Config, args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    """Time ``--warmup`` + ``--iters`` training iterations of the config's train dataloader."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner
    from mmengine.utils.dl_utils import set_multi_processing

    if args.amp == 'fp16':
        raise SystemExit('benchmark --train: fp16 autocast needs a loss scaler; use --amp bf16 '
                         'here (tools/train.py --amp for fp16 training)')
    set_multi_processing(**cfg.get('env_cfg', {}).get('mp_cfg', {}), distributed=False)
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    if args.data_root:
        _set_data_root(loader_cfg['dataset'], args.data_root)
    loader = Runner.build_dataloader(loader_cfg, seed=args.seed)
    model = build_model(cfg, args, device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    meter = RegionMeter(functools.partial(sync_device, device))
    probes = instrument(model, meter, inside_compiled=not args.compile)
    probes.time_module(model, 'losses')
    probes.time_method(optim_wrapper, 'backward', 'backward')
    for attr in ('step', 'zero_grad'):
        probes.time_method(optim_wrapper, attr, 'optimizer_step')
    autocast = apply_options(model, args, device)
    batches, records = iter(loader), []
    for index in range(args.warmup + args.iters + 1):
        start = time.perf_counter()
        data = next(batches)
        data_time = time.perf_counter() - start
        counter = FlopCounterMode(display=False) if index == args.warmup else None
        with counter or contextlib.nullcontext():
            if counter is not None:
                meter.clock = functools.partial(_total_flops, counter)
            meter.start()
            with autocast():
                model.train_step(data, optim_wrapper)
            times = meter.stop()
        if counter is not None:  # the FLOP-counted iteration is not timed
            meter.clock, flops = meter.base_clock, times
            continue
        times['total'] += data_time
        records.append(dict(times=dict(times, data=data_time), rss=rss_mb()))
    del batches
    matmul = _matmul_reference(args, device)
    result = summarize(records[args.warmup:], flops, matmul, matmul)
    data_times = [r['times']['data'] for r in records[args.warmup:]]
    totals = [r['times']['total'] for r in records[args.warmup:]]
    result.update(data_ms_median=1000 * statistics.median(data_times),
                  data_share=sum(data_times) / sum(totals),
                  num_workers=loader_cfg.get('num_workers', 0),
                  batch_size=loader_cfg.get('batch_size', 1), peak_mem_mb=peak_memory_mb(device))
    return result


# ---------------------------------------------------------------------------------- report
def environment(args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    """Machine, versions and options, recorded with every result."""
    if device.type == 'cuda':
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        with contextlib.suppress(OSError):
            with open('/proc/cpuinfo') as file:
                name = next((line.split(':', 1)[1].strip() for line in file
                             if line.startswith('model name')), name)
        name = f'{name}, {os.cpu_count()} logical CPUs'
    return dict(config=args.config, checkpoint=args.checkpoint, device=str(device),
                device_name=name, torch=torch.__version__, threads=torch.get_num_threads(),
                load_avg_start=list(os.getloadavg()), mode='train' if args.train else 'inference',
                clock=args.clock,
                shape=list(args.shape), frames=args.iters if args.train else args.frames,
                warmup=args.warmup, amp=args.amp, channels_last=args.channels_last,
                compile=args.compile, thing_logit_bias=args.thing_logit_bias)


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


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the benchmark, print the report, write ``--json``; returns the result dict."""
    args = parse_args(argv)
    if args.frames < 1 or args.iters < 1 or args.warmup < 0:
        raise SystemExit('benchmark: need --frames >= 1, --iters >= 1 and --warmup >= 0')
    if args.train and args.clock != 'wall':
        raise SystemExit('benchmark --train measures data-loading waits: use --clock wall')
    if not osp.isfile(args.config):
        raise SystemExit(f'benchmark: config file {args.config} does not exist')
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('benchmark: --device cuda requested but CUDA is not available')
    if args.threads:
        torch.set_num_threads(args.threads)
    if not MMLogger.check_instance_created('knet_benchmark'):
        MMLogger.get_instance('knet_benchmark', log_level='ERROR')  # silence init logs
    cfg = load_config(args.config, args.cfg_options)
    result = environment(args, device)
    run = run_training if args.train else run_inference
    result.update(run(cfg, args, device))
    result['load_avg_end'] = list(os.getloadavg())
    print(format_report(result), flush=True)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as file:
            json.dump(result, file, indent=1)
    return result


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
