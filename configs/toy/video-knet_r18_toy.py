# CPU demo: Video K-Net trained from scratch on the synthetic KITTI-STEP data (`make demo`). The
# KITTI-STEP recipe with the tiny model grown to 20 thing kernels and FFN 256, its ResNet-18
# trained whole (no frozen stage, trainable BN), on 2-frame clips with the toy data and schedule
# of `_base_/toy_step.py` (128x256 crops, batch 2, 400 iterations of AdamW 1e-3).
_base_ = ['../_base_/models/video-knet_tiny_kitti-step.py', '../_base_/toy_step.py']
num_proposals = 20
model = dict(
    backbone=dict(frozen_stages=-1, norm_eval=False),
    rpn_head=dict(num_proposals=num_proposals),
    roi_head=dict(mask_head=dict(feedforward_channels=256)))
