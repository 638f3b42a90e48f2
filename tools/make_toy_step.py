"""Write the synthetic KITTI-STEP dataset (layout and PNG encoding of docs/data_formats.md).

Usage::

    python tools/make_toy_step.py --out datasets/toy-step [--seed 0] [--val-seed S] \
        [--size 128x416] [--train-seqs 6] [--val-seqs 3] [--frames 20] [--layout kitti-step] \
        [--overwrite]

``--layout cityscapes`` writes the same scenes in the Cityscapes-STEP layout (the synthetic twin
of Cityscapes-STEP: ``leftImg8bit/`` and ``gtFine/`` with labelTrainIds and instanceTrainIds);
``--layout vipseg`` in the VIPSeg 720p layout (the synthetic twin of VIPSeg: ``images/``,
``panomasks/`` with raw 16-bit values, ``train.txt``, ``val.txt``; DATASET.md);
``--layout cityscapes-vps`` in the shipped Cityscapes-VPS layout (``{train,val}/img_all/`` for
every frame, ``cls/`` colour maps + ``inst/`` instance ids for every 5th frame, t % 5 == 4; the
dataset's clips have ``--frames 30``, 6 labelled frames each).

The generator is :func:`knet.datasets.make_toy_step`; same arguments give identical bytes. It
owns its ``--out``: a non-empty folder it did not make is refused, and so is one it made with
other arguments unless ``--overwrite`` (which removes its own earlier files only).
"""
import argparse
import sys
import time
from typing import List, Optional, Tuple

from knet.datasets.toy_step import make_toy_step


def parse_size(text: str) -> Tuple[int, int]:
    """Parse ``HxW`` (e.g. ``128x416``) into (h, w)."""
    try:
        height, width = (int(part) for part in text.lower().split('x'))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--size must look like 128x416, got '{text}'") from error
    return height, width


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Write a synthetic KITTI-STEP dataset.')
    parser.add_argument('--out', required=True, help='dataset root to create')
    parser.add_argument('--seed', type=int, default=0, help='seed of the scenes (default 0)')
    parser.add_argument('--val-seed', type=int, default=None,
                        help='seed of the val scenes instead of --seed: a held-out val split '
                             'from a seed never used for training or tuning (the demo uses one)')
    parser.add_argument('--size', type=parse_size, default=(128, 416), help='HxW of the frames')
    parser.add_argument('--train-seqs', type=int, default=6)
    parser.add_argument('--val-seqs', type=int, default=3)
    parser.add_argument('--frames', type=int, default=20, help='frames per sequence')
    parser.add_argument('--layout', choices=('kitti-step', 'cityscapes', 'vipseg',
                                             'cityscapes-vps'),
                        default='kitti-step',
                        help='kitti-step (default): video_sequence/{train,val}; cityscapes: the '
                             'Cityscapes-STEP layout (leftImg8bit/, gtFine/ labelTrainIds + '
                             'instanceTrainIds, one city "toycity"); vipseg: the VIPSeg_720P '
                             'layout (images/, panomasks/, train.txt, val.txt; 18 VIPSeg '
                             'categories); cityscapes-vps: the shipped Cityscapes-VPS layout '
                             '({train,val}/img_all/ every frame, cls/ + inst/ every 5th frame, '
                             't %% 5 == 4; use --frames 30 for the dataset\'s 30-frame clips)')
    parser.add_argument('--overwrite', action='store_true',
                        help='--out was made by this generator with other arguments: remove its '
                             'files (only those) and generate anew')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Generate the dataset and print the frame counts."""
    args = parse_args(argv)
    start = time.time()
    try:
        counts = make_toy_step(args.out, seed=args.seed, size=args.size,
                               train_seqs=args.train_seqs, val_seqs=args.val_seqs,
                               frames=args.frames, overwrite=args.overwrite,
                               layout=args.layout, val_seed=args.val_seed)
    except (OSError, ValueError) as error:
        sys.exit(f'error: {error}')
    where = dict(cityscapes='{leftImg8bit,gtFine}', vipseg='{images,panomasks}',
                 **{'cityscapes-vps': '{train,val}/{img_all,cls,inst}'}).get(
        args.layout, 'video_sequence')
    print(f'wrote {counts} frames ({args.size[0]}x{args.size[1]}, {args.layout} layout) to '
          f'{args.out}/{where} in {time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
