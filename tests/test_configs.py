"""Every shipped config (``configs/**/*.py`` but ``_base_``) is built once in the suite.

For each config: its ``_base_`` files exist, the model builds through the registry (the
session-wide :func:`built_config` fixture, shared with ``test_video_configs.py``), and the
train / val / test dataloaders and the evaluators are parsed into objects: every dataset is
constructed with ``lazy_init=True`` (arguments checked and the pipeline built, no files read),
the samplers are registered and the evaluators build (model-only configs: :data:`MODEL_ONLY`).
Configs stay short: experiments <= 60
lines, one-knob ablations <= 15.
"""
import ast
import copy
from pathlib import Path
from typing import List

import pytest
from mmengine.config import Config

from knet.registry import DATA_SAMPLERS, DATASETS, METRICS

ROOT = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(p for p in ROOT.rglob('*.py') if '_base_' not in p.parts)
#: Configs of a model only (inherited by configs that add data and schedule).
MODEL_ONLY = {'tiny/knet_tiny.py'}
#: Parameters of the Cityscapes-STEP K-Net R50, exactly the original's.
KNET_R50_PARAMS = 37_419_660
#: Per stage, the skip updater has 330,496 parameters instead of the gated one's 463,104.
SKIP_UPDATER_SAVING = 3 * (463_104 - 330_496)


def _base_files(path: Path) -> List[Path]:
    """The ``_base_`` files a config inherits from, recursively (resolved paths)."""
    tree = ast.parse(path.read_text())
    found: List[Path] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            for name in [value] if isinstance(value, str) else value:
                base = (path.parent / name).resolve()
                found.append(base)
                if base.is_file():
                    found.extend(_base_files(base))
    return found


def _lazy(dataset: dict) -> dict:
    """A copy of a dataset config, with ``lazy_init=True`` on it and on every wrapped dataset."""
    dataset = copy.deepcopy(dataset)
    node = dataset
    while isinstance(node, dict):
        node['lazy_init'] = True
        node = node.get('dataset')
    return dataset


def _check_data(cfg: Config) -> None:
    """Build the dataloaders' datasets (lazily), look up their samplers, build the evaluators."""
    for section in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[section]
        dataset = DATASETS.build(_lazy(loader.dataset.to_dict()))
        while hasattr(dataset, 'dataset'):  # RepeatDataset and other wrappers
            dataset = dataset.dataset
        assert len(dataset.pipeline.transforms) > 0, section
        assert DATA_SAMPLERS.get(loader.sampler.type) is not None, loader.sampler.type
    for section in ('val_evaluator', 'test_evaluator'):
        METRICS.build(cfg[section])


def test_there_are_configs() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in CONFIGS}
    assert {'knet_cityscapes_step/knet_s3_r50_fpn.py', 'tiny/knet_tiny.py',
            'toy/video-knet_r18_toy.py',
            'video_knet_kitti_step/video-knet_r50_fpn_8xb1-12e_kitti-step.py',
            'video_knet_kitti_step/ablations/video-knet_swin-b_kitti-step.py',
            'toy/ablations/video-knet_r18_updator-skip_toy.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_config_model_and_data_build(path: Path, built_config) -> None:
    missing = [str(b.relative_to(ROOT)) for b in _base_files(path) if not b.is_file()]
    assert not missing, f'{path.name} inherits missing base files {missing}'
    cfg, model = built_config(path)
    assert cfg.get('default_scope', 'knet') == 'knet'
    assert type(model).__name__ == cfg.model.type
    assert sum(p.numel() for p in model.parameters()) > 0
    if path.relative_to(ROOT).as_posix() in MODEL_ONLY:
        assert 'train_dataloader' not in cfg and 'val_evaluator' not in cfg
    else:
        _check_data(cfg)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_config_size_budget(path: Path) -> None:
    """Experiment configs <= 60 lines, ablations (one knob) <= 15."""
    lines = len(path.read_text().splitlines())
    is_ablation = 'ablations' in path.parts or '_updator-' in path.name
    assert lines <= (15 if is_ablation else 60), f'{path.name} has {lines} lines'


@pytest.mark.parametrize('name', ['knet_cityscapes_step/knet_s3_r50_fpn.py',
                                  'knet_cityscapes_step/knet_s3_r50_fpn_updator-skip.py',
                                  'toy/knet_r18_toy.py'])
def test_image_knet_configs_evaluate_pq(name: str) -> None:
    """K-Net configs validate and test with image PQ; the toy one trains on frames."""
    cfg = Config.fromfile(str(ROOT / name))
    assert cfg.model.type == 'KNet'
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.type == 'PanopticMetric'
    if name.startswith('toy/'):
        assert cfg.train_dataloader.dataset.dataset.type == 'KITTISTEPFrameDataset'
        assert 'ref_seq_index' not in cfg.train_dataloader.dataset.dataset


def test_updator_skip_ablation_changes_only_the_updater(built_config) -> None:
    base_cfg, base = built_config(ROOT / 'knet_cityscapes_step' / 'knet_s3_r50_fpn.py')
    cfg, model = built_config(ROOT / 'knet_cityscapes_step' / 'knet_s3_r50_fpn_updator-skip.py')
    stage = cfg.model.roi_head.mask_head
    assert stage.kernel_updator_cfg.update_mode == 'skip'
    stage.kernel_updator_cfg.update_mode = 'gated'
    assert cfg.model.to_dict() == base_cfg.model.to_dict()
    assert sum(p.numel() for p in base.parameters()) == KNET_R50_PARAMS
    assert sum(p.numel() for p in model.parameters()) == KNET_R50_PARAMS - SKIP_UPDATER_SAVING
