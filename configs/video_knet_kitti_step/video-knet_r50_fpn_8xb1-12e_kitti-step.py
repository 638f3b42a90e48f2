# Video K-Net R50-FPN on KITTI-STEP, joint key + reference training (follows the original
# `video_knet_s3_r50_rpn_1x_kitti_step_sigmoid_stride2_mask_embed_link_ffn_joint_train.py`):
# AdamW 1e-4 for 12 epochs (steps at 9 and 11), RepeatDataset x2, initialised from ImageNet
# (add `load_from` = a Cityscapes-STEP K-Net checkpoint to fine-tune, see ablations/). The model's
# KITTI-STEP settings are in the model base, STQ / VPQ evaluation in the dataset base.
_base_ = [
    '../_base_/models/video-knet_r50_fpn_kitti-step.py',
    '../_base_/datasets/kitti_step.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]
