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
Definitions and measured figures: docs/PERFORMANCE.md. This file is the command line and the two
runs; the measuring pieces are :mod:`knet.engine.benchmarking`.
"""
import argparse
import contextlib
import copy
import functools
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from knet.engine.benchmarking import (
    AMP_DTYPES,
    CLOCKS,
    apply_options,
    capture_outputs,
    count_frame_flops,
    device_name,
    flop_clock,
    format_report,
    frame_source,
    frame_statistics,
    matmul_reference,
    predict_frame,
    set_data_root,
    summarize,
)
from knet.engine.profiling import (
    RegionMeter,
    compare_outputs,
    instrument,
    peak_memory_mb,
    rss_mb,
    sync_device,
)
from video_knet.apis import BackgroundWriter, build_detector, load_config
from vseg.layouts import get_layout


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
    frames = functools.partial(frame_source, shape=args.shape, seed=args.seed, images=args.images)
    flop_images = list(frames(2))
    flops = count_frame_flops(model, meter, flop_images, plain)
    compare_images = list(frames(args.compare_fp32))
    reference = capture_outputs(model, compare_images, plain) if compare_images else None
    autocast = apply_options(model, device, args.channels_last, args.compile, args.amp)
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
        for frame_id, image in enumerate(frames(args.warmup + args.frames)):
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
    result.update(frame_statistics(records, args.warmup, device))
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
    return matmul_reference(device, CLOCKS[args.clock], args.matmul_size, args.amp)


# -------------------------------------------------------------------------------- training
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
        set_data_root(loader_cfg['dataset'], args.data_root)
    loader = Runner.build_dataloader(loader_cfg, seed=args.seed)
    model = build_model(cfg, args, device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    meter = RegionMeter(functools.partial(sync_device, device))
    probes = instrument(model, meter, inside_compiled=not args.compile)
    probes.time_module(model, 'losses')
    probes.time_method(optim_wrapper, 'backward', 'backward')
    for attr in ('step', 'zero_grad'):
        probes.time_method(optim_wrapper, attr, 'optimizer_step')
    autocast = apply_options(model, device, args.channels_last, args.compile, args.amp)
    batches, records = iter(loader), []
    for index in range(args.warmup + args.iters + 1):
        start = time.perf_counter()
        data = next(batches)
        data_time = time.perf_counter() - start
        counter = FlopCounterMode(display=False) if index == args.warmup else None
        with counter or contextlib.nullcontext():
            if counter is not None:
                meter.clock = functools.partial(flop_clock, counter)
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
    return dict(config=args.config, checkpoint=args.checkpoint, device=str(device),
                device_name=device_name(device), torch=torch.__version__,
                threads=torch.get_num_threads(), load_avg_start=list(os.getloadavg()),
                mode='train' if args.train else 'inference', clock=args.clock,
                shape=list(args.shape), frames=args.iters if args.train else args.frames,
                warmup=args.warmup, amp=args.amp, channels_last=args.channels_last,
                compile=args.compile, thing_logit_bias=args.thing_logit_bias)


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
