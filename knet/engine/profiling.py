"""Timing, FLOP and memory helpers of ``tools/analysis/benchmark.py``.

:class:`RegionMeter` accounts the exclusive time (or FLOPs) of named, nested regions that
:func:`instrument` installs on a (Video) K-Net as :class:`Probes` (forward hooks and wrapped
methods, removable), so the model holds no timing code; :meth:`Probes.observe_method` records
what a method receives and returns (the benchmark's fp32 comparison). The rest: process
memory, a matmul FLOP/s reference, percentiles and the comparison of optioned outputs with fp32
ones. The benchmark's procedure built on them (frames, options, FLOP counting, summaries) is
:mod:`knet.engine.benchmarking`. Definitions: docs/PERFORMANCE.md.
"""
import contextlib
import functools
import inspect
import os
import resource
import statistics
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from knet.structures import LABEL_DIVISOR


class RegionMeter:
    """Exclusive amount (time, or FLOPs with another clock) spent in named, nested regions.

    A region's amount excludes its child regions, so all regions plus ``other`` add up to the
    frame. Regions with the same name accumulate.

    Args:
        sync: called at every region boundary (``torch.cuda.synchronize`` on CUDA).
        clock: seconds (``time.perf_counter`` wall clock or ``time.process_time`` CPU time).
    """

    def __init__(self, sync: Callable[[], None],
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.sync = sync
        self.base_clock = clock
        self.clock = clock
        self.enabled = False
        self._stack: List[list] = []
        self.totals: Dict[str, float] = {}

    def start(self) -> None:
        """Start a frame: reset the totals."""
        self.sync()
        self.totals, self._stack, self.enabled = {}, [], True
        self._frame_start = self.clock()

    def stop(self) -> Dict[str, float]:
        """End the frame; returns the totals plus ``other`` and ``total``."""
        self.sync()
        total = self.clock() - self._frame_start
        self.enabled = False
        totals = dict(self.totals)
        totals['other'] = total - sum(totals.values())
        totals['total'] = total
        return totals

    def push(self, name: str) -> None:
        """Enter region ``name``."""
        if self.enabled:
            self.sync()
            self._stack.append([name, self.clock(), 0.0])

    def pop(self) -> None:
        """Leave the innermost region."""
        if self.enabled and self._stack:
            self.sync()
            name, start, children = self._stack.pop()
            elapsed = self.clock() - start
            self.totals[name] = self.totals.get(name, 0.0) + elapsed - children
            if self._stack:
                self._stack[-1][2] += elapsed

    @contextlib.contextmanager
    def region(self, name: str) -> Iterator[None]:
        """``with meter.region(name):`` times the block."""
        self.push(name)
        try:
            yield
        finally:
            self.pop()


class Probes:
    """Probes installed on a model from outside: timing regions and call observers.

    The model holds no profiling code; a probe is either a torch forward (pre-)hook of a module
    or a wrapper of a bound method, stored as an instance attribute that shadows the class's
    method. :meth:`remove` (or leaving the ``with`` block) takes every probe off again, in the
    reverse order of installation, restoring the objects as they were.

    Args:
        meter: the meter the timing probes report to (None: only observers).
    """

    def __init__(self, meter: Optional[RegionMeter] = None) -> None:
        self.meter = meter
        self._undo: List[Callable[[], None]] = []

    def time_module(self, module: nn.Module, name: str) -> None:
        """Time every call of ``module`` as region ``name`` (forward pre-hook / hook)."""
        meter = self._timing_meter()
        handles = [module.register_forward_pre_hook(lambda *_: meter.push(name)),
                   module.register_forward_hook(lambda *_: meter.pop())]

        def undo() -> None:
            for handle in handles:
                handle.remove()

        self._undo.append(undo)

    def time_method(self, obj: Any, attr: str, name: str) -> None:
        """Time every ``obj.attr(...)`` call as region ``name``."""
        meter = self._timing_meter()

        def timed(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            with meter.region(name):
                return method(*args, **kwargs)

        self._wrap(obj, attr, timed)

    def observe_method(self, obj: Any, attr: str,
                       callback: Callable[[Dict[str, Any], Any], None]) -> None:
        """Call ``callback(arguments, result)`` after every ``obj.attr(...)`` call.

        ``arguments`` maps the method's parameter names to the values of the call (defaults
        applied), so the observer does not depend on how the caller passed them.
        """
        signature = inspect.signature(getattr(obj, attr))

        def observed(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            callback(dict(bound.arguments), result)
            return result

        self._wrap(obj, attr, observed)

    def remove(self) -> None:
        """Take every probe off, last installed first."""
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> 'Probes':
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()

    def _timing_meter(self) -> RegionMeter:
        if self.meter is None:
            raise ValueError('Probes: timing probes need a RegionMeter')
        return self.meter

    def _wrap(self, obj: Any, attr: str, wrapper: Callable[..., Any]) -> None:
        """Shadow ``obj.attr`` by ``wrapper(method, *args, **kwargs)``; undone by :meth:`remove`."""
        method = getattr(obj, attr)
        had_own = attr in vars(obj)
        previous = vars(obj).get(attr)
        setattr(obj, attr, functools.wraps(method)(functools.partial(wrapper, method)))

        def undo() -> None:
            if had_own:
                setattr(obj, attr, previous)
            else:
                delattr(obj, attr)

        self._undo.append(undo)


def instrument(model: nn.Module, meter: RegionMeter, inside_compiled: bool = True) -> Probes:
    """Install the component regions on the parts the model has (image or video K-Net).

    Args:
        model: a ``KNet`` / ``VideoKNet``.
        meter: the meter the regions report to.
        inside_compiled: also time the parts that run inside a compiled ``forward``
            (``link_kernels`` of a stage, the semantic FPN inside the kernel head); False under
            ``--compile``, where timing code would break the graphs (they count in their parent).

    Returns:
        the installed :class:`Probes` (``remove()`` takes them off).
    """
    probes = Probes(meter)
    modules = [('data_preprocessor', 'preprocess'), ('backbone', 'backbone'), ('neck', 'fpn'),
               ('rpn_head', 'kernel_head')]
    for attr, name in modules:
        if isinstance(getattr(model, attr, None), nn.Module):
            probes.time_module(getattr(model, attr), name)
    if hasattr(getattr(model, 'roi_head', None), 'forward'):  # called as self.forward(...)
        probes.time_method(model.roi_head, 'forward', 'mask_upsample')
    fpn = getattr(getattr(model, 'rpn_head', None), 'localization_fpn', None)
    if fpn is not None and inside_compiled:
        probes.time_module(fpn, 'semantic_fpn')
    for stage, head in enumerate(getattr(getattr(model, 'roi_head', None), 'mask_head', [])):
        probes.time_module(head, f'stage{stage}')
        if inside_compiled and getattr(head, 'with_link', False):
            probes.time_method(head, 'link_kernels', 'kernel_link')
    methods = [('rescale_masks', 'mask_rescale'), ('merge_frame', 'panoptic_merge'),
               ('add_pred_to_sample', 'panoptic_merge'), ('track_segments', 'tracker')]
    for attr, name in methods:
        if hasattr(model, attr):
            probes.time_method(model, attr, name)
    return probes


def rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    with open('/proc/self/statm') as file:
        return int(file.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_memory_mb(device: torch.device) -> float:
    """Peak RSS of the process (CPU) or peak allocated CUDA memory (MB)."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(device: torch.device, dtype: torch.dtype, size: int, reps: int = 5,
                  clock: Callable[[], float] = time.perf_counter) -> float:
    """GFLOP/s of a (size x size) @ (size x size) matmul: median of ``reps`` after one warm-up."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    times = []
    for rep in range(reps + 1):
        sync_device(device)
        start = clock()
        torch.mm(a, b)
        sync_device(device)
        if rep:
            times.append(clock() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def sync_device(device: torch.device) -> None:
    """Wait for the device (no-op on CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` in [0, 100] (numpy's default)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def compare_outputs(ref: Sequence[Dict[str, torch.Tensor]],
                    new: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, Any]:
    """Differences of optioned outputs to fp32 ones (probabilities, pixels, segments)."""
    pixel_agreement, min_iou, equal_frames = [], 1.0, 0
    for a, b in zip(ref, new):
        pan_a = a['sem'].long() * LABEL_DIVISOR + a['ins'].long()
        pan_b = b['sem'].long() * LABEL_DIVISOR + b['ins'].long()
        pixel_agreement.append(float((pan_a == pan_b).float().mean()))
        ids_a, ids_b = set(pan_a.unique().tolist()), set(pan_b.unique().tolist())
        equal_frames += ids_a == ids_b
        for seg in ids_a | ids_b:
            in_a, in_b = pan_a == seg, pan_b == seg
            min_iou = min(min_iou, float((in_a & in_b).sum()) / float((in_a | in_b).sum()))
    return dict(
        frames=len(ref), pixel_agreement_min=min(pixel_agreement),
        frames_with_same_segments=equal_frames, segment_iou_min=min_iou,
        nonfinite_frames=sum(not bool(torch.isfinite(b['cls']).all()) for b in new),
        cls_prob_max_abs_diff=float(torch.stack(
            [(a['cls'] - b['cls']).abs().max() for a, b in zip(ref, new)]).max()),
        mask_prob_max_abs_diff=float(torch.stack(
            [(a['masks'] - b['masks']).abs().max() for a, b in zip(ref, new)]).max()))
