# Tiny Video K-Net for CPU tests and smoke runs (STYLE.md §2.7): the KITTI-STEP reference config
# shrunk like `knet_tiny.py` (ResNet-18 random init, 64 channels, GN 16 groups, 16 thing kernels,
# 2 stages, FFN 128, 4 attention heads) with 64x128 training crops of 2-frame clips.
_base_ = '../video_knet_kitti_step/video-knet_r50_fpn_8xb1-12e_kitti-step.py'
ch = 64
num_proposals = 16
num_stages = 2
gn = dict(type='GN', num_groups=16, requires_grad=True)
model = dict(
    backbone=dict(depth=18, norm_cfg=dict(type='BN', requires_grad=True), pretrained=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=ch),
    rpn_head=dict(
        num_proposals=num_proposals, in_channels=ch, out_channels=ch, norm_cfg=gn,
        localization_fpn=dict(in_channels=ch, feat_channels=ch, out_channels=ch, norm_cfg=gn,
                              positional_encoding=dict(num_feats=ch // 2))),
    roi_head=dict(
        num_stages=num_stages, stage_loss_weights=[1] * num_stages,
        num_proposals=num_proposals,
        mask_head=dict(
            in_channels=ch, out_channels=ch, num_heads=4, link_num_heads=4,
            feedforward_channels=2 * ch,
            kernel_updator_cfg=dict(in_channels=ch, feat_channels=ch, out_channels=ch))),
    track_head=dict(in_channels=ch, fc_out_channels=ch, embed_channels=ch))

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(64, 128), ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(64, 128)),
    dict(type='PackPanopticInputs'),
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
