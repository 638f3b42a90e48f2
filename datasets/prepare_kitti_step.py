"""Arrange the official KITTI-STEP downloads into the layout read by ``KITTISTEPDataset``.

The layout is in docs/data_formats.md. Inputs (never moved, renamed or deleted; the original script
moved them):

* ``--kitti-root``: KITTI tracking images ``training/image_02/{seq:04d}/{frame:06d}.png`` and
  ``testing/image_02/{seq:04d}/{frame:06d}.png`` (``data_tracking_image_2.zip``);
* ``--step-root``: deeplab2's ``kitti-step.tar.gz``, i.e. ``panoptic_maps/{train,val}/{seq:04d}/
  {frame:06d}.png``.

Output ``--out/video_sequence/{train,val,test}/{seq:06d}_{frame:06d}_{leftImg8bit,panoptic}.png``
made of hard links (``--copy`` or a cross-device target: copies, written atomically). The script
owns ``--out``: it writes the marker ``made_by.json`` first and refuses a non-empty ``--out`` it
did not make (:mod:`vseg.folders`), so it never adds links into a user's folder, and no generator
writes into its folder (``tools/make_toy_step.py`` refuses it). Re-running is a no-op for files
already in place (other splits may be added); a different existing file is an error. Usage::

    python datasets/prepare_kitti_step.py --kitti-root RAW/kitti --step-root RAW/kitti-step \
        --out datasets/kitti-step
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter
from typing import Dict, List, Optional, Tuple

from vseg.folders import claim_folder
from vseg.folders import place_file as place

Plan = List[Tuple[str, str]]
TOOL = 'datasets/prepare_kitti_step.py'


def _numbered_pngs(folder: str, digits: int) -> List[Tuple[int, str]]:
    """(number, path) of the ``{number:0{digits}d}.png`` files or folders in ``folder``."""
    items = []
    for name in sorted(os.listdir(folder)):
        stem = name[:-4] if name.endswith('.png') else name
        if stem.isdigit() and len(stem) == digits:
            items.append((int(stem), osp.join(folder, name)))
    return items


def plan_labelled_split(kitti_root: str, step_root: str, split: str, out_dir: str) -> Plan:
    """(source, destination) pairs of a train/val split: every panoptic map and its image."""
    maps_dir = osp.join(step_root, 'panoptic_maps', split)
    if not osp.isdir(maps_dir):
        raise FileNotFoundError(f'{maps_dir}: missing STEP panoptic maps folder '
                                '(expected panoptic_maps/{train,val}/{seq:04d}/{frame:06d}.png)')
    plan = []
    for seq, seq_dir in _numbered_pngs(maps_dir, 4):
        for frame, label in _numbered_pngs(seq_dir, 6):
            image = osp.join(kitti_root, 'training', 'image_02', f'{seq:04d}', f'{frame:06d}.png')
            if not osp.isfile(image):
                raise FileNotFoundError(f'{image}: missing KITTI image for panoptic map {label}')
            stem = osp.join(out_dir, f'{seq:06d}_{frame:06d}')
            plan += [(image, stem + '_leftImg8bit.png'), (label, stem + '_panoptic.png')]
    if not plan:
        raise FileNotFoundError(f'{maps_dir}: no {{seq:04d}}/{{frame:06d}}.png panoptic maps')
    return plan


def plan_test_split(kitti_root: str, out_dir: str) -> Plan:
    """(source, destination) pairs of the test images (empty when ``testing/`` is absent)."""
    images_dir = osp.join(kitti_root, 'testing', 'image_02')
    if not osp.isdir(images_dir):
        return []
    return [(image, osp.join(out_dir, f'{seq:06d}_{frame:06d}_leftImg8bit.png'))
            for seq, seq_dir in _numbered_pngs(images_dir, 4)
            for frame, image in _numbered_pngs(seq_dir, 6)]


def prepare(kitti_root: str, step_root: str, out: str, copy: bool = False,
            splits: Tuple[str, ...] = ('train', 'val', 'test')) -> Dict[str, Counter]:
    """Build ``out/video_sequence/{split}`` for the given splits.

    Every input is checked before anything is written; then ``out`` is claimed
    (:func:`vseg.folders.claim_folder`: a non-empty folder this script did not make is refused).

    Returns:
        Per split, a Counter of ``linked`` / ``copied`` / ``skipped`` files.

    Raises:
        FileNotFoundError: an input is missing (nothing is written).
        FileExistsError: ``out`` is refused, or a target exists with other content.
    """
    plans = {}
    for split in splits:
        out_dir = osp.join(out, 'video_sequence', split)
        if split == 'test':
            plans[split] = plan_test_split(kitti_root, out_dir)
        else:
            plans[split] = plan_labelled_split(kitti_root, step_root, split, out_dir)
    claim_folder(out, TOOL, dict(kitti_root=osp.abspath(kitti_root),
                                 step_root=osp.abspath(step_root), copy=copy,
                                 splits=sorted(splits)), other_arguments_ok=True)
    report = {}
    for split, plan in plans.items():
        if not plan:
            print(f"{split}: no images under {osp.join(kitti_root, 'testing', 'image_02')}, "
                  'skipped')
            continue
        os.makedirs(osp.join(out, 'video_sequence', split), exist_ok=True)
        report[split] = Counter(place(source, target, copy) for source, target in plan)
    return report


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point; prints the counts per split."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kitti-root', required=True,
                        help='folder with training/image_02 and testing/image_02')
    parser.add_argument('--step-root', required=True, help='folder with panoptic_maps/')
    parser.add_argument('--out', required=True, help='output dataset root (data_root)')
    parser.add_argument('--copy', action='store_true', help='copy instead of hard-linking')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'],
                        choices=['train', 'val', 'test'])
    args = parser.parse_args(argv)
    try:
        report = prepare(args.kitti_root, args.step_root, args.out, args.copy,
                         tuple(args.splits))
    except (OSError, ValueError) as error:
        sys.exit(f'error: {error}')
    for split, counts in report.items():
        files = sum(counts.values())
        print(f'{split}: {files} files ({dict(counts)}) in '
              f"{osp.join(args.out, 'video_sequence', split)}")


if __name__ == '__main__':
    main()
