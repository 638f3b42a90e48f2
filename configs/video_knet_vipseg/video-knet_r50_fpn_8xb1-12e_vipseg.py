# Video K-Net R50-FPN on VIPSeg (720p), joint key + reference training (follows the original
# `video_knet_s3_r50_rpn_vipseg_mask_embed_link_ffn_joint_train.py`): the KITTI-STEP model with
# VIPSeg's 124 classes (58 things, 166 kernels) and BN in the backbone, AdamW 1e-4 for 12 epochs
# (steps at 9 and 11), batch 1 per GPU on 8 GPUs. The original fine-tunes a COCO-panoptic K-Net
# (133 classes: its class tensors do not load into 124); this config starts from ImageNet (add
# `load_from` for a 124-class K-Net checkpoint). VPQ / STQ evaluation is in the dataset base.
_base_ = [
    '../_base_/models/video-knet_r50_fpn_vipseg.py',
    '../_base_/datasets/vipseg.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]
