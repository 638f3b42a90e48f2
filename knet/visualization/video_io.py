"""Writing frame sequences as GIF (PIL) or MP4 (cv2.VideoWriter).

Frames are (H, W, 3) uint8 **RGB**; the MP4 writer converts to OpenCV's BGR itself. The original
wrote GIFs at 33 ms per frame with frames in ``os.listdir`` order; here the caller passes frames
in order (see :func:`knet.visualization.find_result_frames`) and picks the rate.
"""
import os
import os.path as osp
from typing import Iterable, Iterator, List

import cv2
import numpy as np
from PIL import Image, ImageSequence


def _check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate one (H, W, 3) uint8 RGB frame."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f'frames must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}')
    return frame


def write_gif(frames: Iterable[np.ndarray], path: str, fps: float = 10.0) -> int:
    """Write an endlessly looping GIF.

    Frames are consumed lazily (PIL keeps only the palettised copies). Note that PIL merges a
    frame identical to its predecessor into it (the duration adds up), so the file may hold
    fewer frames than given while playing for the same time.

    Args:
        frames: (H, W, 3) uint8 RGB frames, in display order.
        path: output ``.gif`` path; parent folders are created.
        fps: frames per second (the frame duration is rounded to whole milliseconds).

    Returns:
        The number of frames given.
    """
    if fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    count = [0]

    def images() -> Iterator[Image.Image]:
        for frame in frames:
            count[0] += 1
            yield Image.fromarray(_check_frame(frame), mode='RGB')

    stream = images()
    first = next(stream, None)
    if first is None:
        raise ValueError(f'write_gif: no frames for {path}')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    first.save(path, format='GIF', save_all=True, append_images=stream,
               duration=max(1, round(1000.0 / fps)), loop=0)
    return count[0]


def write_video(frames: Iterable[np.ndarray], path: str, fps: float = 10.0,
                fourcc: str = 'mp4v') -> int:
    """Write an MP4 (or another ``cv2.VideoWriter`` format) from RGB frames of one size.

    Args:
        frames: (H, W, 3) uint8 RGB frames, in display order.
        path: output path (``.mp4`` for the default codec); parent folders are created.
        fps: frames per second.
        fourcc: four-character codec code.

    Returns:
        The number of frames written.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    writer = None
    count = 0
    try:
        for frame in frames:
            frame = _check_frame(frame)
            height, width = frame.shape[:2]
            if writer is None:
                code = cv2.VideoWriter.fourcc(*fourcc)
                writer = cv2.VideoWriter(path, code, float(fps), (width, height))
                if not writer.isOpened():
                    raise RuntimeError(f'cv2.VideoWriter cannot open {path} with codec '
                                       f'{fourcc!r}')
                size = (height, width)
            elif (height, width) != size:
                raise ValueError(f'{path}: frame {count} is {height}x{width}, the first frame '
                                 f'{size[0]}x{size[1]}')
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count == 0:
        raise ValueError(f'write_video: no frames for {path}')
    return count


def read_gif_frames(path: str) -> List[np.ndarray]:
    """Read every frame of a GIF as (H, W, 3) uint8 RGB (for checks and browse tools)."""
    with Image.open(path) as gif:
        return [np.asarray(frame.convert('RGB')) for frame in ImageSequence.Iterator(gif)]
