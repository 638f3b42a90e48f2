# Ablation "pre-trained on Cityscapes-STEP": fine-tune from the K-Net of
# `configs/knet_cityscapes_step/knet_s3_r50_fpn.py` (its last checkpoint in the default work
# dir); the link modules, embed_fcs, fc_embed and track_head start from their initialisation.
_base_ = '../video-knet_r50_fpn_8xb1-12e_kitti-step.py'
load_from = 'work_dirs/knet_s3_r50_fpn/epoch_8.pth'
