"""Video K-Net on a video file or a folder of frames, with an annotated GIF.

Usage::

    python tools/video_demo.py INPUT CONFIG CHECKPOINT --out OUT [--device cpu|cuda] [--fps 10]
        [--mp4] [--max-frames N] [--cfg-options k=v ...]

INPUT is a video file (read with ``cv2.VideoCapture``) or a folder of frames (``.png``, ``.jpg``,
``.jpeg``, ``.bmp``; only the ``*_leftImg8bit.*`` ones if there are such, as in a KITTI-STEP
folder) sorted numerically (``frame2.png`` before ``frame10.png``). The frames are one
sequence (id 0) processed online, frame by frame (:func:`video_knet.apis.inference_video`): the
model resets its kernel memory and tracker at frame 0. The config's test pipeline is applied
minus its loading transforms. Outputs:

* ``OUT/panoptic/0/000000_{frame:06d}_cat.png`` (uint16 class id, 255 = none), ``_ins.png``
  (uint16 track id, 0 = none) and ``OUT/final/0000/{frame:06d}.png``: the ``'knet'`` results
  layout of :mod:`vseg.layouts`, which the evaluators and ``tools/visualize.py`` read;
* ``OUT/panel/000000_{frame:06d}_panel.png``: image | semantic colours | track colours
  (:mod:`knet.visualization`; class palette from the checkpoint's dataset metainfo);
* ``OUT/demo.gif`` (and ``OUT/demo.mp4`` with ``--mp4``) of the panels.
"""
import argparse
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.config import DictAction
from PIL import Image
from tqdm import tqdm

from knet.visualization import (
    colorize_ids,
    colorize_semantic,
    make_panel,
    read_rgb,
    write_gif,
    write_video,
)
from video_knet.apis import FramePrediction, inference_video, init_detector, open_frames
from vseg.layouts import get_layout

#: The frames of the input form one sequence with this id.
SEQ_ID = 0
STEM = '{seq:06d}_{frame:06d}'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Run Video K-Net on a video or frame folder')
    parser.add_argument('input', help='video file or folder of frames')
    parser.add_argument('config', help='model config (its test pipeline is used)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='torch device (default: %(default)s)')
    parser.add_argument('--fps', type=float, default=10.0, help='GIF / MP4 frame rate')
    parser.add_argument('--mp4', action='store_true', help='also write OUT/demo.mp4')
    parser.add_argument('--max-frames', type=int, help='process at most N frames')
    parser.add_argument('--panel-gap', type=int, default=4, help='white gap between panels')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args(argv)


def colour_meta(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The dataset metainfo with the keys the panels need (KeyError naming the missing ones)."""
    missing = [key for key in ('palette', 'ignore_label') if key not in meta]
    if missing:
        raise KeyError(f'dataset metainfo lacks {missing} (needed to colour the results; from '
                       'the checkpoint\'s meta.dataset_meta or the test dataset class)')
    return meta


def write_frame(out: str, prediction: FramePrediction, meta: Dict[str, Any], gap: int) -> str:
    """Write a frame's result PNGs (results layout) and its panel; returns the panel path."""
    semantic, track_ids = prediction.semantic, prediction.instance
    get_layout('knet').write_frame(out, SEQ_ID, prediction.frame_id, semantic, track_ids)
    panel = make_panel([prediction.image,
                        colorize_semantic(semantic, meta['palette'], meta['ignore_label']),
                        colorize_ids(track_ids)], gap=gap)
    path = osp.join(out, 'panel', f'{STEM.format(seq=SEQ_ID, frame=prediction.frame_id)}'
                    '_panel.png')
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(panel, mode='RGB').save(path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the demo; returns ``dict(frames, panels, gif, mp4, fps)``."""
    args = parse_args(argv)
    model = init_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    meta = colour_meta(model.dataset_meta)
    frames, count = open_frames(args.input)
    if args.max_frames is not None:
        count = min(count, args.max_frames) if count is not None else args.max_frames
    panels: List[str] = []
    start = time.time()
    predictions = inference_video(model, frames, SEQ_ID, args.max_frames)
    for prediction in tqdm(predictions, total=count, unit='frame', desc='video demo',
                           dynamic_ncols=True):
        panels.append(write_frame(args.out, prediction, meta, args.panel_gap))
    if not panels:
        raise ValueError(f'{args.input}: no frame could be read')
    fps = len(panels) / max(time.time() - start, 1e-9)
    gif = osp.join(args.out, 'demo.gif')
    write_gif((read_rgb(path) for path in panels), gif, args.fps)
    mp4 = None
    if args.mp4:
        mp4 = osp.join(args.out, 'demo.mp4')
        write_video((read_rgb(path) for path in panels), mp4, args.fps)
    print(f'{len(panels)} frames at {fps:.2f} frames/s; results in '
          f'{osp.join(args.out, "panoptic")}, animation {gif}' + (f' and {mp4}' if mp4 else ''))
    return dict(frames=len(panels), panels=panels, gif=gif, mp4=mp4, fps=fps)


if __name__ == '__main__':
    main()
