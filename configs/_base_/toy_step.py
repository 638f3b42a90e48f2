# Everything but the model of the toy configs (configs/toy/): the synthetic KITTI-STEP data of
# `python tools/make_toy_step.py --out datasets/toy-step` (128x416 frames, 6 train / 3 val
# sequences of 20 frames), 128x256 training crops (batch 2; 60% of a frame: cheaper
# iterations), AdamW 1e-3 for 400 iterations (warmup 50, x0.1 at 320); validation and inference
# on full frames. Root: $KNET_DATA_ROOT/toy-step (default datasets/toy-step).
_base_ = ['./datasets/kitti_step.py', './schedules/adamw_12e.py', './default_runtime.py']
data_root = '{{$KNET_DATA_ROOT:datasets}}/toy-step'
max_iters = 400

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(128, 416), ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(128, 256)),
    dict(type='PackPanopticInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=2,
    dataset=dict(times=20, dataset=dict(data_root=data_root, pipeline=train_pipeline)))
val_dataloader = dict(num_workers=2, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=20)
