"""Inference API: a model from a config and a checkpoint, videos streamed through it frame by frame.

The ``apis`` pattern of MMDetection, for online video panoptic segmentation::

    from video_knet.apis import init_detector, inference_video

    model = init_detector('configs/tiny/video-knet_tiny.py', 'model.pth', device='cpu')
    for pred in inference_video(model, 'frames/'):       # a folder of frames or a video file
        pred.semantic, pred.instance                     # (H, W) class ids, track ids

Sources: a folder of frames (numeric order), a video file (``cv2.VideoCapture``) or any iterable
of :class:`Frame` (:func:`inference_video`, one sequence, test pipeline minus its file loading),
and a split of the config's test dataset (:func:`build_inference_dataset`,
:func:`inference_dataset`; with several processes each takes whole sequences,
:func:`sequences_of_rank`). Every source is a generator yielding one :class:`FramePrediction`
per frame, in frame order: the model's kernel memory and tracker follow the sequence and restart
at frame 0. Memory stays bounded: frames are read when they are predicted, and the generator
keeps nothing of a frame once it has yielded the next one. Writing the results:
:class:`video_knet.apis.ResultWriter`.
"""
import argparse
import copy
import itertools
import logging
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import BaseDataset, Compose, pseudo_collate
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from torch import nn
from torch.utils.data import DataLoader

import video_knet  # noqa: F401  (registers the image and video modules)
from knet.engine.checkpoint import CheckpointMismatchError, compare_state_dicts, read_checkpoint
from knet.registry import DATASETS, MODELS
from knet.structures import PanopticDataSample
from knet.visualization import read_rgb
from video_knet.datasets import SequenceSampler

#: Transforms dropped from the test pipeline of a dataset split: inference needs no ground truth.
ANNOTATION_TRANSFORMS = ('LoadPanopticAnnotations', )
#: Transforms that read files, dropped for frames given as images.
LOADING_TRANSFORMS = ('LoadFrames', ) + ANNOTATION_TRANSFORMS
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')
#: Name part of the images in the KITTI-STEP / Cityscapes layout (labels sit beside them).
IMAGE_TAG = '_leftImg8bit'
#: ``{seq_id: [(frame_id, dataset index), ...]}`` of a dataset split.
SequenceFrames = Dict[int, List[Tuple[int, int]]]


@dataclass
class Frame:
    """One input frame of a video.

    Attributes:
        frame_id: index of the frame in its sequence (0 starts the sequence).
        image: (H, W, 3) uint8 RGB.
        path: the file it was read from (``VIDEO#index`` for a video file).
    """

    frame_id: int
    image: np.ndarray
    path: str


@dataclass
class FramePrediction:
    """The prediction of one frame, on the CPU, at the frame's original size.

    Attributes:
        seq_id: sequence id.
        frame_id: index of the frame in its sequence.
        semantic: (H, W) int64 dataset class ids; the pixels that no kept segment wins hold
            what ``test_cfg.unassigned_fill`` says (class 0, the most likely class, or the
            ignore label 255 for ``'void'``).
        instance: (H, W) int64 instance ids: track ids (0 = none) for Video K-Net, the thing
            segment's rank 1..n for image K-Net.
        labels: (n,) int64 dataset class ids of the thing segments (descending score).
        scores: (n,) float32 scores of the thing segments.
        segment_ids: (n,) int64 value of ``instance`` on each thing segment's pixels (0: the
            segment got no track id).
        image_path: the input file (``VIDEO#index`` for a video file).
        image: (H, W, 3) uint8 RGB input for frames given as images, else None.
    """

    seq_id: int
    frame_id: int
    semantic: np.ndarray
    instance: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    segment_ids: np.ndarray
    image_path: str
    image: Optional[np.ndarray] = None

    @classmethod
    def from_sample(cls, sample: PanopticDataSample,
                    image: Optional[np.ndarray] = None) -> 'FramePrediction':
        """The prediction of a predicted sample (``pred_panoptic``, ``pred_instances``)."""
        panoptic, things = sample.pred_panoptic, sample.pred_instances
        segment_ids = things.get('instance_ids')
        if segment_ids is None:  # image K-Net: segment i has instance id i + 1
            segment_ids = torch.arange(1, len(things.labels) + 1)
        return cls(seq_id=int(sample.metainfo.get('seq_id', 0)),
                   frame_id=int(sample.metainfo['frame_id']),
                   semantic=panoptic.sem_seg[0].cpu().numpy().astype(np.int64, copy=False),
                   instance=panoptic.instance_ids[0].cpu().numpy().astype(np.int64, copy=False),
                   labels=things.labels.cpu().numpy().astype(np.int64, copy=False),
                   scores=things.scores.cpu().numpy().astype(np.float32, copy=False),
                   segment_ids=segment_ids.cpu().numpy().astype(np.int64, copy=False),
                   image_path=str(sample.metainfo.get('img_path', '')), image=image)


