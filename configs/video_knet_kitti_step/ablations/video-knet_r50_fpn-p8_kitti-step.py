# Ablation: FPN up to P8 (3 extra stride-2 levels, strides 64/128/256) all fused by the semantic
# FPN (5 x2 upsamplings of P8 back to stride 8). The fused levels must have exact sizes, so the
# inputs are padded to a multiple of 256 instead of 32.
_base_ = '../video-knet_r50_fpn_8xb1-12e_kitti-step.py'
model = dict(
    data_preprocessor=dict(pad_size_divisor=256),
    neck=dict(num_outs=7),
    rpn_head=dict(localization_fpn=dict(end_level=6, upsample_times=5)))
