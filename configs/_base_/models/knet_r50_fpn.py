# Image K-Net, R50 + FPN + semantic FPN + ConvKernelHead + 3 KernelUpdateHead stages, as the
# original K-Net's Cityscapes-STEP pretraining config `knet_cityscapes_step/knet_s3_r50_fpn.py`
# (docs/model.md). Model labels: the 2 thing classes first, then the 17 stuff classes
# (docs/ARCHITECTURE.md). The detector owns the class counts, `mask_assign_stride` and the
# heads' mask upsampling (8 / mask_assign_stride), and the kernel head's `num_proposals`: it
# writes them into its heads, so they are stated here once.
num_stages = 3
num_proposals = 100
conv_kernel_size = 1
num_thing_classes = 2
num_stuff_classes = 17
# Dataset class id of every model label: STEP thing trainIds (person 11, car 13) first, then the
# stuff trainIds ascending; equals knet.structures.model_label_order(19, [11, 13]).
thing_ids = [11, 13]
class_ids = thing_ids + [c for c in range(19) if c not in thing_ids]

hungarian = dict(
    type='MaskHungarianAssigner',
    cls_cost=dict(type='FocalLossCost', weight=2.0),
    dice_cost=dict(type='DiceCost', weight=4.0, pred_act=True),
    mask_cost=dict(type='MaskCost', weight=1.0, pred_act=True))
model = dict(
    type='KNet',
    data_preprocessor=dict(
        type='KNetDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], pad_size_divisor=32),
    num_thing_classes=num_thing_classes,
    num_stuff_classes=num_stuff_classes,
    class_ids=class_ids,
    mask_assign_stride=4,
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=True, style='pytorch',
        # torchvision ImageNet weights (IMAGENET1K_V1), a local file: downloads are disabled.
        pretrained='checkpoints/resnet50-0676ba61.pth'),
    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
              start_level=0, add_extra_convs='on_input', num_outs=4),
    rpn_head=dict(
        type='ConvKernelHead',
        num_proposals=num_proposals, in_channels=256, out_channels=256,
        conv_kernel_size=conv_kernel_size, num_loc_convs=1, num_seg_convs=1, kernel_init_std=1.0,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        localization_fpn=dict(
            type='SemanticFPNWrapper', in_channels=256, feat_channels=256, out_channels=256,
            start_level=0, end_level=3, upsample_times=2,
            positional_encoding=dict(type='SinePositionalEncoding', num_feats=128,
                                     normalize=True),
            cat_coors=False, cat_coors_level=3, num_aux_convs=1,
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
        loss_seg=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_dice=dict(type='DiceLoss', loss_weight=4.0),
        loss_rank=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.1,
                       ignore_index=255)),
    roi_head=dict(
        type='KernelIterHead',
        num_stages=num_stages, stage_loss_weights=[1] * num_stages,
        # One stage config, replicated num_stages times (no weight sharing).
        mask_head=dict(
            type='KernelUpdateHead',
            in_channels=256, out_channels=256, num_heads=8, num_cls_fcs=1, num_mask_fcs=1,
            feedforward_channels=2048, num_ffn_fcs=2, dropout=0.0,
            conv_kernel_size=conv_kernel_size, hard_mask_thr=0.5,
            ffn_act_cfg=dict(type='ReLU', inplace=True),
            feat_transform_cfg=dict(conv_cfg=dict(type='Conv2d'), act_cfg=None),
            kernel_updator_cfg=dict(
                type='KernelUpdator', in_channels=256, feat_channels=256, out_channels=256,
                input_feat_shape=3, update_mode='gated', act_cfg=dict(type='ReLU', inplace=True),
                norm_cfg=dict(type='LN')),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=2.0),
            loss_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
            loss_dice=dict(type='DiceLoss', loss_weight=4.0),
            loss_rank=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.1,
                           ignore_index=255))),
    train_cfg=dict(
        rpn=dict(assigner=hungarian, sampler=dict(type='MaskPseudoSampler')),
        rcnn=dict(assigner=hungarian, sampler=dict(type='MaskPseudoSampler'))),
    # Pixels that no kept segment wins get the class of their most likely (rejected) candidate
    # ('argmax', measured best); 'legacy' gives them class 0 as the original, 'void' the ignore
    # label 255 (docs/compatibility.md has the measured figures of each).
    test_cfg=dict(instance_score_thr=0.3, overlap_thr=0.6, mask_thr=0.5, max_per_img=100,
                  merge_order='joint', unassigned_fill='argmax', compat=dict()))
