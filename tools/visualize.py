"""Colourise panoptic results and animate them per sequence.

Usage::

    python tools/visualize.py RESULTS_DIR [--img-dir DIR] [--fps 10] [--mp4] [--workers N]
                              [--dataset kitti-step] [--layout knet]

Reads ``RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_{cat,ins}.png`` and writes

* ``RESULTS_DIR/colorized/segmentation/{seq}/..._cat.png``: classes in the dataset palette;
* ``RESULTS_DIR/colorized/instance/{seq}/..._ins.png``: one stable colour per track id;
* ``RESULTS_DIR/colorized/panel/{seq}/..._panel.png``: image | semantic | tracks, only with
  ``--img-dir`` (the folder of ``{seq:06d}_{frame:06d}_leftImg8bit.png`` images);
* ``RESULTS_DIR/colorized_gif/{kind}/{seq}.gif`` for each kind above (frames in numeric order)
  and, with ``--mp4``, ``RESULTS_DIR/colorized_mp4/{kind}/{seq}.mp4``.

Results are read with the layout's reader (:mod:`vseg.layouts`), the palette and ignore label
come from the dataset metainfo (:mod:`vseg.metainfo`). Every file is written atomically (a
failure leaves no partial or 0-byte file; a link at a target is replaced, not written through).
The last lines printed are the results folder's provenance (``RESULTS_DIR/manifest.json``,
:mod:`vseg.manifest`) and what was written. Fixes of the original ``colorize_img.py``:
the semantic map uses the class palette, 16-bit ids are not clipped to 8 bit, PNGs are written
in true RGB order, GIF frames are sorted.
"""
import argparse
import os
import os.path as osp
from functools import partial
from multiprocessing import Pool
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from knet.visualization import (
    FrameResult,
    colorize_ids,
    colorize_semantic,
    find_result_frames,
    make_panel,
    read_rgb,
    write_gif,
    write_rgb_png,
    write_video,
)
from vseg.layouts import layout_names
from vseg.manifest import results_summary
from vseg.metainfo import dataset_metainfo, dataset_names

#: Output kind -> file-name suffix of its per-frame PNG.
KIND_SUFFIX = {'segmentation': 'cat', 'instance': 'ins', 'panel': 'panel'}
IMAGE_NAME = '{seq:06d}_{frame:06d}_leftImg8bit.png'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Colourise panoptic results, write GIF/MP4')
    parser.add_argument('results_dir', help='folder holding panoptic/{seq}/*_{cat,ins}.png')
    parser.add_argument('--img-dir', help='folder of {seq:06d}_{frame:06d}_leftImg8bit.png '
                        'images; enables the image | semantic | tracks panel')
    parser.add_argument('--fps', type=float, default=10.0, help='GIF / MP4 frame rate')
    parser.add_argument('--mp4', action='store_true', help='also write one MP4 per sequence')
    parser.add_argument('--workers', type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help='parallel processes (1 = in-process)')
    parser.add_argument('--dataset', default='kitti-step', choices=dataset_names(),
                        help='dataset whose metainfo palette is used (default: %(default)s)')
    parser.add_argument('--layout', default='knet', choices=layout_names(),
                        help='layout of the results folder (default: %(default)s)')
    parser.add_argument('--panel-gap', type=int, default=4,
                        help='white separator width (pixels) between panel parts')
    return parser.parse_args(argv)


def output_path(results_dir: str, kind: str, seq_name: str, stem: str) -> str:
    """Path of the colourised PNG of one frame: ``colorized/{kind}/{seq}/{stem}_{sfx}.png``."""
    return osp.join(results_dir, 'colorized', kind, seq_name, f'{stem}_{KIND_SUFFIX[kind]}.png')


