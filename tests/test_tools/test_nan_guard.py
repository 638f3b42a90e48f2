"""NaN/inf loss guard: CheckInvalidLossHook names the term and iteration (knet/engine/hooks.py)."""
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Optional

import pytest
import torch
from helpers import REPO, load_tool
from mmengine.config import Config
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from knet.engine.hooks import CheckInvalidLossHook, InvalidLossError, find_invalid_terms
from knet.registry import DATASETS, HOOKS, MODELS


@MODELS.register_module()
class NanGuardToyModel(BaseModel):
    """Linear model whose ``loss_mask`` becomes NaN on its ``nan_at``-th call (1-based)."""

    def __init__(self, nan_at: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.nan_at = nan_at
        self.calls = 0

    def forward(self, inputs: torch.Tensor, targets: Optional[torch.Tensor] = None,
                mode: str = 'tensor'):
        pred = self.fc(inputs)
        if mode != 'loss':
            return pred
        self.calls += 1
        loss_mask = (pred - targets).abs().mean()
        if self.calls == self.nan_at:
            loss_mask = loss_mask * float('nan')
        return dict(loss_cls=(pred - targets).pow(2).mean(), loss_mask=loss_mask)


@DATASETS.register_module()
class NanGuardToyDataset(Dataset):
    """Eight constant samples."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return dict(inputs=torch.tensor([1.0, float(index)]), targets=torch.tensor([0.5]))


def _fake_runner(iteration: int) -> SimpleNamespace:
    return SimpleNamespace(iter=iteration, train_loop=None)


def test_find_invalid_terms():
    outputs = dict(loss=torch.tensor(math.inf), loss_cls=torch.tensor(1.0),
                   loss_mask=torch.tensor(math.inf), acc=torch.tensor(math.nan))
    assert find_invalid_terms(outputs) == ['loss_mask']          # accuracy NaN is not a loss
    overflow = dict(loss=torch.tensor(math.inf), loss_cls=torch.tensor(3e38))
    assert find_invalid_terms(overflow) == ['loss']              # only the sum explains it
    assert find_invalid_terms(dict(loss=1.0, loss_rank=float('nan'))) == ['loss_rank']
    assert find_invalid_terms(dict(loss=torch.tensor(2.0))) == []


def test_hook_message_interval_and_disable():
    outputs = dict(loss=torch.tensor(math.nan), loss_cls=torch.tensor(0.3),
                   loss_dice=torch.tensor(math.nan))
    hook = CheckInvalidLossHook()
    with pytest.raises(InvalidLossError, match=r'iteration 8: loss_dice=nan') as info:
        hook.after_train_iter(_fake_runner(7), batch_idx=7, outputs=outputs)
    assert 'loss_cls' not in str(info.value)
    CheckInvalidLossHook(enabled=False).after_train_iter(_fake_runner(7), 7, outputs=outputs)
    every_4 = CheckInvalidLossHook(interval=4)
    every_4.after_train_iter(_fake_runner(6), 6, outputs=outputs)  # iteration 7: not checked
    with pytest.raises(InvalidLossError, match='iteration 8'):
        every_4.after_train_iter(_fake_runner(7), 7, outputs=outputs)
    with pytest.raises(ValueError, match='interval'):
        CheckInvalidLossHook(interval=0)


def _write_config(tmp_path: Path) -> str:
    runtime = REPO / 'configs' / '_base_' / 'default_runtime.py'
    path = tmp_path / 'nan_toy.py'
    path.write_text(f'''
_base_ = [{str(runtime)!r}]
model = dict(type='NanGuardToyModel', nan_at=3)
train_dataloader = dict(batch_size=2, num_workers=0, collate_fn=dict(type='default_collate'),
                        sampler=dict(type='DefaultSampler', shuffle=False),
                        dataset=dict(type='NanGuardToyDataset'))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
log_level = 'WARNING'
''')
    return str(path)


def test_default_runtime_enables_the_guard():
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'default_runtime.py'))
    assert any(h['type'] == 'CheckInvalidLossHook' and h.get('enabled', True)
               for h in cfg.custom_hooks)
    assert 'CheckInvalidLossHook' in HOOKS.module_dict


def test_training_stops_at_the_nan_iteration(tmp_path: Path):
    train, config = load_tool('train'), _write_config(tmp_path)
    with pytest.raises(InvalidLossError,
                       match=r'iteration 3 \(epoch 1, batch 3\): loss_mask=nan') as info:
        train.main([config, '--work-dir', str(tmp_path / 'on')])
    assert 'loss_cls' not in str(info.value)
    # Disabled from the command line, the same run trains to the end (2 epochs x 4 iters).
    runner = train.main([config, '--work-dir', str(tmp_path / 'off'),
                         '--cfg-options', 'custom_hooks.0.enabled=False'])
    assert runner.iter == 8
