# Tiny Video K-Net on the Cityscapes-VPS label space, for CPU tests and smoke runs: the tiny model
# of `video-knet_tiny.py` (ResNet-18 random init, 64 channels, 16 thing kernels, 2 stages) with
# the 19 trainIds (8 things first, so 16 + 11 = 27 kernels) and the Cityscapes-VPS data (the toy
# twin: `python tools/make_toy_step.py --layout cityscapes-vps --frames 30 --size 64x128 --out
# datasets/toy-cityscapes-vps`), 64x128 crops of 2-frame clips, no dataset repeat (one epoch =
# one pass over the labelled frames). The class settings are those of
# `_base_/models/video-knet_r50_fpn_cityscapes-vps.py` (a test checks it).
_base_ = [
    '../_base_/models/video-knet_tiny_kitti-step.py',
    '../_base_/datasets/cityscapes_vps.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]
num_thing_classes = 8
num_stuff_classes = 11
thing_ids = [11, 12, 13, 14, 15, 16, 17, 18]
class_ids = thing_ids + [c for c in range(19) if c not in thing_ids]
model = dict(num_thing_classes=num_thing_classes, num_stuff_classes=num_stuff_classes,
             class_ids=class_ids)
toy_root = '{{$KNET_DATA_ROOT:datasets}}/toy-cityscapes-vps'

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(64, 128), ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(64, 128)),
    dict(type='PackPanopticInputs'),
]
train_dataloader = dict(dataset=dict(times=1, dataset=dict(data_root=toy_root,
                                                           pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(data_root=toy_root))
test_dataloader = val_dataloader
