# Cityscapes-STEP K-Net pretraining: as adamw_12e but 8 epochs with the step at epoch 7
# (docs/model.md, "Parameters, checkpoints and schedules").
_base_ = './adamw_12e.py'
max_epochs = 8
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[7], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
