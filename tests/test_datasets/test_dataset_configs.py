"""Base dataset configs build on the toy data; tools/browse_dataset.py writes sample panels."""
import importlib.util
import os
import os.path as osp

import cv2
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from knet.registry import DATA_SAMPLERS, DATASETS
from knet.structures import ClipDataSample

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KITTI_CFG = osp.join(REPO, 'configs', '_base_', 'datasets', 'kitti_step.py')


def test_kitti_step_config_builds_on_toy_data(toy_step_root):
    cfg = Config.fromfile(KITTI_CFG)
    train = cfg.train_dataloader.dataset
    assert train.type == 'RepeatDataset' and train.times == 2
    assert train.dataset.ref_seq_index == [-2, -1, 1, 2]
    assert cfg.train_dataloader.batch_size == 1 and cfg.train_dataloader.num_workers == 2
    assert cfg.val_dataloader.sampler.type == 'SequenceSampler'
    # The dataset base carries its evaluator (STQ + VPQ for KITTI-STEP).
    assert cfg.val_evaluator == cfg.test_evaluator == dict(
        type='VideoPanopticMetric', metric=['STQ', 'VPQ'], window_sizes=[1, 2, 3, 4])
    init_default_scope('knet')
    train.dataset.data_root = toy_step_root
    dataset = DATASETS.build(train)
    assert len(dataset) == 2 * len(dataset.dataset)
    packed = dataset[0]
    assert isinstance(packed['data_samples'], ClipDataSample)
    assert packed['inputs'].shape[:2] == (2, 3) and packed['inputs'].shape[2] <= 384
    cfg.val_dataloader.dataset.data_root = toy_step_root
    val = DATASETS.build(cfg.val_dataloader.dataset)
    sampler = DATA_SAMPLERS.build(cfg.val_dataloader.sampler, default_args=dict(dataset=val))
    assert list(sampler) == list(range(6))
    assert val[0]['data_samples'].gt_sem_seg.sem_seg.shape == (1, 64, 192)


def test_cityscapes_config_parses():
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'cityscapes_step.py'))
    assert cfg.train_dataloader.dataset.times == 8
    assert cfg.train_dataloader.dataset.dataset.type == 'CityscapesSTEPDataset'
    assert cfg.train_pipeline[2]['scale'] == (1024, 2048)
    assert cfg.val_evaluator == cfg.test_evaluator == dict(type='PanopticMetric')


def test_env_var_sets_data_root(monkeypatch):
    monkeypatch.setenv('KNET_DATA_ROOT', '/somewhere')
    assert Config.fromfile(KITTI_CFG).val_dataloader.dataset.data_root == '/somewhere/kitti-step'


def test_browse_dataset_writes_panels(toy_step_root, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'browse_dataset', osp.join(REPO, 'tools', 'browse_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'browse')
    tool.main([KITTI_CFG, '--output-dir', out, '--num', '2', '--data-root', toy_step_root])
    names = sorted(os.listdir(out))
    assert len(names) == 2
    panel = cv2.imread(osp.join(out, names[0]))
    h, w = panel.shape[:2]
    assert h % 3 == 0 and w % 2 == 0  # 3 rows (image, semantic, instances) x key|ref
    with pytest.raises(SystemExit):
        tool.parse_args([])
