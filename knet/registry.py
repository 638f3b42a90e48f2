"""Registries of video-knet: children of mmengine's root registries, declared once.

Both packages (`knet` for image K-Net and `video_knet` for the video extension) register into
these registries under the single scope ``'knet'``. Configs select it with
``default_scope = 'knet'``. Following ``mmdet/registry.py``; never register with ``force=True``.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

SCOPE = 'knet'

#: Backbones, necks, heads, losses, detectors, data preprocessors.
MODELS = Registry('model', parent=MMENGINE_MODELS, scope=SCOPE,
                  locations=['knet.models', 'video_knet.models'])
#: Datasets (KITTI-STEP video, Cityscapes-STEP image, ...).
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope=SCOPE,
                    locations=['knet.datasets', 'video_knet.datasets'])
#: Samplers that keep video sequences whole on one rank.
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE,
                         locations=['knet.datasets', 'video_knet.datasets'])
#: Data transforms (clip-aware: one random draw shared by every frame of a clip).
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope=SCOPE,
                      locations=['knet.datasets.transforms', 'video_knet.datasets'])
#: Evaluation metrics (STQ, VPQ, PQ).
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope=SCOPE,
                   locations=['knet.evaluation', 'video_knet.evaluation'])
#: Assigners, samplers, match costs, trackers.
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, scope=SCOPE,
                      locations=['knet.models', 'video_knet.models'])
#: Runner hooks.
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope=SCOPE,
                 locations=['knet.engine'])
#: Training / validation loops.
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope=SCOPE, locations=['knet.engine'])
#: Optimizer wrapper constructors.
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor',
                                      parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE,
                                      locations=['knet.engine'])
#: Visualizers.
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS, scope=SCOPE,
                       locations=['knet.engine'])
#: Visualization backends (local, TensorBoard).
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS, scope=SCOPE,
                       locations=['knet.engine'])
#: Optimizers, optimizer wrappers, parameter schedulers and log processors: no classes of our
#: own; declared so that building them under the 'knet' scope finds mmengine's without warnings.
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope=SCOPE,
                      locations=['knet.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope=SCOPE,
                          locations=['knet.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS,
                            scope=SCOPE, locations=['knet.engine'])
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS, scope=SCOPE,
                          locations=['knet.engine'])
