# Video K-Net R50-FPN (docs/model.md): the image K-Net of `knet_r50_fpn.py` + temporal kernel
# linking in the last update stage + the tracking-embedding path + the quasi-dense tracker.
# Experiment configs add the dataset-specific strides and losses.
_base_ = './knet_r50_fpn.py'

model = dict(
    type='VideoKNet',
    roi_head=dict(
        type='VideoKernelIterHead',
        mask_head=dict(type='VideoKernelUpdateHead', link_num_heads=8)),
    track_head=dict(
        type='QuasiDenseEmbedHead', num_fcs=2, in_channels=256, fc_out_channels=256,
        embed_channels=256, softmax_temp=-1,
        loss_track=dict(type='MultiPosCrossEntropyLoss', loss_weight=0.25),
        loss_track_aux=dict(type='L2Loss', neg_pos_ub=3, pos_margin=0, neg_margin=0.1,
                            hard_mining=True, loss_weight=1.0)),
    tracker=dict(
        type='QuasiDenseTracker', init_score_thr=0.35, obj_score_thr=0.3, match_score_thr=0.5,
        memo_tracklet_frames=5, memo_backdrop_frames=1, memo_momentum=0.8, nms_conf_thr=0.5,
        nms_backdrop_iou_thr=0.3, nms_class_iou_thr=0.7, with_cats=True,
        match_metric='bisoftmax'),
    train_cfg=dict(track=dict(assigner={{_base_.hungarian}},
                              sampler=dict(type='MaskPseudoSampler'))),
    # Compatibility switches: True restores the original's tracking inputs
    # (docs/compatibility.md).
    test_cfg=dict(compat=dict(padded_semantic_filter=False, shifted_track_ids=False)))