def render_frame(task: Tuple[str, FrameResult], results_dir: str,
                 palette: Sequence[Sequence[int]], ignore_label: int, img_dir: Optional[str],
                 gap: int) -> None:
    """Colourise one frame and write its PNGs (RGB order, via PIL; atomically).

    Args:
        task: (sequence folder name, the frame's result files).
        results_dir: the results root.
        palette: class palette, ``palette[class_id] = (R, G, B)``.
        ignore_label: class id meaning "no prediction" (drawn black).
        img_dir: image folder for the panel, or None.
        gap: panel separator width.
    """
    seq_name, frame = task
    cat, ins = frame.read()
    semantic = colorize_semantic(cat, palette, ignore_label)
    tracks = colorize_ids(ins)
    outputs = {'segmentation': semantic, 'instance': tracks}
    if img_dir is not None:
        image = read_rgb(osp.join(img_dir, IMAGE_NAME.format(seq=frame.seq, frame=frame.frame)))
        if image.shape[:2] != semantic.shape[:2]:
            raise ValueError(f'{frame.stem}: image {image.shape[:2]} and result '
                             f'{semantic.shape[:2]} sizes differ')
        outputs['panel'] = make_panel([image, semantic, tracks], gap=gap)
    for kind, rgb in outputs.items():
        write_rgb_png(output_path(results_dir, kind, seq_name, frame.stem), rgb)


def read_frames(paths: Iterable[str]) -> Iterator[np.ndarray]:
    """Lazily read written PNGs back as (H, W, 3) uint8 RGB."""
    for path in paths:
        yield read_rgb(path)


def animate(job: Tuple[str, str, List[str]], results_dir: str, fps: float, mp4: bool) -> int:
    """Write the GIF (and MP4) of one (kind, sequence) from its ordered frame PNGs."""
    kind, seq_name, paths = job
    count = write_gif(read_frames(paths),
                      osp.join(results_dir, 'colorized_gif', kind, f'{seq_name}.gif'), fps)
    if mp4:
        write_video(read_frames(paths),
                    osp.join(results_dir, 'colorized_mp4', kind, f'{seq_name}.mp4'), fps)
    return count


def run_parallel(func: Callable, jobs: List, workers: int, desc: str) -> List:
    """Map ``func`` over ``jobs`` with a progress bar, in ``workers`` processes (1 = inline)."""
    if workers <= 1:
        return [func(job) for job in tqdm(jobs, desc=desc)]
    with Pool(workers) as pool:
        return list(tqdm(pool.imap(func, jobs, chunksize=4), total=len(jobs), desc=desc))


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, int]]:
    """Run the visualisation; returns ``{kind: {seq: number of GIF frames}}``."""
    args = parse_args(argv)
    if args.img_dir is not None and not osp.isdir(args.img_dir):
        raise FileNotFoundError(f'--img-dir {args.img_dir} does not exist')
    sequences = find_result_frames(args.results_dir, args.layout)
    meta = dataset_metainfo(args.dataset)
    kinds = ['segmentation', 'instance'] + (['panel'] if args.img_dir is not None else [])
    tasks = [(seq_name, frame) for seq_name, frames in sequences.items() for frame in frames]
    run_parallel(partial(render_frame, results_dir=args.results_dir, palette=meta['palette'],
                         ignore_label=meta['ignore_label'], img_dir=args.img_dir,
                         gap=args.panel_gap),
                 tasks, args.workers, 'colorize')
    jobs = [(kind, seq_name,
             [output_path(args.results_dir, kind, seq_name, frame.stem) for frame in frames])
            for kind in kinds for seq_name, frames in sequences.items()]
    counts = run_parallel(partial(animate, results_dir=args.results_dir, fps=args.fps,
                                  mp4=args.mp4),
                          jobs, args.workers, 'animate')
    summary: Dict[str, Dict[str, int]] = {kind: {} for kind in kinds}
    for (kind, seq_name, _), count in zip(jobs, counts):
        summary[kind][seq_name] = count
    print(results_summary(args.results_dir))
    print(f'wrote {len(tasks)} frames x {len(kinds)} kinds under '
          f'{osp.join(args.results_dir, "colorized")} and GIFs under '
          f'{osp.join(args.results_dir, "colorized_gif")}')
    return summary


if __name__ == '__main__':
    main()
