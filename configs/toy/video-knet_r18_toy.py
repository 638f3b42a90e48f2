# CPU demo: Video K-Net trained from scratch on the synthetic KITTI-STEP data (`make demo`). The
# KITTI-STEP recipe with the tiny model grown to 20 thing kernels and FFN 256, its ResNet-18
# trained whole (no frozen stage, trainable BN), on 2-frame clips with the toy data of
# `_base_/toy_step.py` (128x256 crops, batch 2, AdamW 1e-3) for 800 iterations (warmup 50, x0.1
# at 640). The demo generates 60 training sequences (`tools/demo.py`; more scenes raised AQ on
# the tuning split, docs/demo_recipe.md has the measured knobs).
_base_ = ['../_base_/models/video-knet_tiny_kitti-step.py', '../_base_/toy_step.py']
num_proposals = 20
max_iters = 800
model = dict(
    backbone=dict(frozen_stages=-1, norm_eval=False),
    rpn_head=dict(num_proposals=num_proposals),
    roi_head=dict(mask_head=dict(feedforward_channels=256)))
# foreach: one fused AdamW update over all tensors (about 0.05 s of a 0.5 s CPU iteration).
optim_wrapper = dict(optimizer=dict(foreach=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
