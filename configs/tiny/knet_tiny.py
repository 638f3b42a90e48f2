# Tiny K-Net for CPU tests and smoke runs: the reference model shrunk to
# ResNet-18 (random init), 64 channels (GN 16 groups), 16 thing kernels, 2 stages, FFN 128.
_base_ = '../_base_/models/knet_r50_fpn.py'
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
        mask_head=dict(
            in_channels=ch, out_channels=ch, num_heads=4, feedforward_channels=2 * ch,
            kernel_updator_cfg=dict(in_channels=ch, feat_channels=ch, out_channels=ch))))