# ------------------------------------------------------------------------------------- model
def load_config(config: Union[str, Config], cfg_options: Optional[Dict[str, Any]] = None
                ) -> Config:
    """Load a config file (or copy a Config), merge ``cfg_options``, select the registry scope."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file {config} does not exist')
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'knet'))
    return cfg


def load_weights(model: nn.Module, checkpoint: str, config_name: str = 'the config'
                 ) -> Dict[str, Any]:
    """Load a checkpoint's weights into ``model``, strictly.

    Accepts the checkpoints of ``tools/train.py`` and those converted from the original code by
    ``tools/convert_checkpoint.py`` (``state_dict``, optional ``module.`` prefixes).

    Returns:
        the loaded checkpoint dict (``meta`` holds the config and dataset metainfo of ours).

    Raises:
        CheckpointMismatchError: a key of the model is missing from the checkpoint, a key of
            the checkpoint is not the model's, or a shape differs; the message holds the table
            of those keys (:class:`knet.engine.checkpoint.KeyMismatch`).
    """
    ckpt, state = read_checkpoint(checkpoint)
    mismatch = compare_state_dicts(state, model.state_dict())
    if mismatch:
        raise CheckpointMismatchError(checkpoint, config_name, mismatch,
                                      'inference needs every weight of the model and no other')
    model.load_state_dict(state, strict=False)  # compare_state_dicts checked every key
    return ckpt


def dataset_meta(cfg: Config, checkpoint: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Classes, palette, ignore label: the checkpoint's ``meta.dataset_meta`` if present, else
    the ``METAINFO`` of the config's test dataset class, else ``{}``."""
    meta = ((checkpoint or {}).get('meta') or {}).get('dataset_meta')
    if not meta:
        loader = cfg.get('test_dataloader')
        dataset_type = None if loader is None else loader.dataset.get('type')
        meta = getattr(DATASETS.get(dataset_type) if dataset_type else None, 'METAINFO', None)
    return dict(meta or {})


