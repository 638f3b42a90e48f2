# CPU demo: Video K-Net trained from scratch on the synthetic KITTI-STEP data of
# `python tools/make_toy_step.py --out datasets/toy-step` (128x416 frames, 6 train / 3 val
# sequences of 20 frames). The KITTI-STEP recipe shrunk to a ResNet-18 (random init, trainable
# BN), 64 channels, 20 thing kernels and 2 update stages, trained on 128x256 crops of 2-frame
# clips (batch 2) for 400 iterations with AdamW 1e-3; inference runs on full 128x416 frames.
# Root: $KNET_DATA_ROOT/toy-step (default datasets/toy-step).
_base_ = '../video_knet_kitti_step/video-knet_r50_fpn_8xb1-12e_kitti-step.py'
data_root = '{{$KNET_DATA_ROOT:datasets}}/toy-step'
ch = 64
num_proposals = 20
num_stages = 2
max_iters = 400
gn = dict(type='GN', num_groups=16, requires_grad=True)
model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False,
                  norm_cfg=dict(type='BN', requires_grad=True), pretrained=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=ch),
    rpn_head=dict(
        num_proposals=num_proposals, in_channels=ch, out_channels=ch, norm_cfg=gn,
        localization_fpn=dict(in_channels=ch, feat_channels=ch, out_channels=ch, norm_cfg=gn,
                              positional_encoding=dict(num_feats=ch // 2))),
    roi_head=dict(
        num_stages=num_stages, stage_loss_weights=[1] * num_stages,
        num_proposals=num_proposals,
        mask_head=dict(in_channels=ch, out_channels=ch, num_heads=4, link_num_heads=4,
                       feedforward_channels=4 * ch,
                       kernel_updator_cfg=dict(in_channels=ch, feat_channels=ch,
                                               out_channels=ch))),
    track_head=dict(in_channels=ch, fc_out_channels=ch, embed_channels=ch))

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(128, 416), ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(128, 256)),  # 60% of a frame: cheaper iterations
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
