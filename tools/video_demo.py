"""Video K-Net on a video file or a folder of frames, with an annotated GIF.

Usage::

    python tools/video_demo.py INPUT CONFIG CHECKPOINT --out OUT [--device cpu|cuda] [--fps 10]
        [--mp4] [--max-frames N] [--threads N] [--cfg-options k=v ...]

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
* ``OUT/demo.gif`` (and ``OUT/demo.mp4`` with ``--mp4``) of the panels;
* ``OUT/manifest.json``: what produced them (config, checkpoint and weights hash,
  ``--cfg-options``, version; :mod:`vseg.manifest`).

The checkpoint must fit the model exactly (missing, unexpected or mis-shaped keys are an error
listing them). A reused ``OUT`` of an earlier demo run (its manifest says ``tools/video_demo.py``)
is cleared of that run's files first (:func:`clear_previous_outputs`: only the files named as the
demo names them; other files stay), so no old frame stays beside the new ones. An ``OUT`` holding
another tool's results, or files named as the demo's but no demo manifest, is refused.
"""
import argparse
import os
import os.path as osp
import re
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
from video_knet.apis import (
    FramePrediction,
    add_threads_arg,
    inference_video,
    init_detector,
    open_frames,
    results_manifest,
)
from vseg.io import atomic_path
from vseg.layouts import get_layout
from vseg.manifest import MANIFEST_NAME, read_manifest, write_manifest

#: The frames of the input form one sequence with this id.
SEQ_ID = 0
STEM = '{seq:06d}_{frame:06d}'
#: The ``tool`` of the manifest.
TOOL = 'tools/video_demo.py'
#: ``(folder under OUT, file-name pattern)`` of every file the demo writes.
OUTPUTS = ((f'panoptic/{SEQ_ID}', rf'{SEQ_ID:06d}_\d{{6}}_(cat|ins)\.png'),
           (f'final/{SEQ_ID:04d}', r'\d{6}\.png'),
           ('panel', rf'{SEQ_ID:06d}_\d{{6}}_panel\.png'),
           ('', rf'demo\.(gif|mp4)|{re.escape(MANIFEST_NAME)}'))


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
    add_threads_arg(parser)
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


def previous_outputs(out: str) -> List[str]:
    """The files under ``out`` named as the demo names its outputs (:data:`OUTPUTS`)."""
    found = []
    for folder, pattern in OUTPUTS:
        path = osp.join(out, folder)
        if osp.isdir(path):
            found += [osp.join(path, name) for name in sorted(os.listdir(path))
                      if re.fullmatch(pattern, name) and not osp.isdir(osp.join(path, name))]
    return found


def clear_previous_outputs(out: str) -> int:
    """Remove the files of an earlier demo run from ``out``; returns how many.

    Raises:
        FileExistsError: ``out`` holds results of another tool (its manifest says so), or files
            named as the demo's without a demo manifest (whose they are is unknown); nothing
            is removed.
    """
    manifest = read_manifest(out)
    files = previous_outputs(out)
    tool = None if manifest is None else manifest.get('tool')
    if manifest is not None and tool != TOOL:
        raise FileExistsError(f'{out} holds results of {tool} ({MANIFEST_NAME}): the demo does '
                              'not write into them; choose another --out')
    if manifest is None and files:
        raise FileExistsError(f'{out} holds {len(files)} file(s) named as the demo\'s outputs '
                              f'(e.g. {files[0]}) but no {MANIFEST_NAME} of the demo, so they '
                              'may not be its own: remove them or choose another --out')
    for path in files:
        os.remove(path)
    return len(files)


def write_frame(out: str, prediction: FramePrediction, meta: Dict[str, Any], gap: int) -> str:
    """Write a frame's result PNGs (results layout) and its panel; returns the panel path."""
    semantic, track_ids = prediction.semantic, prediction.instance
    get_layout('knet').write_frame(out, SEQ_ID, prediction.frame_id, semantic, track_ids)
    panel = make_panel([prediction.image,
                        colorize_semantic(semantic, meta['palette'], meta['ignore_label']),
                        colorize_ids(track_ids)], gap=gap)
    path = osp.join(out, 'panel', f'{STEM.format(seq=SEQ_ID, frame=prediction.frame_id)}'
                    '_panel.png')
    with atomic_path(path) as tmp:
        Image.fromarray(panel, mode='RGB').save(tmp, format='PNG')
    return path


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the demo; returns ``dict(frames, panels, gif, mp4, fps)``."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model = init_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    meta = colour_meta(model.dataset_meta)
    frames, count = open_frames(args.input)
    manifest = results_manifest(args.config, args.checkpoint, args.cfg_options, TOOL)
    cleared = clear_previous_outputs(args.out)
    if cleared:
        print(f'removed {cleared} file(s) of the previous demo run in {args.out}')
    write_manifest(args.out, manifest)
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
