# K-Net (3 stages, R50-FPN) trained on Cityscapes-STEP frames: the pretraining of Video K-Net
# (the Cityscapes-STEP K-Net of the original ablations): AdamW 1e-4, 8 epochs, step at 7.
_base_ = [
    '../_base_/models/knet_r50_fpn.py',
    '../_base_/datasets/cityscapes_step.py',
    '../_base_/schedules/adamw_8e.py',
    '../_base_/default_runtime.py',
]
