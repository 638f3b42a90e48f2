"""Writing predictions on a background thread: :class:`BackgroundWriter`, :class:`ResultWriter`.

PNG encoding (OpenCV releases the GIL) and file I/O then overlap the next frames' forward passes
(~15 ms of CPU per KITTI-STEP frame: half a frame at 30 FPS on a GPU). The files themselves are
those of a results layout of :mod:`vseg.layouts` (default ``'knet'``), written atomically.
"""
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, Optional

from vseg.layouts import ResultsLayout, get_layout
from .inference import FramePrediction


class BackgroundWriter:
    """Runs write jobs on one worker thread, in submission order, at most ``max_pending`` queued.

    The first error of a job is raised by a later :meth:`submit` or by :meth:`close`; leaving the
    ``with`` block waits for every queued job, also when the block raised.

    Args:
        max_pending: jobs queued or running before :meth:`submit` waits (>= 1); bounds the
            memory held by queued frames.
    """

    def __init__(self, max_pending: int = 8) -> None:
        if max_pending < 1:
            raise ValueError(f'BackgroundWriter: max_pending must be >= 1, got {max_pending}')
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix='png-writer')
        self._pending: Deque[Future] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` (waits while ``max_pending`` jobs are queued)."""
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Wait for every queued job; raise the first error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> 'BackgroundWriter':
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            if exc_type is None:  # else the block's own error is the one reported
                raise


class ResultWriter:
    """Writes :class:`FramePrediction` s into a results layout under ``root``.

    Args:
        root: the results folder.
        layout: a :mod:`vseg.layouts` name or layout object (default ``'knet'``: ``_cat`` /
            ``_ins`` PNGs and the KITTI-STEP submission PNG of every frame).
        max_pending: frames queued on the background thread (0: write synchronously).
    """

    def __init__(self, root: str, layout: Any = 'knet', max_pending: int = 8) -> None:
        self.root = root
        self.layout: ResultsLayout = get_layout(layout) if isinstance(layout, str) else layout
        self._background = BackgroundWriter(max_pending) if max_pending > 0 else None

    def write(self, prediction: FramePrediction) -> Optional[Dict[str, str]]:
        """Write (or queue) one frame; returns its paths when written synchronously."""
        args = (self.root, prediction.seq_id, prediction.frame_id, prediction.semantic,
                prediction.instance)
        if self._background is None:
            return self.layout.write_frame(*args)
        self._background.submit(self.layout.write_frame, *args)
        return None

    def close(self) -> None:
        """Wait for the queued frames; raise the first error."""
        if self._background is not None:
            self._background.close()

    def __enter__(self) -> 'ResultWriter':
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if self._background is not None:
            self._background.__exit__(exc_type, exc, traceback)
