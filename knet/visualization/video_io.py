"""Writing frame sequences as GIF (PIL) or H.264 MP4 (imageio-ffmpeg), and RGB PNGs.

Frames are (H, W, 3) uint8 **RGB**. The original
wrote GIFs at 33 ms per frame with frames in ``os.listdir`` order; here the caller passes frames
in order (see :func:`knet.visualization.find_result_frames`) and picks the rate. Every file is
written atomically (:mod:`vseg.io`): a failed write leaves neither a partial file nor a
temporary one, and a link at the target is replaced, not written through.
"""
import io
from typing import Iterable, Iterator, List

import numpy as np
from PIL import Image, ImageSequence

from vseg.io import atomic_path, write_bytes_atomic


def _check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate one (H, W, 3) uint8 RGB frame."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f'frames must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}')
    return frame


def write_rgb_png(path: str, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image as PNG (PIL's encoder), atomically."""
    buffer = io.BytesIO()
    Image.fromarray(_check_frame(rgb), mode='RGB').save(buffer, format='PNG')
    write_bytes_atomic(path, buffer.getvalue())


def write_gif(frames: Iterable[np.ndarray], path: str, fps: float = 10.0) -> int:
    """Write an endlessly looping GIF.

    Frames are consumed lazily (PIL keeps only the palettised copies). Note that PIL merges a
    frame identical to its predecessor into it (the duration adds up), so the file may hold
    fewer frames than given while playing for the same time.

    Args:
        frames: (H, W, 3) uint8 RGB frames, in display order.
        path: output ``.gif`` path; parent folders are created. Written once complete (the
            palettised frames are held in memory until then).
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
    buffer = io.BytesIO()
    first.save(buffer, format='GIF', save_all=True, append_images=stream,
               duration=max(1, round(1000.0 / fps)), loop=0)
    write_bytes_atomic(path, buffer.getvalue())
    return count[0]


def write_video(frames: Iterable[np.ndarray], path: str, fps: float = 10.0) -> int:
    """Write an H.264 MP4 (yuv420p, plays in browsers) from RGB frames of one size.

    Encoded by the ffmpeg binary that the ``imageio-ffmpeg`` wheel ships (nothing to install
    system-wide). yuv420p needs even sides: an odd height or width is padded by one black row or
    column.

    Args:
        frames: (H, W, 3) uint8 RGB frames, in display order.
        path: output path (``.mp4``); parent folders are created.
        fps: frames per second.

    Returns:
        The number of frames written.
    """
    with atomic_path(path) as tmp:
        return _encode_video(frames, tmp, path, fps)


def _encode_video(frames: Iterable[np.ndarray], tmp: str, path: str, fps: float) -> int:
    """Encode ``frames`` into the file ``tmp`` (the messages name ``path``); returns the count."""
    import imageio_ffmpeg  # the ffmpeg binary is only needed here
    writer = None
    count = 0
    size = (0, 0)
    try:
        for frame in frames:
            frame = _check_frame(frame)
            height, width = frame.shape[:2]
            if writer is None:
                size = (height, width)
                writer = imageio_ffmpeg.write_frames(
                    tmp, (width + width % 2, height + height % 2), fps=float(fps),
                    codec='libx264', pix_fmt_out='yuv420p', macro_block_size=1,
                    output_params=['-f', 'mp4'], ffmpeg_log_level='error')
                writer.send(None)  # start the encoder
            elif (height, width) != size:
                raise ValueError(f'{path}: frame {count} is {height}x{width}, the first frame '
                                 f'{size[0]}x{size[1]}')
            padded = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)))
            writer.send(np.ascontiguousarray(padded))
            count += 1
    except (OSError, RuntimeError) as error:
        raise RuntimeError(f'cannot encode {path} with ffmpeg (libx264): {error}') from error
    finally:
        if writer is not None:
            writer.close()
    if count == 0:
        raise ValueError(f'write_video: no frames for {path}')
    return count


def video_codec(path: str) -> str:
    """The codec name of the first video stream of ``path`` (e.g. ``'h264'``), read with the
    ffmpeg binary of ``imageio-ffmpeg``."""
    import subprocess

    import imageio_ffmpeg
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-hide_banner', '-i', path],
                           capture_output=True, text=True)
    for line in probe.stderr.splitlines():
        if 'Video:' in line:
            return line.split('Video:')[1].split()[0].strip(',')
    raise ValueError(f'{path}: no video stream found by ffmpeg')


def read_gif_frames(path: str) -> List[np.ndarray]:
    """Read every frame of a GIF as (H, W, 3) uint8 RGB (for checks and browse tools)."""
    with Image.open(path) as gif:
        return [np.asarray(frame.convert('RGB')) for frame in ImageSequence.Iterator(gif)]
