"""Video K-Net configs: model structure, ablations change only their knob, KITTI-STEP recipe,
parameter parity with the original (docs/model.md).
"""
import glob
import importlib.util
import logging
import os.path as osp
from typing import Any, Dict

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger

import video_knet  # noqa: F401  (registers the modules)
from video_knet.apis.ablation import flatten

ROOT = osp.join(osp.dirname(__file__), '..')
KITTI = osp.join(ROOT, 'configs', 'video_knet_kitti_step')
BASE = osp.join(KITTI, 'video-knet_r50_fpn_8xb1-12e_kitti-step.py')
ABLATIONS = sorted(glob.glob(osp.join(KITTI, 'ablations', '*.py')))
VIDEO_CONFIGS = [BASE] + ABLATIONS + [osp.join(ROOT, 'configs', 'tiny', 'video-knet_tiny.py')] \
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
