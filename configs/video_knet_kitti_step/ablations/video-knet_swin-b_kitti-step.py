# The larger model: torchvision Swin-B backbone (ImageNet weights from a local file; no
# download) instead of ResNet-50, FPN inputs 128/256/512/1024 channels; everything else as base.
_base_ = '../video-knet_r50_fpn_8xb1-12e_kitti-step.py'
model = dict(
    backbone=dict(_delete_=True, type='TVSwin', arch='b', window_size=7, drop_path_rate=0.3,
                  out_indices=(0, 1, 2, 3), pretrained='checkpoints/swin_b-68c6b09e.pth'),
    neck=dict(in_channels=[128, 256, 512, 1024]))
