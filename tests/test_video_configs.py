"""Video K-Net configs: model structure, ablations change only their knob, KITTI-STEP recipe,
parameter parity with the original (docs/model.md).
"""
import glob
import importlib.util
import logging
import os.path as osp
from typing import Any, Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

import video_knet  # noqa: F401  (registers the modules)
from video_knet.apis.ablation import config_diff, flatten
from vseg.metainfo import VIPSEG_THING_IDS
from vseg.panoptic import model_label_order

ROOT = osp.join(osp.dirname(__file__), '..')
KITTI = osp.join(ROOT, 'configs', 'video_knet_kitti_step')
BASE = osp.join(KITTI, 'video-knet_r50_fpn_8xb1-12e_kitti-step.py')
ABLATIONS = sorted(glob.glob(osp.join(KITTI, 'ablations', '*.py')))
VIPSEG = osp.join(ROOT, 'configs', 'video_knet_vipseg')
VIPSEG_R50 = osp.join(VIPSEG, 'video-knet_r50_fpn_8xb1-12e_vipseg.py')
VIPSEG_SWIN = osp.join(VIPSEG, 'video-knet_swin-b_8xb1-8e_vipseg.py')
TINY = osp.join(ROOT, 'configs', 'tiny', 'video-knet_tiny.py')
TINY_VIPSEG = osp.join(ROOT, 'configs', 'tiny', 'video-knet_tiny_vipseg.py')
VIDEO_CONFIGS = [BASE] + ABLATIONS + [TINY, TINY_VIPSEG, VIPSEG_R50, VIPSEG_SWIN] \
    + sorted(glob.glob(osp.join(ROOT, 'configs', 'toy', '**', 'video-knet*.py'), recursive=True))
UPDATE_MODE = 'model.roi_head.mask_head.kernel_updator_cfg.update_mode'
REF_INDEX = 'train_dataloader.dataset.dataset.ref_seq_index'
#: Keys (flattened) each ablation changes with respect to the base config, and the new values.
ABLATION_DIFFS: Dict[str, Dict[str, Any]] = {
    'video-knet_r50_updator-concat_kitti-step.py': {UPDATE_MODE: 'concat'},
    'video-knet_r50_updator-skip_kitti-step.py': {UPDATE_MODE: 'skip'},
    'video-knet_r50_updator-concat-skip_kitti-step.py': {UPDATE_MODE: 'concat_skip'},
    'video-knet_r50_updator-mlp_kitti-step.py': {UPDATE_MODE: 'mlp'},
    'video-knet_r50_cityscapes-pretrain_kitti-step.py': {
        'load_from': 'work_dirs/knet_s3_r50_fpn/epoch_8.pth'},
    'video-knet_r50_updator-skip_cityscapes-pretrain_kitti-step.py': {
        UPDATE_MODE: 'skip', 'load_from': 'work_dirs/knet_s3_r50_fpn_updator-skip/epoch_8.pth'},
    'video-knet_r50_ref-causal_kitti-step.py': {
        REF_INDEX: [-2, -1], 'load_from': 'work_dirs/knet_s3_r50_fpn/epoch_8.pth'},
    'video-knet_r50_ref-local_kitti-step.py': {
        REF_INDEX: [-1, 1], 'load_from': 'work_dirs/knet_s3_r50_fpn/epoch_8.pth'},
    'video-knet_r50_ref-global_kitti-step.py': {
        REF_INDEX: [-3, -2, -1, 1, 2, 3], 'load_from': 'work_dirs/knet_s3_r50_fpn/epoch_8.pth'},
    'video-knet_r50_fpn-p8_kitti-step.py': {
        'model.data_preprocessor.pad_size_divisor': 256, 'model.neck.num_outs': 7,
        'model.rpn_head.localization_fpn.end_level': 6,
        'model.rpn_head.localization_fpn.upsample_times': 5},
    'video-knet_swin-b_kitti-step.py': {
        'model.backbone': dict(type='TVSwin', arch='b', window_size=7, drop_path_rate=0.3,
                               out_indices=[0, 1, 2, 3],
                               pretrained='checkpoints/swin_b-68c6b09e.pth'),
        'model.neck.in_channels': [128, 256, 512, 1024]},
}


