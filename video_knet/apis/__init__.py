"""High-level API used by the tools: inference, result writing and Runner building.

* :mod:`.inference`: :func:`init_detector` (config + checkpoint -> model) and the frame-by-frame
  generators :func:`inference_video` (folder of frames, video file) and
  :func:`inference_dataset` (a split of the config's test dataset), yielding
  :class:`FramePrediction` s;
* :mod:`.writer`: :class:`ResultWriter` (a :mod:`vseg.layouts` layout written on a background
  thread, :class:`BackgroundWriter`);
* :mod:`.runner`: the Runner of ``tools/train.py`` and ``tools/test.py``;
* :mod:`.provenance`: the manifest of a results folder (:func:`results_manifest`, the resume
  check :func:`check_resume`);
* :mod:`.ablation` and :mod:`.ablation_runner`: the ablation study of ``tools/ablate.py``
  (configs and their diffs, tables, figures; the stages as subprocesses). The names exported here
  are the study's entry points; the rest, e.g. ``ablation.load_config`` (a cached read-only
  config, not :func:`load_config` of :mod:`.inference`), is imported from the submodules.
"""
from .ablation import (
    Plan,
    StageError,
    config_diff,
    config_parent,
    expand_configs,
    flatten,
    make_plans,
    results_markdown,
    table_groups,
)
from .ablation_runner import Settings, run_all
from .inference import (
    Frame,
    FramePrediction,
    SequenceFrames,
    add_threads_arg,
    build_detector,
    build_inference_dataset,
    dataset_meta,
    default_threads,
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
from .provenance import StaleResultsError, check_resume, results_manifest, weights_sha256
from .runner import (
    add_common_args,
    apply_resume,
    build_runner,
    check_runner_checkpoint,
    load_runner_config,
    prepare_cpu_distributed,
)
from .writer import BackgroundWriter, ResultWriter

__all__ = [
    'BackgroundWriter', 'Frame', 'FramePrediction', 'Plan', 'ResultWriter', 'SequenceFrames',
    'Settings', 'StageError', 'add_common_args', 'apply_resume', 'build_detector',
    'build_inference_dataset', 'build_runner', 'config_diff', 'config_parent', 'dataset_meta',
    'expand_configs', 'finish_distributed', 'flatten', 'folder_frames', 'frame_pipeline',
    'frames_by_sequence', 'inference_dataset', 'inference_video', 'init_detector',
    'init_distributed', 'list_frames', 'load_config', 'load_runner_config', 'load_weights',
    'make_plans', 'open_frames', 'predict_image', 'prepare_cpu_distributed', 'results_markdown',
    'run_all', 'sequences_of_rank', 'table_groups', 'video_frames'
]
__all__ += ['StaleResultsError', 'add_threads_arg', 'check_resume', 'check_runner_checkpoint',
            'default_threads', 'results_manifest', 'weights_sha256']
