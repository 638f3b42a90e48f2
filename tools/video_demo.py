"""Video K-Net on a video file or a folder of frames, with an annotated GIF (DESIGN.md §1b, §9).

Usage::

    python tools/video_demo.py INPUT CONFIG CHECKPOINT --out OUT [--device cpu|cuda] [--fps 10]
        [--mp4] [--max-frames N] [--cfg-options k=v ...]

INPUT is a video file (read with ``cv2.VideoCapture``) or a folder of frames (``.png``, ``.jpg``,
``.jpeg``, ``.bmp``; only the ``*_leftImg8bit.*`` ones if there are such, as in a KITTI-STEP
folder) sorted numerically (``frame2.png`` before ``frame10.png``). The frames are one
sequence (id 0) processed online, frame by frame, as in inference (§1b): the model resets its
kernel memory and tracker at frame 0. The config's test pipeline is applied minus its loading
transforms. Outputs:

* ``OUT/panoptic/0/000000_{frame:06d}_cat.png`` (uint16 class id, 255 = none), ``_ins.png``
  (uint16 track id, 0 = none) and ``OUT/final/0000/{frame:06d}.png``, written by
  ``tools/inference.py``'s writer, so the evaluators and ``tools/visualize.py`` read them;
* ``OUT/panel/000000_{frame:06d}_panel.png``: image | semantic colours | track colours
  (:mod:`knet.visualization`; class palette from the checkpoint's dataset metainfo);
* ``OUT/demo.gif`` (and ``OUT/demo.mp4`` with ``--mp4``) of the panels.
"""
import argparse
import os
import os.path as osp
import re
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader
from PIL import Image
from tqdm import tqdm

import knet  # noqa: F401  (registers modules; torch>=2.6 checkpoint loading)
import video_knet  # noqa: F401  (registers the video modules)
from knet.registry import DATASETS
from knet.visualization import (colorize_ids, colorize_semantic, make_panel, read_rgb,
                                write_gif, write_video)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from inference import build_model, write_frame_results  # noqa: E402

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')
#: Transforms that read files; the demo provides the decoded frame instead.
LOADING_TRANSFORMS = ('LoadFrames', 'LoadPanopticAnnotations')
#: Name part of the images in the KITTI-STEP / Cityscapes layout (labels sit beside them).
IMAGE_TAG = '_leftImg8bit'
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


def numeric_key(name: str) -> Tuple[Any, ...]:
    """Sort key comparing digit runs as numbers: ``f2.png`` < ``f10.png``."""
    return tuple(int(part) if part.isdigit() else part.lower()
                 for part in re.split(r'(\d+)', name))


