# Runtime shared by every experiment: registry scope, hooks, logging, environment.
default_scope = 'knet'
custom_imports = dict(imports=['knet', 'video_knet'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# Stop on a NaN/inf loss, naming the term and the iteration (knet/engine/hooks.py). Disable with
# `--cfg-options custom_hooks.0.enabled=False`.
custom_hooks = [dict(type='CheckInvalidLossHook', interval=1, enabled=True)]
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
# TensorBoard (needs the `tensorboard` package): in an experiment config, add a backend of type
# 'TensorboardVisBackend' to the list of the visualizer's `vis_backends`.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
# The original seeds with 0 when no --seed is given, so clip pairs match on all ranks.
randomness = dict(seed=0)
