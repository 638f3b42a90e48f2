"""Prepare the Cityscapes-VPS ground truth as the official VPQ evaluator reads it.

Does what VPSNet's ``prepare_data/create_panoptic_labels.sh`` does (its
``create_panoptic_labels.py`` and ``create_panoptic_video_labels.py``, repository mcahny/vps),
into a new folder ``--out``; the inputs are only read, never moved, renamed or changed:

1. every ``SRC/{split}/cls/`` colour map and its ``SRC/{split}/inst/`` instance map (paired by
   image id, the first five '_'-separated fields of the name; an unpaired file is an error) give
   ``OUT/{split}/panoptic_inst/<cls name>`` (16-bit values: trainId on stuff, ``trainId * 1000 +
   instance % 1000`` on things, 255 void; crowd is void) and ``OUT/{split}/labelmap/<cls name>``
   (8-bit trainIds, unused by the evaluator);
2. one colour generator for the split, reset per clip for the thing values:
   ``OUT/{split}/panoptic_video/<cls name>`` (segment colours) and
   ``OUT/panoptic_gt_{split}_city_vps.json`` (images, annotations and categories in sorted name
   order).

``vseg.formats.cityscapes_vps`` documents the rules. Thing colours are drawn from a generator
seeded by ``--seed`` (the original's are unseeded); no figure depends on them. The script owns
``--out`` (a marker file; a non-empty folder it did not make is refused) and writes every file
atomically, so an interrupted run can simply be run again. Usage::

    python datasets/prepare_cityscapes_vps.py --src data/cityscapes_vps --out OUT [--split val] \
        [--workers 8]

``OUT`` is then the ``--gt-dir`` of ``tools/evaluate_vpq.py SUBMIT --format cityscapes-vps``.
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

from vseg.folders import claim_folder
from vseg.formats import cityscapes_vps as vps
from vseg.formats.panoptic_video import id2rgb, segments_json
from vseg.io import write_png_atomic, write_text_atomic

TOOL = 'datasets/prepare_cityscapes_vps.py'


def values_one(job: Tuple[str, str, str, str]) -> None:
    """Step 1 for one frame (module docstring)."""
    cls_path, inst_path, out, split = job
    name = osp.basename(cls_path)
    rgb = vps.read_cls(cls_path)
    pan = vps.panoptic_values(rgb, vps.read_inst(inst_path), f'{cls_path} + {inst_path}')
    write_png_atomic(osp.join(out, split, vps.PANOPTIC_INST_DIR, name), pan.astype(np.uint16))
    write_png_atomic(osp.join(out, split, vps.LABELMAP_DIR, name), vps.labelmap(rgb))


def _pool_map(function, jobs: list, workers: int, desc: str) -> list:
    from tqdm import tqdm
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context('fork').Pool(min(workers, len(jobs))) as pool:
            return list(tqdm(pool.imap(function, jobs), total=len(jobs), desc=desc))
    return [function(job) for job in tqdm(jobs, desc=desc)]


def prepare(src: str, out: str, split: str = 'val', seed: int = 0,
            workers: int = 1) -> Dict[str, int]:
    """Run both steps (module docstring); returns counts of frames and clips."""
    pairs = vps.raw_pairs(src, split)
    if not pairs:
        raise FileNotFoundError(f'{osp.join(src, split, vps.CLS_DIR)}: no *.png colour map')
    for _, cls_path, _ in pairs:
        if not cls_path.endswith((vps.NEW_MASK, vps.ORIG_MASK)):
            raise ValueError(f'{cls_path}: a colour map must end in {vps.NEW_MASK} (or '
                             f'{vps.ORIG_MASK} for the original Cityscapes frame); the evaluator '
                             'finds the ground truth of an image by that name')
    claim_folder(out, TOOL, dict(src=osp.abspath(src), split=split, seed=seed),
                 other_arguments_ok=False)
    for folder in (vps.PANOPTIC_INST_DIR, vps.LABELMAP_DIR, vps.CONVERTED_DIR):
        os.makedirs(osp.join(out, split, folder), exist_ok=True)
    _pool_map(values_one, [(c, i, out, split) for _, c, i in pairs], workers,
              'panoptic values')
    labeler = vps.VideoLabeler(rng=np.random.default_rng(seed))
    images, annotations = [], []
    for image_id, cls_path, _ in pairs:  # sorted by name: the clips in order
        name = osp.basename(cls_path)
        with Image.open(osp.join(out, split, vps.PANOPTIC_INST_DIR, name)) as image:
            pan = np.array(image).astype(np.int64)
        ids, segments = labeler.label(image_id, pan)
        write_png_atomic(osp.join(out, split, vps.CONVERTED_DIR, name),
                         np.ascontiguousarray(id2rgb(ids)[..., ::-1]))
        images.append(dict(id=image_id, width=int(ids.shape[1]), height=int(ids.shape[0]),
                           file_name=vps.image_name(name)))
        annotations.append(dict(image_id=image_id, file_name=name,
                                segments_info=segments_json(segments)))
    data = dict(images=images, annotations=annotations,
                categories=list(vps.categories_table().values()))
    write_text_atomic(osp.join(out, vps.gt_json_name(split)), json.dumps(data))
    clips = {vps.clip_of(image_id) for image_id, _, _ in pairs}
    return dict(frames=len(pairs), clips=len(clips))


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--src', required=True,
                        help='Cityscapes-VPS root with {split}/cls/ and {split}/inst/')
    parser.add_argument('--out', required=True, help='the new ground-truth folder to create')
    parser.add_argument('--split', default='val', help='the split (default val)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the thing colours')
    parser.add_argument('--workers', type=int, default=1, help='processes (default 1)')
    args = parser.parse_args(argv)
    try:
        counts = prepare(args.src, args.out, args.split, args.seed, args.workers)
    except (OSError, ValueError) as error:
        sys.exit(f'error: {error}')
    print(f"wrote {counts['frames']} frames of {counts['clips']} clips to "
          f"{osp.join(args.out, args.split, vps.CONVERTED_DIR)} and "
          f"{osp.join(args.out, vps.gt_json_name(args.split))}")


if __name__ == '__main__':
    main()
