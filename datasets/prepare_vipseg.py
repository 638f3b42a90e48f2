"""Prepare VIPSeg as the official evaluators and ``VIPSegDataset`` read it (``VIPSeg_720P``).

Does what VIPSeg's three official scripts do, in one run, into a new folder ``--out`` (the inputs
are never moved, renamed or changed):

1. ``change2_720p.py``: every frame that has a mask is resized to 720 px high (width
   ``int(720 * w / h)``; image bilinear, saved as JPEG as the original does with Pillow's default
   quality; mask nearest) into ``OUT/images/<video>/`` and ``OUT/panomasks/<video>/``. Frames
   without a mask (the test split) are skipped, as the original skips them. Frames already 720 px
   high, and every frame with ``--keep-size`` (the synthetic twin), are hard-linked (or copied)
   instead of re-encoded.
2. ``create_panoptic_video_labels.py``: ``OUT/panomasksRGB/<video>/<frame>.png`` (segment
   colours, one colour generator per video) and ``OUT/panoptic_gt_VIPSeg.json`` for every video.
3. ``splitjson.py``: ``OUT/panoptic_gt_VIPSeg_val.json`` with the videos of ``val.txt``.

The split lists are placed into ``OUT`` too. Thing colours are drawn from a generator seeded by
``--seed`` (the original's are unseeded); no figure depends on them. The script owns ``--out``
(a marker file; a non-empty folder it did not make is refused) and writes every file atomically,
so an interrupted run can simply be run again. Usage::

    python datasets/prepare_vipseg.py --src RAW/VIPSeg --out datasets/VIPSeg_720P [--workers 8]

``--src`` holds ``imgs/`` (or ``images/``), ``panomasks/`` and ``train.txt`` / ``val.txt`` /
``test.txt``.
"""
import argparse
import json
import multiprocessing
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from vseg.folders import claim_folder, place_file
from vseg.formats import vipseg
from vseg.formats.panoptic_video import id2rgb, segments_json
from vseg.io import atomic_path, write_png_atomic, write_text_atomic

TOOL = 'datasets/prepare_vipseg.py'
SPLITS = ('train', 'val', 'test')


def image_dir(src: str) -> str:
    """``SRC/imgs`` (the download) or ``SRC/images`` (an already resized copy)."""
    for name in ('imgs', vipseg.IMAGE_DIR):
        if osp.isdir(osp.join(src, name)):
            return osp.join(src, name)
    raise FileNotFoundError(f'{src}: no imgs/ (or images/) folder of VIPSeg frames')


def resize_frame(image_path: str, mask_path: str, out: str, video: str, keep_size: bool
                 ) -> None:
    """Step 1 for one frame (see the module docstring)."""
    name = osp.basename(image_path)
    stem = name.split('.')[0]
    image_out = osp.join(out, vipseg.IMAGE_DIR, video, name)
    mask_out = osp.join(out, vipseg.RAW_DIR, video, stem + '.png')
    with Image.open(image_path) as image:
        w, h = image.size
        if keep_size or h == vipseg.HEIGHT_720P:
            os.makedirs(osp.dirname(image_out), exist_ok=True)
            os.makedirs(osp.dirname(mask_out), exist_ok=True)
            place_file(image_path, image_out)
            place_file(mask_path, mask_out)
            return
        size = (int(vipseg.HEIGHT_720P * w / h), vipseg.HEIGHT_720P)
        resized = image.convert('RGB').resize(size, Image.BILINEAR)
        with atomic_path(image_out) as tmp:
            resized.save(tmp, format='JPEG')
    with Image.open(mask_path) as mask:
        resized_mask = np.array(mask.resize(size, Image.NEAREST))
    write_png_atomic(mask_out, resized_mask.astype(np.uint16))


def plan_resize(src: str) -> List[Tuple[str, List[Tuple[str, str]]]]:
    """``(video, [(image, mask), ...])`` of every video (sorted) and its frames with a mask."""
    images, masks = image_dir(src), osp.join(src, vipseg.RAW_DIR)
    if not osp.isdir(masks):
        raise FileNotFoundError(f'{src}: no {vipseg.RAW_DIR}/ folder of VIPSeg masks')
    plan = []
    for video in sorted(os.listdir(images)):
        folder = osp.join(images, video)
        if video.startswith('.') or not osp.isdir(folder):
            continue
        frames = []
        for name in sorted(os.listdir(folder)):
            if name.startswith('.'):
                continue
            mask = osp.join(masks, video, name.split('.')[0] + '.png')
            if osp.isfile(mask):
                frames.append((osp.join(folder, name), mask))
        if frames:
            plan.append((video, frames))
    if not plan:
        raise FileNotFoundError(f'{src}: no frame with a mask under {images}')
    return plan


