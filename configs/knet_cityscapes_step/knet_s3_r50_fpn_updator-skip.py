# Ablation: K-Net pretrained with the skip-connection kernel updater in every stage, so its
# checkpoint matches the Video K-Net `updator-skip` ablation (docs/model.md, kernel updater).
_base_ = './knet_s3_r50_fpn.py'
model = dict(
    roi_head=dict(mask_head=dict(kernel_updator_cfg=dict(update_mode='skip'))))
