"""Run a video panoptic model online over a split and write per-frame PNGs.

Usage::

    python tools/inference.py CONFIG CHECKPOINT RESULTS_DIR [--split val] [--device cpu|cuda]
        [--overwrite] [--data-root DIR] [--num-workers N] [--threads N]
        [--cfg-options k=v ...] [--launcher none|pytorch]

    bash tools/inference.sh CONFIG CHECKPOINT RESULTS_DIR [args]       # GPUS=2 for torchrun

Writes, for every frame, the ``'knet'`` results layout of :mod:`vseg.layouts`
(docs/data_formats.md, "Results on disk") that ``tools/evaluate_stq.py``,
``tools/evaluate_vpq.py`` and ``tools/visualize.py`` read:

* ``RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_cat.png``: uint16 dataset class id (the
  pixels that no kept segment wins: ``model.test_cfg.unassigned_fill``, docs/compatibility.md);
* ``RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_ins.png``: uint16 track id (0 = none);
* ``RESULTS_DIR/final/{seq:04d}/{frame:06d}.png``: the KITTI-STEP submission encoding
  (R = class, G * 256 + B = track id), RGB order on disk.

and, for a dataset of an official benchmark (its ``benchmark`` attribute: ``VIPSegDataset``,
``CityscapesVPSDataset``), that benchmark's submission ``RESULTS_DIR/submission/`` (``pan_pred/``
+ ``pred.json``), ready for ``tools/evaluate_vpq.py RESULTS_DIR/submission --format vipseg
--gt-dir ROOT``, the official scripts or the benchmark server (``--no-submission`` skips it;
``tools/make_submission.py`` makes it from a results folder later). It is written by rank 0 once
every rank is done, built beside its place and swapped in when complete.

A command line over :mod:`video_knet.apis`: the frames of the split are read with the config's
``test_dataloader`` dataset (annotation loading removed) and fed to the model one at a time,
each sequence whole and in frame order (:func:`~video_knet.apis.inference_dataset`); the PNGs
are written atomically on a background thread (:class:`~video_knet.apis.ResultWriter`, at most
8 frames queued). A sequence whose files all exist is skipped (``--overwrite`` redoes it); an
interrupted sequence is redone from its first frame. With ``--launcher pytorch`` (torchrun)
whole sequences are split over the processes. Checkpoints saved by ``tools/train.py`` and
checkpoints converted by ``tools/convert_checkpoint.py`` both load; the checkpoint must fit the
model exactly (missing, unexpected or mis-shaped keys are an error listing them).

Provenance: ``RESULTS_DIR/manifest.json`` (:mod:`vseg.manifest`, written before the first frame)
records the config's hash, the checkpoint (path, size, mtime, hash of its weights), the
``--cfg-options`` and the package version and commit. A re-run resumes only when the folder's
manifest names the same config, weights and options (:func:`video_knet.apis.check_resume`); else
it stops and prints how they differ (e.g. ``checkpoint sha256 3fa2c1d0.. != 9b1c22aa..``), as it
does for complete sequences without a manifest; ``--overwrite`` redoes every sequence.
"""
import argparse
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import DictAction
from mmengine.dataset import BaseDataset
from mmengine.dist import barrier, get_dist_info
from tqdm import tqdm

from video_knet.apis import (
    ResultWriter,
    SequenceFrames,
    add_threads_arg,
    build_detector,
    build_inference_dataset,
    check_resume,
    finish_distributed,
    inference_dataset,
    init_distributed,
    load_config,
    results_manifest,
    sequences_of_rank,
)
from vseg.layouts import get_layout
from vseg.manifest import write_manifest
from vseg.metrics.benchmark_eval import write_submission