def _load(path: str) -> Config:
    return Config.fromfile(path)


def test_every_ablation_is_listed() -> None:
    assert sorted(osp.basename(p) for p in ABLATIONS) == sorted(ABLATION_DIFFS)


@pytest.mark.parametrize('path', VIDEO_CONFIGS, ids=osp.basename)
def test_video_config_structure(path, built_config) -> None:
    """The link is built in the last stage only; STQ / VPQ evaluation (the model is built by
    the session-wide ``built_config`` fixture, once for this test and ``test_configs.py``)."""
    cfg, model = built_config(path)
    assert type(model).__name__ == 'VideoKNet'
    assert [h.with_link for h in model.roi_head.mask_head][-1] is True
    assert not any(h.with_link for h in model.roi_head.mask_head[:-1])
    if 'vipseg' in path or 'cityscapes-vps' in path:  # the benchmark's official metric online
        assert cfg.val_evaluator.type == 'BenchmarkVideoMetric'
        assert cfg.val_evaluator.benchmark in path and cfg.test_evaluator
    else:
        assert cfg.val_evaluator.type == 'VideoPanopticMetric' and cfg.test_evaluator


@pytest.mark.parametrize('name', sorted(ABLATION_DIFFS))
def test_ablation_changes_only_its_knob(name) -> None:
    base = flatten(_load(BASE).to_dict())
    cfg = flatten(_load(osp.join(KITTI, 'ablations', name)).to_dict())
    expected = ABLATION_DIFFS[name]
    if 'model.backbone' in expected:  # a replaced sub-dict: compare it whole
        base = {k: v for k, v in base.items() if not k.startswith('model.backbone.')}
        backbone = {k[len('model.backbone.'):]: v for k, v in cfg.items()
                    if k.startswith('model.backbone.')}
        cfg = {k: v for k, v in cfg.items() if not k.startswith('model.backbone.')}
        cfg['model.backbone'] = backbone
    changed = {k for k in set(base) | set(cfg) if base.get(k, 'absent') != cfg.get(k, 'absent')}
    assert changed == set(expected)
    for key, value in expected.items():
        assert cfg[key] == (flatten(value) if isinstance(value, dict) else value), key


def test_kitti_step_settings(built_config) -> None:
    """The KITTI-STEP Video K-Net recipe of the original config (docs/model.md)."""
    cfg, built = built_config(BASE)
    model = cfg.model
    # Targets at stride 2; the detector gives its heads the x4 upsampling of their masks.
    assert model.mask_assign_stride == 2 and built.rpn_head.feat_downsample_stride == 4
    assert {head.mask_upsample_stride for head in built.roi_head.mask_head} == {4}
    assert model.roi_head.mask_head.loss_rank is None
    assert model.rpn_head.loss_rank.loss_weight == 0.1
    assert dict(model.rpn_head.loss_seg) == dict(type='CrossEntropyLoss', use_sigmoid=False,
                                                 loss_weight=1.0)
    assert model.test_cfg.instance_score_thr == 0.25 and model.test_cfg.overlap_thr == 0.6
    assert model.roi_head.num_stages == 3 and model.rpn_head.num_proposals == 100
    tracker = dict(model.tracker)
    assert tracker == dict(type='QuasiDenseTracker', init_score_thr=0.35, obj_score_thr=0.3,
                           match_score_thr=0.5, memo_tracklet_frames=5, memo_backdrop_frames=1,
                           memo_momentum=0.8, nms_conf_thr=0.5, nms_backdrop_iou_thr=0.3,
                           nms_class_iou_thr=0.7, with_cats=True, match_metric='bisoftmax')
    assert model.track_head.loss_track.loss_weight == 0.25
    assert model.track_head.loss_track_aux.loss_weight == 1.0
    assert set(model.train_cfg) == {'rpn', 'rcnn', 'track'}
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-4, weight_decay=0.05)
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    assert cfg.train_cfg.max_epochs == 12 and cfg.param_scheduler[1].milestones == [9, 11]
    train = cfg.train_dataloader.dataset
    assert train.type == 'RepeatDataset' and train.times == 2
    assert train.dataset.ref_seq_index == [-2, -1, 1, 2]
    assert cfg.val_dataloader.sampler.type == 'SequenceSampler'


