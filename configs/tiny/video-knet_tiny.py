# Tiny Video K-Net for CPU tests and smoke runs: the KITTI-STEP reference config
# with the tiny model (`_base_/models/video-knet_tiny_kitti-step.py`: ResNet-18 random init,
# 64 channels, 16 thing kernels, 2 stages) and 64x128 training crops of 2-frame clips.
_base_ = [
    '../_base_/models/video-knet_tiny_kitti-step.py',
    '../_base_/datasets/kitti_step.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(64, 128), ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(64, 128)),
    dict(type='PackPanopticInputs'),
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
