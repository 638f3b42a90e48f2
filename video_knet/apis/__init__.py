"""High-level API used by the tools: inference, result writing and Runner building.

* :mod:`.inference`: :func:`init_detector` (config + checkpoint -> model) and the frame-by-frame
  generators :func:`inference_video` (folder of frames, video file) and
  :func:`inference_dataset` (a split of the config's test dataset), yielding
  :class:`FramePrediction` s;
* :mod:`.writer`: :class:`ResultWriter` (a :mod:`vseg.layouts` layout written on a background
  thread, :class:`BackgroundWriter`);
* :mod:`.runner`: the Runner of ``tools/train.py`` and ``tools/test.py``.

``video_knet.apis.ablation`` (the ablation study's helpers of ``tools/ablate.py``) is imported
on its own.
"""
from .inference import (
    Frame,
    FramePrediction,
    SequenceFrames,
    build_detector,
    build_inference_dataset,
    dataset_meta,
    finish_distributed,
    folder_frames,
    frame_pipeline,
    frames_by_sequence,
    inference_dataset,
    inference_video,
    init_detector,
    init_distributed,
    list_frames,
    load_config,
    load_weights,
    open_frames,
    predict_image,
    sequences_of_rank,
    video_frames,
)
from .runner import (
    add_common_args,
    apply_resume,
    build_runner,
    load_runner_config,
    prepare_cpu_distributed,
)
from .writer import BackgroundWriter, ResultWriter

__all__ = [
    'BackgroundWriter', 'Frame', 'FramePrediction', 'ResultWriter', 'SequenceFrames',
    'add_common_args', 'apply_resume', 'build_detector', 'build_inference_dataset',
    'build_runner', 'dataset_meta', 'finish_distributed', 'folder_frames', 'frame_pipeline',
    'frames_by_sequence', 'inference_dataset', 'inference_video', 'init_detector',
    'init_distributed', 'list_frames', 'load_config', 'load_runner_config', 'load_weights',
    'open_frames', 'predict_image', 'prepare_cpu_distributed', 'sequences_of_rank',
    'video_frames'
]