#: The ``tool`` of the manifest.
TOOL = 'tools/inference.py'
#: The official benchmark submission's folder inside the results folder.
SUBMISSION_DIR = 'submission'


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
                        help='redo every sequence, also those whose files exist or were made '
                        'by another run (other config, weights or --cfg-options)')
    parser.add_argument('--data-root', help='dataset root (overrides the config)')
    parser.add_argument('--num-workers', type=int, default=2, help='data loading workers')
    add_threads_arg(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. '
                        'model.test_cfg.unassigned_fill=legacy')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: one process per GPU / CPU worker started by torchrun')
    parser.add_argument('--no-submission', action='store_true',
                        help='do not write the official benchmark submission (submission/)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    return parser.parse_args(argv)


def frames_to_predict(sequences: SequenceFrames, results_dir: str,
                      overwrite: bool) -> Dict[str, List[int]]:
    """``dict(todo=[dataset index, ...], skipped=[seq_id, ...])``: the frames of the sequences
    not complete on disk (all of them with ``overwrite``)."""
    layout = get_layout('knet')
    todo: List[int] = []
    skipped: List[int] = []
    for seq_id, frames in sequences.items():
        if not overwrite and all(layout.frame_complete(results_dir, seq_id, frame)
                                 for frame, _ in frames):
            skipped.append(seq_id)
        else:
            todo.extend(idx for _, idx in frames)
    return dict(todo=todo, skipped=skipped)


def claim_results_dir(args: argparse.Namespace, dataset: BaseDataset, rank: int) -> None:
    """Refuse a results folder holding another run's predictions (unless ``--overwrite``), then
    record this run's manifest (rank 0, once every rank has checked the old one)."""
    manifest = results_manifest(args.config, args.checkpoint, args.cfg_options, TOOL)
    if not args.overwrite:
        complete = frames_to_predict(sequences_of_rank(dataset), args.results_dir, False)
        check_resume(args.results_dir, manifest, complete['skipped'])
    barrier()
    if rank == 0:
        write_manifest(args.results_dir, manifest)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Run the inference; returns ``dict(frames=written, skipped_sequences=n)`` of this rank."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.launcher != 'none':
        args.device = init_distributed(args.device, args.local_rank)
    rank, world_size = get_dist_info()
    cfg = load_config(args.config, args.cfg_options)
    dataset = build_inference_dataset(cfg, args.split, args.data_root)
    claim_results_dir(args, dataset, rank)
    sequences = sequences_of_rank(dataset, rank, world_size)
    plan = frames_to_predict(sequences, args.results_dir, args.overwrite)
    todo, skipped = plan['todo'], len(plan['skipped'])
    print(f'[inference] rank {rank}/{world_size}: {len(sequences)} sequences, {skipped} already '
          f'complete, {len(todo)} frames to predict on {args.device}', flush=True)
    written = 0
    if todo:
        model = build_detector(cfg, args.checkpoint, args.device)
        start = time.time()
        bar = tqdm(total=len(todo), unit='frame', desc='inference', dynamic_ncols=True,
                   disable=args.no_progress or rank != 0)
        with ResultWriter(args.results_dir) as writer:
            for prediction in inference_dataset(model, dataset, todo, args.num_workers):
                writer.write(prediction)
                written += 1
                bar.update()
        bar.close()
        elapsed = time.time() - start
        print(f'[inference] rank {rank}: {written} frames in {elapsed:.1f}s '
              f'({written / max(elapsed, 1e-9):.2f} frames/s) -> {args.results_dir}', flush=True)
    benchmark = getattr(dataset, 'benchmark', None)
    if benchmark and not args.no_submission:
        barrier()  # every rank's frames are on disk
        if rank == 0:
            submit_dir = osp.join(args.results_dir, SUBMISSION_DIR)
            start = time.time()
            write_submission(benchmark, args.results_dir, dataset.data_root, submit_dir,
                             split=args.split, progress=not args.no_progress,
                             **getattr(dataset, 'submission_options', {}))
            print(f'[inference] {benchmark} submission in {time.time() - start:.1f}s -> '
                  f'{submit_dir} (pan_pred/ + pred.json)', flush=True)
    finish_distributed()
    return dict(frames=written, skipped_sequences=skipped)


if __name__ == '__main__':
    main()
