# CPU demo on the synthetic Cityscapes-VPS (`python tools/demo.py --dataset cityscapes-vps`): the
# KITTI-STEP toy recipe of `video-knet_r18_toy.py` (tiny model with 20 thing kernels, ResNet-18
# trained whole, 2-frame clips, 128x256 crops, batch 2, AdamW 1e-3) on the Cityscapes-VPS twin
# written by `python tools/make_toy_step.py --layout cityscapes-vps --frames 30 --out
# datasets/toy-cityscapes-vps` (30-frame clips, every 5th frame labelled), with the
# Cityscapes-VPS label space (19 trainIds, the 8 things first: 20 thing + 11 stuff kernels) and
# its reference sampling (the neighbouring labelled frame, drawn at every fetch). Validation
# computes the official Cityscapes-VPS VPQ (`BenchmarkVideoMetric`) over all frames.
# Root: $KNET_DATA_ROOT/toy-cityscapes-vps (default datasets/toy-cityscapes-vps).
_base_ = ['./video-knet_r18_toy.py']
data_root = '{{$KNET_DATA_ROOT:datasets}}/toy-cityscapes-vps'
max_iters = 600
num_thing_classes = 8
num_stuff_classes = 11
thing_ids = [11, 12, 13, 14, 15, 16, 17, 18]
class_ids = thing_ids + [c for c in range(19) if c not in thing_ids]
model = dict(num_thing_classes=num_thing_classes, num_stuff_classes=num_stuff_classes,
             class_ids=class_ids)

train_dataloader = dict(dataset=dict(dataset=dict(
    type='CityscapesVPSDataset', data_root=data_root, ref_seq_index=[-1, 1],
    resample_each_epoch=True)))
# Validation tracks through all 30 frames of each clip and scores the 6 labelled ones.
val_dataloader = dict(dataset=dict(
    type='CityscapesVPSDataset', data_root=data_root, frames='all',
    pipeline=[dict(type='LoadFrames'), dict(type='PackPanopticInputs')]))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='BenchmarkVideoMetric', benchmark='cityscapes-vps')
test_evaluator = val_evaluator

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
