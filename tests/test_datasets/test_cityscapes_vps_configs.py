"""The Cityscapes-VPS configs: the R50 settings, and the tiny config building a model and a
dataset on the synthetic twin, with one training step and one prediction on CPU."""
import copy
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger

import video_knet  # noqa: F401  (registers the modules)
from knet.datasets.toy_step import make_toy_step
from knet.registry import DATASETS, MODELS
from vseg.metainfo import CITYSCAPES_VPS_THING_IDS
from vseg.panoptic import model_label_order

ROOT = osp.join(osp.dirname(__file__), '..', '..', 'configs')
R50 = osp.join(ROOT, 'video_knet_cityscapes_vps', 'video-knet_r50_fpn_8xb1-8e_cityscapes-vps.py')
SWIN_B = osp.join(ROOT, 'video_knet_cityscapes_vps', 'video-knet_swin-b_8xb1-8e_cityscapes-vps.py')
VIPSEG_SWIN_B = osp.join(ROOT, 'video_knet_vipseg', 'video-knet_swin-b_8xb1-8e_vipseg.py')
TINY = osp.join(ROOT, 'tiny', 'video-knet_tiny_cityscapes-vps.py')
CLASS_KEYS = ('num_thing_classes', 'num_stuff_classes', 'class_ids')


@pytest.fixture(scope='module')
def twin(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('cityscapes_vps_configs') / 'twin')
    make_toy_step(root, seed=2, size=(64, 128), train_seqs=2, val_seqs=1, frames=30,
                  layout='cityscapes-vps')
    return root


def test_r50_settings(built_config) -> None:
    cfg, model = built_config(R50)
    assert cfg.model.class_ids == list(model_label_order(19, CITYSCAPES_VPS_THING_IDS))
    rpn = model.rpn_head
    # 100 thing kernels + one stuff kernel per stuff class (conv_seg rows 8..18) = 111.
    assert rpn.num_thing_classes == 8 and rpn.num_proposals == 100
    assert rpn.conv_seg.out_channels == 19
    assert {head.fc_cls.out_features for head in model.roi_head.mask_head} == {19}
    assert model.mask_assign_stride == 2
    train = cfg.train_dataloader
    assert train.batch_size == 1 and train.dataset.times == 8
    dataset = train.dataset.dataset
    assert dataset.type == 'CityscapesVPSDataset' and dataset.data_root.endswith(
        '/cityscapes_vps')
    assert dataset.ref_seq_index == [-1, 1] and dataset.resample_each_epoch is True
    steps = {t['type']: t for t in dataset.pipeline}
    assert steps['ClipRandomResize']['ratio_range'] == (0.5, 2.0)
    assert steps['ClipRandomCrop']['crop_size'] == (1024, 1024)
    assert cfg.train_cfg.max_epochs == 8 and cfg.param_scheduler[1].milestones == [7]
    assert cfg.val_evaluator == dict(type='BenchmarkVideoMetric', benchmark='cityscapes-vps')
    assert cfg.val_dataloader.sampler.type == 'SequenceSampler'
    assert 'load_from' not in cfg or cfg.load_from is None
    # the VIPSeg R50 (39,171,888, derived block by block in test_count_params_vipseg.py) with
    # 19 instead of 124 classes: conv_seg and the 3 stages' fc_cls lose 105 rows of 256 + 1
    total = sum(p.numel() for p in model.parameters())
    assert total == 39_171_888 - 4 * (124 - 19) * (256 + 1) == 39_063_948


def test_swin_b_is_the_r50_with_the_vipseg_swin_backbone(built_config) -> None:
    swin, swin_model = built_config(SWIN_B)
    r50, vipseg_swin = Config.fromfile(R50), Config.fromfile(VIPSEG_SWIN_B)
    assert swin.model.backbone == vipseg_swin.model.backbone
    assert swin.model.backbone.type == 'TVSwin' and swin.model.backbone.arch == 'b'
    assert swin.model.neck.in_channels == [128, 256, 512, 1024]
    # everything but the backbone and the neck's inputs is the R50 config's
    for key in ('backbone', 'neck'):
        swin.model.pop(key), r50.model.pop(key)
    assert swin.model == r50.model
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert swin[key] == r50[key], key
    # the Swin-B VIPSeg model (101,917,352, derived in test_count_params_vipseg.py) with 19
    # instead of 124 classes: conv_seg and the 3 stages' fc_cls lose 105 rows of 256 + 1
    total = sum(p.numel() for p in swin_model.parameters())
    assert total == 101_917_352 - 4 * (124 - 19) * (256 + 1) == 101_809_412


def test_tiny_has_the_r50_label_space() -> None:
    tiny, r50 = Config.fromfile(TINY), Config.fromfile(R50)
    assert {k: tiny.model[k] for k in CLASS_KEYS} == {k: r50.model[k] for k in CLASS_KEYS}


def _dataset(cfg: Config, section: str, root: str):
    dataset = copy.deepcopy(cfg[section].dataset.to_dict())
    node = dataset
    while 'dataset' in node:
        node = node['dataset']
    node['data_root'] = root
    return DATASETS.build(dataset)


def test_tiny_trains_and_predicts_on_the_twin(twin) -> None:
    from mmengine.registry import init_default_scope
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    init_default_scope('knet')
    cfg = Config.fromfile(TINY)
    train = _dataset(cfg, 'train_dataloader', twin)
    val = _dataset(cfg, 'val_dataloader', twin)
    assert len(train) == 12 and len(val) == 30  # val: all 30 frames of the one clip
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = pseudo_collate([train[0]])
    clip = batch['data_samples'][0]
    assert len(clip.video_data_samples) == 2
    assert clip.video_data_samples[0].metainfo['seg_format'] == 'cityscapes-vps'
    labels = clip.video_data_samples[0].gt_instances.labels
    assert labels.numel() and int(labels.max()) < 8  # things are model labels 0..7
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    assert {'loss_rpn_seg', 's1_loss_cls', 'loss_track'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    model.eval()
    with torch.no_grad():
        sample = pseudo_collate([val[0]])
        out = model(**model.data_preprocessor(sample, False), mode='predict')[0]
    assert tuple(out.pred_panoptic.sem_seg.shape[-2:]) == (64, 128)
    assert out.metainfo['seq_id'] == 2 and out.metainfo['frame_id'] == 0
