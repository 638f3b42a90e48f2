# CPU demo on the synthetic VIPSeg (`python tools/demo.py --dataset vipseg`): the KITTI-STEP toy
# recipe of `video-knet_r18_toy.py` (tiny model with 20 thing kernels, ResNet-18 trained whole,
# 2-frame clips, 128x256 crops, batch 2, AdamW 1e-3) on the VIPSeg twin written by
# `python tools/make_toy_step.py --layout vipseg --out datasets/toy-vipseg`, with VIPSeg's label
# space: all 124 categories, thing-first (58 things: 20 thing kernels; 66 stuff kernels), as the
# R50 VIPSeg config has it (the twin uses 18 of the categories; the others' kernels learn to stay
# empty). Validation computes the official VIPSeg VPQ and STQ (`BenchmarkVideoMetric`).
# Root: $KNET_DATA_ROOT/toy-vipseg (default datasets/toy-vipseg).
_base_ = ['./video-knet_r18_toy.py']
data_root = '{{$KNET_DATA_ROOT:datasets}}/toy-vipseg'
max_iters = 600
num_thing_classes = 58
num_stuff_classes = 66
thing_ids = [2, 4, 8, 10, 41, 43, 44, 46, 47, 48, 49, 50, 51, 52, 54, 55, 56, 60, 61, 62, 63, 64,
             65, 72, 74, 76, 77, 78, 79, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 95, 96, 97,
             99, 100, 101, 102, 106, 107, 108, 109, 114, 115, 116, 117, 118, 122, 123]
class_ids = thing_ids + [c for c in range(124) if c not in thing_ids]
model = dict(num_thing_classes=num_thing_classes, num_stuff_classes=num_stuff_classes,
             class_ids=class_ids)

train_dataloader = dict(dataset=dict(dataset=dict(type='VIPSegDataset', data_root=data_root)))
val_dataloader = dict(dataset=dict(type='VIPSegDataset', data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='BenchmarkVideoMetric', benchmark='vipseg')
test_evaluator = val_evaluator

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
