"""Run a video panoptic model online over a split and write per-frame PNGs (DESIGN.md §9.1).

Usage::

    python tools/inference.py CONFIG CHECKPOINT RESULTS_DIR [--split val] [--device cpu|cuda]
        [--overwrite] [--data-root DIR] [--num-workers N] [--cfg-options k=v ...]
        [--launcher none|pytorch]

    bash tools/inference.sh CONFIG CHECKPOINT RESULTS_DIR [args]       # GPUS=2 for torchrun

Writes, for every frame, exactly the layout of docs/ARCHITECTURE.md ("Results on disk") that
``tools/evaluate_stq.py``, ``tools/evaluate_vpq.py`` and ``video_knet.evaluation`` read:

* ``RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_cat.png``: uint16 dataset class id
  (255 = no prediction; 0 with ``--cfg-options model.test_cfg.legacy=True`` like the original);
* ``RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_ins.png``: uint16 track id (0 = none);
* ``RESULTS_DIR/final/{seq:04d}/{frame:06d}.png``: the KITTI-STEP submission encoding
  (R = class, G * 256 + B = track id), RGB order on disk.

The frames of the split are read with the config's ``test_dataloader`` dataset (annotation
loading removed) and fed to the model one at a time, each sequence whole and in frame order, so
the model's kernel memory and tracker follow the sequence. The PNGs are encoded and written on
a background thread (:class:`BackgroundWriter`, at most 8 frames queued), overlapping the next
frames' forward passes. Every file is written atomically (temporary file + ``os.replace``). A
sequence whose files all exist is skipped (``--overwrite`` redoes it); an interrupted sequence
is redone from its first frame. With ``--launcher pytorch``
(torchrun) whole sequences are split over the processes (``SequenceSampler``). Checkpoints saved
by ``tools/train.py`` and checkpoints converted by ``tools/convert_checkpoint.py`` both load.
"""
import argparse
import copy
import logging
import os
import os.path as osp
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.dist import get_dist_info
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader
from torch.utils.data import DataLoader

import knet  # noqa: F401  (registers modules; checkpoint loading fix)
import video_knet  # noqa: F401  (registers the video modules)
from knet.registry import DATASETS, MODELS
from knet.structures import encode_step_png
from video_knet.datasets import SequenceSampler

#: Transforms dropped from the test pipeline: inference needs no ground truth.
ANNOTATION_TRANSFORMS = ('LoadPanopticAnnotations', )


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Write video panoptic predictions as PNGs')
    parser.add_argument('config', help='model / data config')
    parser.add_argument('checkpoint', help='checkpoint (ours or a converted original one)')
    parser.add_argument('results_dir', help='output folder (panoptic/ and final/)')
    parser.add_argument('--split', default='val', help='dataset split (default val)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--overwrite', action='store_true',
                        help='redo sequences whose files already exist')
    parser.add_argument('--data-root', help='dataset root (overrides the config)')
    parser.add_argument('--num-workers', type=int, default=2, help='data loading workers')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.test_cfg.legacy=True')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: one process per GPU / CPU worker started by torchrun')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    return parser.parse_args(argv)


def result_paths(results_dir: str, seq_id: int, frame_id: int) -> Tuple[str, str, str]:
    """``(cat, ins, final)`` paths of one frame (DESIGN.md §9.1 layout)."""
    folder = osp.join(results_dir, 'panoptic', str(seq_id))
    stem = osp.join(folder, f'{seq_id:06d}_{frame_id:06d}')
    final = osp.join(results_dir, 'final', f'{seq_id:04d}', f'{frame_id:06d}.png')
    return f'{stem}_cat.png', f'{stem}_ins.png', final


def write_png_atomic(path: str, image: np.ndarray) -> None:
    """Encode ``image`` as PNG (cv2 channel order) and move it into place atomically."""
    ok, data = cv2.imencode('.png', image)
    if not ok:
        raise RuntimeError(f'could not encode {path} (shape {image.shape}, dtype {image.dtype})')
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as file:
        file.write(data.tobytes())
    os.replace(tmp, path)