def convert_one(job: Tuple[str, str, int, int]) -> Tuple[dict, dict]:
    """Step 2 for one video: write its ``panomasksRGB`` PNGs; returns its JSON entries."""
    out, video, index, seed = job
    folder = osp.join(out, vipseg.RAW_DIR, video)
    names = vipseg.list_pngs(folder)
    masks = [(osp.join(folder, n), vipseg.read_raw_mask(osp.join(folder, n))) for n in names]
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    images, annotations = [], []
    for name, (ids, segments) in zip(names, vipseg.convert_video(masks, rng=rng)):
        write_png_atomic(osp.join(out, vipseg.CONVERTED_DIR, video, name),
                         np.ascontiguousarray(id2rgb(ids)[..., ::-1]))
        stem = name.split('.')[0]
        images.append(dict(id=stem, width=int(ids.shape[1]), height=int(ids.shape[0]),
                           file_name=name))
        annotations.append(dict(image_id=stem, file_name=name,
                                segments_info=segments_json(segments)))
    return dict(video_id=video, images=images), dict(video_id=video, annotations=annotations)


def _resize_job(job: Tuple[str, str, str, str, bool]) -> None:
    resize_frame(*job)


def _pool_map(function, jobs: list, workers: int, desc: str) -> list:
    from tqdm import tqdm
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context('fork').Pool(min(workers, len(jobs))) as pool:
            return list(tqdm(pool.imap(function, jobs), total=len(jobs), desc=desc))
    return [function(job) for job in tqdm(jobs, desc=desc)]


def prepare(src: str, out: str, keep_size: bool = False, seed: int = 0,
            workers: int = 1) -> Dict[str, int]:
    """Run the three steps (module docstring); returns counts of videos and frames."""
    plan = plan_resize(src)
    lists = {split: osp.join(src, f'{split}.txt') for split in SPLITS
             if osp.isfile(osp.join(src, f'{split}.txt'))}
    if 'val' not in lists:
        raise FileNotFoundError(f'{src}: no val.txt (the list of the val videos)')
    val_names = vipseg.read_split_list(lists['val'])
    have = {video for video, _ in plan}
    missing = [name for name in val_names if name not in have]
    if missing:
        raise FileNotFoundError(f"{lists['val']}: videos {missing[:5]} have no frame with a "
                                f'mask under {src}')
    claim_folder(out, TOOL, dict(src=osp.abspath(src), keep_size=keep_size, seed=seed),
                 other_arguments_ok=False)
    for path in lists.values():
        place_file(path, osp.join(out, osp.basename(path)))
    jobs = [(image, mask, out, video, keep_size) for video, frames in plan
            for image, mask in frames]
    _pool_map(_resize_job, jobs, workers, '720p frames')
    videos = sorted(os.listdir(osp.join(out, vipseg.RAW_DIR)))
    entries = _pool_map(convert_one, [(out, v, i, seed) for i, v in enumerate(videos)],
                        workers, 'panoptic RGB')
    categories = list(vipseg.categories_table().values())
    everything = dict(videos=[e[0] for e in entries], annotations=[e[1] for e in entries],
                      categories=categories)
    write_text_atomic(osp.join(out, vipseg.ALL_JSON), json.dumps(everything))
    wanted = set(val_names)
    val = dict(videos=[v for v in everything['videos'] if v['video_id'] in wanted],
               annotations=[a for a in everything['annotations'] if a['video_id'] in wanted],
               categories=categories)
    write_text_atomic(osp.join(out, vipseg.VAL_JSON), json.dumps(val))
    return dict(videos=len(videos), frames=len(jobs), val_videos=len(val['videos']))


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--src', required=True,
                        help='VIPSeg folder with imgs/ (or images/), panomasks/, val.txt, ...')
    parser.add_argument('--out', required=True, help='the VIPSeg_720P folder to create')
    parser.add_argument('--keep-size', action='store_true',
                        help='do not resize (link every frame as it is; the synthetic twin)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the thing colours')
    parser.add_argument('--workers', type=int, default=1, help='processes (default 1)')
    args = parser.parse_args(argv)
    try:
        counts = prepare(args.src, args.out, args.keep_size, args.seed, args.workers)
    except (OSError, ValueError) as error:
        sys.exit(f'error: {error}')
    print(f"wrote {counts['frames']} frames of {counts['videos']} videos to {args.out} "
          f"({counts['val_videos']} val videos in {vipseg.VAL_JSON})")


if __name__ == '__main__':
    main()
