# AdamW lr 1e-4, wd 0.05, backbone lr x0.25, grad clip 1.0; 1000-iter linear warmup from 0.001x,
# step decay x0.1 at epochs 9 and 11 of 12 (the original KITTI-STEP Video K-Net schedule).
# end=1001: mmengine's LinearLR reaches the full lr at end-1; mmcv's warmup reaches it at 1000.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.25)}),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
max_epochs = 12
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[9, 11],
         gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
