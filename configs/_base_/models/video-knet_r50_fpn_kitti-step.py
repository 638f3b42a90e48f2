# Video K-Net R50-FPN with the KITTI-STEP settings of the original Video K-Net config
# `video_knet_s3_r50_rpn_1x_kitti_step_sigmoid_stride2_mask_embed_link_ffn_joint_train.py`
# (docs/model.md): targets and masks at stride 2, softmax semantic loss, no rank loss in the
# update stages, instance score threshold 0.25.
_base_ = './video-knet_r50_fpn.py'

model = dict(
    # Targets, RPN masks and stage masks at stride 2 (the heads upsample theirs x4).
    mask_assign_stride=2,
    # Softmax semantic loss; it ignores label num_classes (unlabelled pixels).
    rpn_head=dict(loss_seg=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False,
                                loss_weight=1.0)),
    # The stages have no loss_rank (the original's mask_head list replaced the base one);
    # the RPN keeps loss_rank 0.1.
    roi_head=dict(mask_head=dict(loss_rank=None)),
    test_cfg=dict(instance_score_thr=0.25))
