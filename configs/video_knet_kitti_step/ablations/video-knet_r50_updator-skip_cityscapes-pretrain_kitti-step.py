# Ablation "pre-trained on Cityscapes-STEP" with skip connections: the skip updater fine-tuned
# from the K-Net of `knet_cityscapes_step/knet_s3_r50_fpn_updator-skip.py`.
_base_ = './video-knet_r50_updator-skip_kitti-step.py'
load_from = 'work_dirs/knet_s3_r50_fpn_updator-skip/epoch_8.pth'
