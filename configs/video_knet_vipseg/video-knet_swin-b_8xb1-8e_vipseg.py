# Video K-Net Swin-B on VIPSeg (follows the original
# `video_knet_s3_swin_b_rpn_vipseg_mask_embed_link_ffn_joint_train_8e.py`): the R50 VIPSeg
# model and data with the torchvision Swin-B backbone (ImageNet weights from a local file; no
# download; window 7, drop path 0.3), FPN inputs 128/256/512/1024 channels, and 8 epochs with
# the step at epoch 7 (`adamw_8e.py`: same AdamW, backbone lr x0.25, clipping and warmup).
# Parameters: 101,917,352. The original's 104,547,496 include the link modules that it builds
# in stages 0 and 1 but never uses (2 x 1,315,072); this model builds them in the last only.
_base_ = [
    '../_base_/models/video-knet_r50_fpn_vipseg.py',
    '../_base_/datasets/vipseg.py',
    '../_base_/schedules/adamw_8e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(_delete_=True, type='TVSwin', arch='b', window_size=7, drop_path_rate=0.3,
                  out_indices=(0, 1, 2, 3), pretrained='checkpoints/swin_b-68c6b09e.pth'),
    neck=dict(in_channels=[128, 256, 512, 1024]))
