# Image K-Net on the synthetic STEP frames (a toy stand-in for the Cityscapes-STEP pretraining):
# the tiny K-Net of `configs/tiny/knet_tiny.py` (ResNet-18 random init, trained whole with
# trainable BN; 64 channels, 16 thing kernels, 2 stages) trained from scratch on single frames
# of the image dataset KITTISTEPFrameDataset with the toy data and schedule of
# `_base_/toy_step.py` (128x256 crops, batch 2, 400 iterations of AdamW 1e-3); evaluated with
# image PQ on the full val frames.
_base_ = ['../tiny/knet_tiny.py', '../_base_/toy_step.py']
model = dict(backbone=dict(frozen_stages=-1, norm_eval=False))
train_dataloader = dict(dataset=dict(dataset=dict(
    _delete_=True, type='KITTISTEPFrameDataset', data_root={{_base_.data_root}}, split='train',
    pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=False),
    dataset=dict(_delete_=True, type='KITTISTEPFrameDataset', data_root={{_base_.data_root}},
                 split='val', test_mode=True, pipeline={{_base_.val_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='PanopticMetric')
test_evaluator = val_evaluator
