# Ablation "trained from scratch" (ImageNet backbone, no Cityscapes-STEP K-Net): kernel
# updater 'mlp' in all stages.
_base_ = '../video-knet_r50_fpn_8xb1-12e_kitti-step.py'
model = dict(
    roi_head=dict(mask_head=dict(kernel_updator_cfg=dict(update_mode='mlp'))))