def _original_total() -> int:
    """Total parameters of the original Video K-Net R50, module by module."""
    backbone = 23_508_032  # torchvision resnet50 (25,557,032) without fc (2,049,000)
    conv3, conv1, gn = 256 * 256 * 9, 256 * 256, 2 * 256
    neck = 256 * (256 + 512 + 1024 + 2048) + 4 * 256 + 4 * (conv3 + 256)
    rpn = (100 * 256 + 19 * 256 + 19  # init_kernels, conv_seg
           + 2 * (conv1 + gn)  # loc_convs.0, seg_convs.0
           + 7 * (conv3 + gn) + 2 * (conv1 + gn))  # localization_fpn 1+1+2+3 convs, pred, aux
    stage = 1_583_635 + 1_315_072 + 463_104  # head + link + gated updater
    tracking = 3 * (256 * 256 + 256) + (256 * 256 + gn) + (256 * 256 + 256)  # track head
    return backbone + neck + rpn + 3 * stage + tracking


def test_parameter_parity_with_the_original(capsys) -> None:
    spec = importlib.util.spec_from_file_location(
        'count_params', osp.join(ROOT, 'tools', 'analysis', 'count_params.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    counts = tool.main([BASE])
    # Our stages 0 and 1 do not build the link modules that the original builds but never uses.
    assert counts['total'] == _original_total() - 2 * 1_315_072 == 39_063_948
    assert counts['backbone'] == 23_508_032 and counts['track_head'] == 197_376
    assert capsys.readouterr().out.strip().splitlines()[-1] == 'total: 39063948'


#: Model keys the VIPSeg model changes with respect to the KITTI-STEP one: the label space
#: (58 things + 66 stuff, model labels = VIPSeg ids things first) and BN in the backbone.
VIPSEG_MODEL_DIFF = {
    'model.num_thing_classes': 58, 'model.num_stuff_classes': 66,
    'model.class_ids': list(model_label_order(124, VIPSEG_THING_IDS)),
    'model.backbone.norm_cfg.type': 'BN'}


def _model_diff(config: str, parent: str) -> Dict[str, Any]:
    return {k: new for k, (_, new) in config_diff(config, parent).items()
            if k.startswith('model.')}


def test_vipseg_settings(built_config) -> None:
    """The VIPSeg Video K-Net: the KITTI-STEP model with VIPSeg's label space and BN."""
    assert _model_diff(VIPSEG_R50, BASE) == VIPSEG_MODEL_DIFF
    cfg, built = built_config(VIPSEG_R50)
    # 100 thing kernels + one stuff kernel per stuff class (conv_seg rows 58..123) = 166.
    rpn = built.rpn_head
    assert rpn.num_proposals == 100 and rpn.num_thing_classes == 58
    assert rpn.init_kernels.out_channels == 100
    assert (rpn.conv_seg.in_channels, rpn.conv_seg.out_channels) == (256, 124)
    assert rpn.num_proposals + rpn.conv_seg.out_channels - rpn.num_thing_classes == 166
    assert {head.fc_cls.out_features for head in built.roi_head.mask_head} == {124}
    # Unchanged KITTI-STEP settings: strides, losses, merge thresholds.
    assert built.mask_assign_stride == 2 and rpn.feat_downsample_stride == 4
    assert {head.mask_upsample_stride for head in built.roi_head.mask_head} == {4}
    assert cfg.model.rpn_head.loss_seg.use_sigmoid is False
    assert cfg.model.roi_head.mask_head.loss_rank is None
    assert cfg.model.rpn_head.loss_rank.loss_weight == 0.1
    test_cfg = built.test_cfg
    assert (test_cfg['max_per_img'], test_cfg['instance_score_thr'], test_cfg['overlap_thr'],
            test_cfg['mask_thr']) == (100, 0.25, 0.6, 0.5)
    # Schedules: R50 12 epochs (steps 9, 11); Swin-B 8 epochs (step 7), otherwise the same.
    assert cfg.train_cfg.max_epochs == 12 and cfg.param_scheduler[1].milestones == [9, 11]
    swin = _load(VIPSEG_SWIN)
    assert swin.train_cfg.max_epochs == 8 and swin.param_scheduler[1].milestones == [7]
    assert swin.optim_wrapper == cfg.optim_wrapper
    assert set(_model_diff(VIPSEG_SWIN, VIPSEG_R50)) == {'model.backbone.type',
                                                         'model.neck.in_channels'}
    assert _model_diff(VIPSEG_SWIN, VIPSEG_R50)['model.backbone.type'] == 'TVSwin'
    # Dataset: the VIPSeg 720p data, one reference frame of the key's +-2 neighbours.
    train = cfg.train_dataloader.dataset
    assert train.dataset.type == 'VIPSegDataset' and train.dataset.data_root.endswith(
        '/VIPSeg_720P')
    assert cfg.val_dataloader.sampler.type == 'SequenceSampler'


def test_tiny_vipseg_has_the_vipseg_label_space() -> None:
    """The tiny VIPSeg config is the tiny model with the VIPSeg classes, nothing else."""
    diff = _model_diff(TINY_VIPSEG, TINY)
    assert diff == {k: v for k, v in VIPSEG_MODEL_DIFF.items() if 'backbone' not in k}
    assert _load(TINY).model.backbone.norm_cfg.type == 'BN'  # already BN in the tiny model


def test_tiny_vipseg_trains_on_a_two_frame_clip() -> None:
    """One training forward of the tiny VIPSeg model on a random 2-frame clip whose labels
    span the VIPSeg label space (thing labels 0 and 57, stuff labels 58 and 123)."""
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData, PixelData

    from knet.registry import MODELS
    from knet.structures import ClipDataSample, PanopticDataSample
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    init_default_scope('knet')
    torch.manual_seed(0)
    model = MODELS.build(_load(TINY_VIPSEG).model)
    model.init_weights()
    model.train()
    h, w = 64, 128

    def frame(shift: int) -> PanopticDataSample:
        sample = PanopticDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        masks = torch.zeros(2, h, w, dtype=torch.uint8)
        masks[0, 10:30, 10 + shift:40 + shift] = 1
        masks[1, 34:60, 50:90] = 1
        # Instance ids: dataset id * 65536 + instance (VIPSeg ids 2 = door, 123 = train).
        sample.gt_instances = InstanceData(
            masks=masks, labels=torch.tensor([0, 57]),
            instance_ids=torch.tensor([2 * 65536 + 1, 123 * 65536 + 2]))
        sem = torch.full((1, h, w), 58)
        sem[0, :20] = 123
        sem[0, 60:] = 255
        sem[0][masks[0].bool()] = 0
        sem[0][masks[1].bool()] = 57
        sample.gt_sem_seg = PixelData(sem_seg=sem)
        return sample

    clip = ClipDataSample(video_data_samples=[frame(0), frame(4)])
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (2, 3, h, w), dtype=torch.uint8)],
             data_samples=[clip]), True)
    losses = model(**data, mode='loss')
    assert {'loss_rpn_seg', 's1_loss_cls', 'loss_track'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
