# Video K-Net R50-FPN with the VIPSeg settings of the original Video K-Net configs
# `knet_vipseg_s3_r50_fpn.py` + `video_knet_s3_r50_rpn_vipseg_mask_embed_link_ffn_joint_train.py`
# (docs/model.md): the KITTI-STEP model of `video-knet_r50_fpn_kitti-step.py` (targets and masks
# at stride 2, softmax semantic loss, RPN-only rank loss, instance score threshold 0.25) with
# VIPSeg's 124 classes and plain BN in the backbone.
_base_ = './video-knet_r50_fpn_kitti-step.py'

# VIPSeg has 58 thing and 66 stuff categories (124 classes); the dataset id of a class is its
# VIPSeg category id (0-based). Model labels: the things first, in increasing id (the original's
# order), then the stuff ids ascending; equals knet.structures.model_label_order(124, thing_ids).
num_thing_classes = 58
num_stuff_classes = 66
thing_ids = [2, 4, 8, 10, 41, 43, 44, 46, 47, 48, 49, 50, 51, 52, 54, 55, 56, 60, 61, 62, 63, 64,
             65, 72, 74, 76, 77, 78, 79, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 95, 96, 97,
             99, 100, 101, 102, 106, 107, 108, 109, 114, 115, 116, 117, 118, 122, 123]
class_ids = thing_ids + [c for c in range(124) if c not in thing_ids]

model = dict(
    # 100 thing kernels + 66 stuff kernels (conv_seg rows 58..123) = 166 kernels; the kernel head's
    # conv_seg and the stages' fc_cls have 124 outputs (the softmax semantic loss ignores label
    # 124, the unlabelled pixels).
    num_thing_classes=num_thing_classes,
    num_stuff_classes=num_stuff_classes,
    class_ids=class_ids,
    # BN, not the KITTI-STEP SyncBN (the original VIPSeg model base); the statistics stay frozen
    # (norm_eval) either way, so only the affine parameters train, as with SyncBN.
    backbone=dict(norm_cfg=dict(type='BN', requires_grad=True)),
    # Unchanged from the KITTI-STEP base, stated for the record: mask_assign_stride=2 (RPN and
    # stage masks upsampled x4), test_cfg max_per_img=100, instance_score_thr=0.25,
    # overlap_thr=0.6, mask_thr=0.5.
    test_cfg=dict(max_per_img=100, instance_score_thr=0.25, overlap_thr=0.6, mask_thr=0.5))