def list_frames(folder: str) -> List[str]:
    """Image files of ``folder`` in numeric order (only ``*_leftImg8bit.*`` if any)."""
    names = [name for name in os.listdir(folder)
             if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.')]
    if not names:
        raise FileNotFoundError(f'{folder}: no frame with extension {IMAGE_EXTENSIONS}')
    images = [name for name in names if IMAGE_TAG in name]
    names = images or names
    return [osp.join(folder, name) for name in sorted(names, key=numeric_key)]


def read_video(path: str) -> Iterator[np.ndarray]:
    """Frames of a video file as (H, W, 3) uint8 RGB."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'{path}: cv2.VideoCapture cannot open this video')
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def open_input(path: str) -> Tuple[Iterator[Tuple[str, np.ndarray]], Optional[int]]:
    """``(frames, count)``: an iterator of (name, (H, W, 3) uint8 RGB) and the frame count
    (None if unknown)."""
    if osp.isdir(path):
        files = list_frames(path)
        return ((file, read_rgb(file)) for file in files), len(files)
    if not osp.isfile(path):
        raise FileNotFoundError(f'input {path} is neither a folder of frames nor a video file')
    capture = cv2.VideoCapture(path)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    frames = ((f'{path}#{index}', frame) for index, frame in enumerate(read_video(path)))
    return frames, count if count > 0 else None


def dataset_meta(cfg: Config, checkpoint: dict) -> Dict[str, Any]:
    """Palette, classes and ignore label: the checkpoint's ``meta.dataset_meta`` if present,
    else the ``METAINFO`` of the config's test dataset class."""
    meta = (checkpoint.get('meta') or {}).get('dataset_meta')
    if not meta:
        loader = cfg.get('test_dataloader')
        dataset_type = None if loader is None else loader.dataset.type
        meta = getattr(DATASETS.get(dataset_type) if dataset_type else None, 'METAINFO', None)
        if not meta:
            raise KeyError(f'{cfg.filename}: no dataset metainfo in the checkpoint nor in '
                           f'the test dataset class ({dataset_type})')
    missing = [key for key in ('palette', 'ignore_label') if key not in meta]
    if missing:
        raise KeyError(f'dataset metainfo lacks {missing} (needed to colour the results)')
    return dict(meta)


def init_model(config: str, checkpoint: str, device: str,
               cfg_options: Optional[dict] = None) -> Tuple[torch.nn.Module, Config, dict]:
    """Build the config's model and load ``checkpoint`` (``tools/inference.py``'s loader).

    Returns:
        ``(model, cfg, dataset_meta)``; the model is in eval mode on ``device``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config} does not exist')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint file {checkpoint} does not exist')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'knet'))
    model = build_model(cfg, checkpoint, device)
    loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    return model, cfg, dataset_meta(cfg, loaded if isinstance(loaded, dict) else {})


def frame_pipeline(cfg: Config) -> Compose:
    """The test pipeline without its file-loading transforms (packing only if the config has
    no ``test_dataloader``)."""
    loader = cfg.get('test_dataloader')
    if loader is None:
        return Compose([dict(type='PackPanopticInputs')])
    return Compose([step for step in loader.dataset.pipeline
                    if step['type'] not in LOADING_TRANSFORMS])


def predict_frame(model: torch.nn.Module, pipeline: Compose, image: np.ndarray, name: str,
                  frame_id: int) -> Tuple[np.ndarray, np.ndarray]:
    """Run one frame of sequence ``SEQ_ID`` through the pipeline and the model.

    Args:
        model: the detector (resets its memory and tracker at ``frame_id == 0``).
        pipeline: from :func:`frame_pipeline`.
        image: (H, W, 3) uint8 RGB frame.
        name: frame name stored as ``img_path``.
        frame_id: index of the frame in the sequence.

    Returns:
        ``(semantic, track_ids)``: (H, W) int64 dataset class ids and track ids.
    """
    shape = image.shape[:2]
    results = dict(img=image, img_path=name, img_shape=shape, ori_shape=shape,
                   scale_factor=(1.0, 1.0), flip=False, flip_direction=None, seq_id=SEQ_ID,
                   seq_name=f'{SEQ_ID:06d}', frame_id=frame_id)
    packed = pipeline(results)
    with torch.no_grad():
        sample = model.test_step(dict(inputs=[packed['inputs']],
                                      data_samples=[packed['data_samples']]))[0]
    panoptic = sample.pred_panoptic
    return (panoptic.sem_seg[0].cpu().numpy().astype(np.int64),
            panoptic.instance_ids[0].cpu().numpy().astype(np.int64))


def write_frame(out: str, frame_id: int, image: np.ndarray, semantic: np.ndarray,
                track_ids: np.ndarray, meta: Dict[str, Any], gap: int) -> str:
    """Write a frame's result PNGs (inference layout) and its panel; returns the panel path."""
    write_frame_results(out, SEQ_ID, frame_id, semantic, track_ids)
    panel = make_panel([image, colorize_semantic(semantic, meta['palette'], meta['ignore_label']),
                        colorize_ids(track_ids)], gap=gap)
    path = osp.join(out, 'panel', f'{STEM.format(seq=SEQ_ID, frame=frame_id)}_panel.png')
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(panel, mode='RGB').save(path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the demo; returns ``dict(frames, panels, gif, mp4, fps)``."""
    args = parse_args(argv)
    model, cfg, meta = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    pipeline = frame_pipeline(cfg)
    frames, count = open_input(args.input)
    if args.max_frames is not None:
        count = min(count, args.max_frames) if count is not None else args.max_frames
    panels: List[str] = []
    start = time.time()
    bar = tqdm(frames, total=count, unit='frame', desc='video demo', dynamic_ncols=True)
    for frame_id, (name, image) in enumerate(bar):
        if args.max_frames is not None and frame_id >= args.max_frames:
            break
        semantic, track_ids = predict_frame(model, pipeline, image, name, frame_id)
        panels.append(write_frame(args.out, frame_id, image, semantic, track_ids, meta,
                                  args.panel_gap))
    bar.close()
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
