# Video K-Net R50-FPN on KITTI-STEP, joint key + reference training (DESIGN.md §7, the original
# `video_knet_s3_r50_rpn_1x_kitti_step_sigmoid_stride2_mask_embed_link_ffn_joint_train.py`):
# AdamW 1e-4 for 12 epochs (steps at 9 and 11), RepeatDataset x2, initialised from ImageNet
# (add `load_from` = a Cityscapes-STEP K-Net checkpoint to fine-tune, see ablations/).
_base_ = [
    '../_base_/models/video-knet_r50_fpn.py',
    '../_base_/datasets/kitti_step.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]
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

# STQ and VPQ (windows 1-4). No `metrics` key here: mmengine's Runner would then build the dict
# as an Evaluator instead of a metric.
val_evaluator = dict(type='VideoPanopticMetric', window_sizes=[1, 2, 3, 4])
test_evaluator = val_evaluator