class BackgroundWriter:
    """Runs write jobs on one worker thread, in submission order, at most ``max_pending`` queued.

    PNG encoding (OpenCV releases the GIL) and file I/O then overlap the next frames' forward
    passes (~15 ms of CPU per KITTI-STEP frame: half a frame at 30 FPS on a GPU). The first
    error of a job is raised by a later :meth:`submit` or by :meth:`close`; leaving the ``with``
    block waits for every queued job, also when the block raised.
    """

    def __init__(self, max_pending: int = 8) -> None:
        if max_pending < 1:
            raise ValueError(f'BackgroundWriter: max_pending must be >= 1, got {max_pending}')
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix='png-writer')
        self._pending: Deque[Future] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` (waits while ``max_pending`` jobs are queued)."""
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Wait for every queued job; raise the first error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> 'BackgroundWriter':
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            if exc_type is None:  # else the block's own error is the one reported
                raise


def write_frame_results(results_dir: str, seq_id: int, frame_id: int, semantic: np.ndarray,
                        track_ids: np.ndarray) -> Tuple[str, str, str]:
    """Write the three PNGs of one frame.

    Args:
        results_dir: output root.
        seq_id: sequence number.
        frame_id: frame index in the sequence.
        semantic: (H, W) dataset class ids (255 = none).
        track_ids: (H, W) track ids (0 = none), < 65536.

    Returns:
        the written ``(cat, ins, final)`` paths.
    """
    semantic, track_ids = np.asarray(semantic), np.asarray(track_ids)
    if semantic.shape != track_ids.shape or semantic.ndim != 2:
        raise ValueError(f'semantic {semantic.shape} and track ids {track_ids.shape} must be '
                         'equal (H, W) maps')
    cat_path, ins_path, final_path = result_paths(results_dir, seq_id, frame_id)
    write_png_atomic(cat_path, semantic.astype(np.uint16))
    write_png_atomic(ins_path, track_ids.astype(np.uint16))
    rgb = encode_step_png(semantic, track_ids)
    write_png_atomic(final_path, np.ascontiguousarray(rgb[..., ::-1]))  # cv2 writes BGR
    return cat_path, ins_path, final_path


def load_config(args: argparse.Namespace) -> Config:
    """Load the config, apply ``--cfg-options`` and select the ``knet`` registry scope."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'knet'))
    return cfg


def build_dataset(cfg: Config, split: str, data_root: Optional[str] = None):
    """The frames of ``split`` from the config's test (else val) dataloader, without GT loading."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader or 'dataset' not in loader:
        raise KeyError(f'{cfg.filename}: needs test_dataloader.dataset (or val_dataloader)')
    dataset_cfg = copy.deepcopy(loader['dataset'])
    dataset_cfg.update(split=split, test_mode=True)
    if data_root is not None:
        dataset_cfg['data_root'] = data_root
    dataset_cfg.pop('ref_seq_index', None)
    dataset_cfg['pipeline'] = [t for t in dataset_cfg.get('pipeline', [])
                               if t.get('type') not in ANNOTATION_TRANSFORMS]
    return DATASETS.build(dataset_cfg)


def build_model(cfg: Config, checkpoint: str, device: str) -> torch.nn.Module:
    """Build ``cfg.model``, initialise it, load ``checkpoint`` (non-strict, reported)."""
    model = MODELS.build(cfg.model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # mmengine reports every initialised parameter at INFO
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise TypeError(f'{checkpoint}: expected a checkpoint dict with a state_dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if len(missing) == len(model.state_dict()):
        raise ValueError(f'{checkpoint}: no key matches the model of {cfg.filename}')
    for title, keys in (('missing in checkpoint', missing), ('unexpected', unexpected)):
        if keys:
            print(f'[inference] {len(keys)} keys {title}, e.g. {list(keys)[:5]}',
                  file=sys.stderr)
    return model.to(device).eval()


def frames_by_sequence(dataset, indices: Sequence[int]) -> Dict[int, List[Tuple[int, int]]]:
    """``{seq_id: [(frame_id, dataset index), ...]}`` of the given indices, in order."""
    sequences: Dict[int, List[Tuple[int, int]]] = {}
    for idx in indices:
        info = dataset.get_data_info(idx)
        if 'seq_id' not in info or 'frame_id' not in info:
            raise KeyError(f'dataset sample {idx} lacks seq_id / frame_id')
        sequences.setdefault(int(info['seq_id']), []).append((int(info['frame_id']), idx))
    return sequences


def sequence_done(results_dir: str, seq_id: int, frame_ids: Sequence[int]) -> bool:
    """True when every file of every frame of the sequence exists."""
    return all(osp.isfile(path) for frame in frame_ids
               for path in result_paths(results_dir, seq_id, frame))


def run_inference(model: torch.nn.Module, dataset, indices: Sequence[int], results_dir: str,
                  num_workers: int = 2, progress: bool = True) -> int:
    """Predict the frames ``indices`` (whole sequences, in order) and write their PNGs.

    Returns:
        the number of frames written.
    """
    from tqdm import tqdm
    loader = DataLoader(dataset, batch_size=1, sampler=list(indices), num_workers=num_workers,
                        collate_fn=pseudo_collate)
    bar = tqdm(total=len(indices), unit='frame', desc='inference', dynamic_ncols=True,
               disable=not progress)
    written = 0
    with torch.no_grad(), BackgroundWriter() as writer:
        for data in loader:
            for sample in model.test_step(data):
                pred = sample.pred_panoptic
                writer.submit(write_frame_results, results_dir, int(sample.seq_id),
                              int(sample.frame_id), pred.sem_seg[0].cpu().numpy(),
                              pred.instance_ids[0].cpu().numpy())
                written += 1
                bar.update()
    bar.close()
    return written


def init_distributed(args: argparse.Namespace) -> None:
    """Join the torchrun process group (NCCL with CUDA, else gloo) and pick this rank's GPU."""
    if args.launcher == 'none' or torch.distributed.is_initialized():
        return
    use_cuda = args.device.startswith('cuda')
    if use_cuda:
        local_rank = int(os.environ.get('LOCAL_RANK', args.local_rank))
        torch.cuda.set_device(local_rank)
        args.device = f'cuda:{local_rank}'
    torch.distributed.init_process_group(backend='nccl' if use_cuda else 'gloo')


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Run the inference; returns ``dict(frames=written, skipped_sequences=n)`` of this rank."""
    args = parse_args(argv)
    init_distributed(args)
    rank, world_size = get_dist_info()
    cfg = load_config(args)
    dataset = build_dataset(cfg, args.split, args.data_root)
    sampler = SequenceSampler(dataset, rank=rank, world_size=world_size)
    sequences = frames_by_sequence(dataset, sampler.indices)
    todo, skipped = [], 0
    for seq_id, frames in sequences.items():
        if not args.overwrite and sequence_done(args.results_dir, seq_id, [f for f, _ in frames]):
            skipped += 1
            continue
        todo.extend(idx for _, idx in frames)
    print(f'[inference] rank {rank}/{world_size}: {len(sequences)} sequences, {skipped} already '
          f'complete, {len(todo)} frames to predict on {args.device}', flush=True)
    written = 0
    if todo:
        model = build_model(cfg, args.checkpoint, args.device)
        start = time.time()
        written = run_inference(model, dataset, todo, args.results_dir, args.num_workers,
                                progress=not args.no_progress and rank == 0)
        elapsed = time.time() - start
        print(f'[inference] rank {rank}: {written} frames in {elapsed:.1f}s '
              f'({written / max(elapsed, 1e-9):.2f} frames/s) -> {args.results_dir}', flush=True)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return dict(frames=written, skipped_sequences=skipped)


if __name__ == '__main__':
    main()
