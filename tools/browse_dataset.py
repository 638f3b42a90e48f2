"""Write PNGs of augmented training samples of a config (its training pipeline).

Each output shows the frames of one sample side by side (key frame first, then references) and,
per frame, three rows: the RGB input, the semantic ground truth in the dataset's palette
(void/padding black) and the thing instances with outlines and ``class:instance`` ids. Usage::

    python tools/browse_dataset.py CONFIG --output-dir DIR [--num 8] [--data-root ROOT]
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import video_knet  # noqa: F401  (imports knet too: registers every dataset and transform)
from knet.registry import DATASETS
from knet.structures import PanopticDataSample, model_to_dataset_lut


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Save augmented training samples as PNGs.')
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', required=True, help='folder for the PNGs')
    parser.add_argument('--num', type=int, default=8, help='number of samples')
    parser.add_argument('--data-root', help='override the training dataset data_root')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='config overrides, key=value')
    return parser.parse_args(argv)


def colorize(sem_seg: np.ndarray, lut: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) model labels -> (H, W, 3) uint8 RGB in the dataset palette (255 -> black)."""
    colours = np.zeros((256, 3), np.uint8)
    colours[:len(palette)] = palette
    return colours[lut[sem_seg]]


def draw_instances(image: np.ndarray, sample: PanopticDataSample, divisor: int) -> np.ndarray:
    """Blend every gt instance onto ``image`` with its outline and ``class:instance`` id."""
    canvas = np.ascontiguousarray(image // 2)
    if 'gt_instances' not in sample:
        return canvas
    masks = sample.gt_instances.masks.cpu().numpy().astype(np.uint8)
    for mask, panoptic_id in zip(masks, sample.gt_instances.instance_ids.tolist()):
        colour = np.random.default_rng(panoptic_id).integers(64, 256, 3).astype(np.uint8)
        canvas[mask > 0] = (0.5 * canvas[mask > 0] + 0.5 * colour).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, tuple(int(c) for c in colour), 1)
        ys, xs = np.nonzero(mask)
        if len(xs):
            cv2.putText(canvas, f'{panoptic_id // divisor}:{panoptic_id % divisor}',
                        (int(xs.mean()) - 10, int(ys.mean())), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def render_sample(packed: dict, metainfo: dict) -> np.ndarray:
    """(3*H, T*W, 3) uint8 RGB panel of one packed frame or clip sample."""
    inputs = packed['inputs']
    frames = inputs if inputs.dim() == 4 else inputs[None]
    samples = packed['data_samples']
    samples = list(samples) if inputs.dim() == 4 else [samples]
    thing_ids = metainfo['thing_ids']
    lut = model_to_dataset_lut(len(metainfo['classes']), thing_ids)
    palette = np.asarray(metainfo['palette'], np.uint8)
    columns = []
    for image, sample in zip(frames, samples):
        image = np.ascontiguousarray(image.permute(1, 2, 0).numpy())
        semantic = np.zeros_like(image)
        if 'gt_sem_seg' in sample:
            semantic = colorize(sample.gt_sem_seg.sem_seg[0].numpy(), lut, palette)
        columns.append(np.concatenate(
            [image, semantic, draw_instances(image, sample, metainfo['label_divisor'])], axis=0))
    return np.concatenate(columns, axis=1)


def main(argv: Optional[List[str]] = None) -> None:
    """Build the training dataset of the config and write ``--num`` sample panels."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'knet'))
    dataset_cfg = cfg.train_dataloader.dataset
    if args.data_root:
        inner = dataset_cfg.get('dataset', dataset_cfg)
        inner.data_root = args.data_root
    dataset = DATASETS.build(dataset_cfg)
    os.makedirs(args.output_dir, exist_ok=True)
    for index in range(min(args.num, len(dataset))):
        packed = dataset[index]
        meta = packed['data_samples'].metainfo
        name = f"{index:04d}_seq{meta.get('seq_id', 0)}_frame{meta.get('frame_id', 0)}.png"
        panel = render_sample(packed, dataset.metainfo)
        cv2.imwrite(osp.join(args.output_dir, name), panel[..., ::-1])
    print(f'wrote {min(args.num, len(dataset))} samples to {args.output_dir}')


if __name__ == '__main__':
    main()
