# Video K-Net R50-FPN with the KITTI-STEP settings of the original config (DESIGN.md §7,
# `video_knet_s3_r50_rpn_1x_kitti_step_sigmoid_stride2_mask_embed_link_ffn_joint_train.py`):
# targets and masks at stride 2, softmax semantic loss, no rank loss in the update stages,
# instance score threshold 0.25.
_base_ = './video-knet_r50_fpn.py'
num_classes = 19  # the softmax semantic loss ignores index num_classes (unlabelled pixels)

model = dict(
    # Targets, RPN masks (x4) and stage masks (x4) at stride 2.
    mask_assign_stride=2,
    rpn_head=dict(
        feat_downsample_stride=4,
        loss_seg=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False,
                      loss_weight=1.0, ignore_index=num_classes)),
    # The stages have no loss_rank (the original's mask_head list replaced the base one, §12.21);
    # the RPN keeps loss_rank 0.1.
    roi_head=dict(mask_head=dict(mask_upsample_stride=4, loss_rank=None)),
    test_cfg=dict(instance_score_thr=0.25))
