# Tiny Video K-Net on the VIPSeg label space, for CPU tests and smoke runs: the tiny model of
# `video-knet_tiny.py` (ResNet-18 random init, 64 channels, 16 thing kernels, 2 stages) with
# VIPSeg's 124 classes (58 things, so 16 + 66 = 82 kernels) and the VIPSeg data (the toy VIPSeg
# twin: `python tools/make_toy_step.py --layout vipseg`), 64x128 crops of 2-frame clips. The
# class settings are those of `_base_/models/video-knet_r50_fpn_vipseg.py` (a test checks it).
_base_ = [
    '../_base_/models/video-knet_tiny_kitti-step.py',
    '../_base_/datasets/vipseg.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]
num_thing_classes = 58
num_stuff_classes = 66
thing_ids = [2, 4, 8, 10, 41, 43, 44, 46, 47, 48, 49, 50, 51, 52, 54, 55, 56, 60, 61, 62, 63, 64,
             65, 72, 74, 76, 77, 78, 79, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 95, 96, 97,
             99, 100, 101, 102, 106, 107, 108, 109, 114, 115, 116, 117, 118, 122, 123]
class_ids = thing_ids + [c for c in range(124) if c not in thing_ids]
model = dict(num_thing_classes=num_thing_classes, num_stuff_classes=num_stuff_classes,
             class_ids=class_ids)

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(64, 128), ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(64, 128)),
    dict(type='PackPanopticInputs'),
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