def build_detector(cfg: Config, checkpoint: Optional[str] = None,
                   device: Union[str, torch.device] = 'cpu') -> BaseModel:
    """Build ``cfg.model``, initialise it, load ``checkpoint`` if given; eval mode on ``device``.

    The model gets ``model.cfg`` (``cfg``) and ``model.dataset_meta`` (:func:`dataset_meta`).
    """
    model = MODELS.build(cfg.model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # mmengine reports every initialised parameter at INFO
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    ckpt = None if checkpoint is None else load_weights(model, checkpoint, cfg.filename)
    model.cfg = cfg
    model.dataset_meta = dataset_meta(cfg, ckpt if isinstance(ckpt, dict) else None)
    return model.to(device).eval()


def init_detector(config: Union[str, Config], checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  cfg_options: Optional[Dict[str, Any]] = None) -> BaseModel:
    """A model ready for inference from a config file and a checkpoint.

    Args:
        config: config file or :class:`~mmengine.config.Config`.
        checkpoint: weights (ours or converted original ones); None keeps the initialisation.
        device: torch device.
        cfg_options: ``--cfg-options`` style overrides, e.g.
            ``{'model.test_cfg.instance_score_thr': 0.5}``.

    Returns:
        the model in eval mode, with ``model.cfg`` and ``model.dataset_meta``.
    """
    return build_detector(load_config(config, cfg_options), checkpoint, device)


# ------------------------------------------------------------------------- frames as images
def numeric_key(name: str) -> Tuple[Any, ...]:
    """Sort key comparing digit runs as numbers: ``f2.png`` < ``f10.png``."""
    return tuple(int(part) if part.isdigit() else part.lower()
                 for part in re.split(r'(\d+)', name))


def list_frames(folder: str) -> List[str]:
    """Image files of ``folder`` in numeric order (only the ``*_leftImg8bit.*`` ones if any, as
    in a KITTI-STEP folder whose label PNGs sit beside the images)."""
    names = [name for name in os.listdir(folder)
             if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.')]
    if not names:
        raise FileNotFoundError(f'{folder}: no frame with extension {IMAGE_EXTENSIONS}')
    images = [name for name in names if IMAGE_TAG in name]
    names = images or names
    return [osp.join(folder, name) for name in sorted(names, key=numeric_key)]


def folder_frames(folder: str) -> Iterator[Frame]:
    """The frames of a folder (:func:`list_frames`), each read when it is requested."""
    for frame_id, path in enumerate(list_frames(folder)):
        yield Frame(frame_id, read_rgb(path), path)


def video_frames(path: str) -> Iterator[Frame]:
    """The frames of a video file, decoded one at a time by ``cv2.VideoCapture``."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'{path}: cv2.VideoCapture cannot open this video')
    try:
        frame_id = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            yield Frame(frame_id, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), f'{path}#{frame_id}')
            frame_id += 1
    finally:
        capture.release()


def open_frames(path: str) -> Tuple[Iterator[Frame], Optional[int]]:
    """``(frames, count)`` of a folder of frames or a video file (count None when unknown)."""
    if osp.isdir(path):
        return folder_frames(path), len(list_frames(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'input {path} is neither a folder of frames nor a video file')
    capture = cv2.VideoCapture(path)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    return video_frames(path), count if count > 0 else None


def frame_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without its file-loading transforms (packing only if the
    config has no ``test_dataloader``)."""
    loader = cfg.get('test_dataloader')
    if loader is None:
        return Compose([dict(type='PackPanopticInputs')])
    return Compose([step for step in loader.dataset.pipeline
                    if step['type'] not in LOADING_TRANSFORMS])


def predict_image(model: BaseModel, pipeline: Compose, frame: Frame,
                  seq_id: int = 0) -> FramePrediction:
    """Run one frame through the pipeline and the model (which continues or restarts the
    sequence: Video K-Net resets its kernel memory and tracker at ``frame_id == 0``)."""
    shape = frame.image.shape[:2]
    results = dict(img=frame.image, img_path=frame.path, img_shape=shape, ori_shape=shape,
                   scale_factor=(1.0, 1.0), flip=False, flip_direction=None, seq_id=seq_id,
                   seq_name=f'{seq_id:06d}', frame_id=frame.frame_id)
    packed = pipeline(results)
    with torch.no_grad():
        sample = model.test_step(dict(inputs=[packed['inputs']],
                                      data_samples=[packed['data_samples']]))[0]
    return FramePrediction.from_sample(sample, image=frame.image)


def inference_video(model: BaseModel, source: Union[str, Iterable[Frame]], seq_id: int = 0,
                    max_frames: Optional[int] = None,
                    pipeline: Optional[Compose] = None) -> Iterator[FramePrediction]:
    """Predict a video online, frame by frame, as one sequence.

    Args:
        model: from :func:`init_detector` (its ``cfg`` gives the test pipeline).
        source: a folder of frames, a video file, or an iterable of :class:`Frame` in order.
        seq_id: the sequence id given to the frames.
        max_frames: stop after this many frames.
        pipeline: the transforms of a frame (default :func:`frame_pipeline` of ``model.cfg``).

    Yields:
        one :class:`FramePrediction` per frame, with its input ``image``.
    """
    frames = open_frames(source)[0] if isinstance(source, str) else iter(source)
    pipeline = frame_pipeline(model.cfg) if pipeline is None else pipeline
    for frame in itertools.islice(frames, max_frames):  # no frame read beyond max_frames
        yield predict_image(model, pipeline, frame, seq_id)


# ------------------------------------------------------------------------ a dataset split
def build_inference_dataset(cfg: Config, split: str = 'val',
                            data_root: Optional[str] = None) -> BaseDataset:
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


def frames_by_sequence(dataset: BaseDataset, indices: Sequence[int]) -> SequenceFrames:
    """``{seq_id: [(frame_id, dataset index), ...]}`` of the given indices, in order."""
    sequences: SequenceFrames = {}
    for idx in indices:
        info = dataset.get_data_info(idx)
        if 'seq_id' not in info or 'frame_id' not in info:
            raise KeyError(f'dataset sample {idx} lacks seq_id / frame_id')
        sequences.setdefault(int(info['seq_id']), []).append((int(info['frame_id']), idx))
    return sequences


def sequences_of_rank(dataset: BaseDataset, rank: int = 0, world_size: int = 1) -> SequenceFrames:
    """The whole sequences process ``rank`` of ``world_size`` predicts (:class:`SequenceSampler`:
    balanced by frame count), each in frame order."""
    sampler = SequenceSampler(dataset, rank=rank, world_size=world_size)
    return frames_by_sequence(dataset, sampler.indices)


def inference_dataset(model: BaseModel, dataset: BaseDataset, indices: Sequence[int],
                      num_workers: int = 2) -> Iterator[FramePrediction]:
    """Predict the dataset samples ``indices`` one at a time, in the given order.

    Args:
        model: from :func:`init_detector`.
        dataset: from :func:`build_inference_dataset`.
        indices: whole sequences in frame order (e.g. of :func:`sequences_of_rank`), so that
            the model's kernel memory and tracker follow each sequence.
        num_workers: data loading processes (0: in this process).

    Yields:
        one :class:`FramePrediction` per sample (``image`` None).
    """
    loader = DataLoader(dataset, batch_size=1, sampler=list(indices), num_workers=num_workers,
                        collate_fn=pseudo_collate)
    for data in loader:
        with torch.no_grad():
            samples = model.test_step(data)
        for sample in samples:
            yield FramePrediction.from_sample(sample)


def default_threads() -> int:
    """Torch threads of the inference tools without ``--threads``: ``OMP_NUM_THREADS`` when set,
    else half the CPU cores this process may use (at least 1).

    Half, because the data-loading workers and the PNG writer thread need the rest: on a 2-core
    machine shared with other processes, 60 toy frames (``configs/toy/video-knet_r18_toy.py``,
    128x416) took 3.1-3.8 s with 1 thread and 2.3-10.7 s with 2 (faster only while nothing
    else ran; README, "Video demo").
    """
    env = os.environ.get('OMP_NUM_THREADS', '')
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return max(1, (cores or 1) // 2)


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (default :func:`default_threads`) to a tool's ``parser``."""
    def positive(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}')
        return int(text)

    parser.add_argument('--threads', type=positive, default=default_threads(),
                        help='torch threads of the forward pass (default %(default)s: '
                        'OMP_NUM_THREADS if set, else half the CPU cores)')


def init_distributed(device: str, local_rank: int = 0) -> str:
    """Join the process group of torchrun (NCCL with CUDA, else gloo); returns this rank's device.

    Args:
        device: ``'cpu'`` or ``'cuda'`` (``cuda:LOCAL_RANK`` is returned for CUDA).
        local_rank: used when the ``LOCAL_RANK`` environment variable is unset.
    """
    if torch.distributed.is_initialized():
        return device
    use_cuda = device.startswith('cuda')
    if use_cuda:
        local_rank = int(os.environ.get('LOCAL_RANK', local_rank))
        torch.cuda.set_device(local_rank)
        device = f'cuda:{local_rank}'
    torch.distributed.init_process_group(backend='nccl' if use_cuda else 'gloo')
    return device


def finish_distributed() -> None:
    """Wait for every process, then leave the process group (no-op without one)."""
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
