"""Kill-and-resume through tools/train.py on a toy model.

A run is "killed" by a hook raising mid-epoch, resumed with ``--resume`` from the latest
checkpoint of its work dir, and must end with exactly the parameters, learning rates and
counters of an uninterrupted run. This exercises the torch>=2.6 checkpoint loader of
``knet/engine/checkpoint.py``, which ``tools/train.py`` switches on explicitly (resume unpickles
the message hub and the config; that importing alone does not switch it on is tested in
tests/test_apis/test_checkpoint_loading.py), the dataset metainfo stored in checkpoints, and
``tools/test.py`` on the trained checkpoint.
"""
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
import torch
import torch.nn.functional as F
from helpers import REPO, load_tool
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader
from torch import nn
from torch.utils.data import Dataset

from knet.registry import DATASETS, HOOKS, METRICS, MODELS

LR = 0.01
TOY_META = dict(classes=('low', 'high'), palette=((0, 0, 0), (255, 255, 255)))


class SimulatedCrash(RuntimeError):
    """Stands in for a killed job."""


@MODELS.register_module()
class ResumeToyModel(BaseModel):
    """Two linear layers; the first is named ``backbone`` to exercise ``lr_mult``."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, inputs: torch.Tensor, targets: Optional[torch.Tensor] = None,
                mode: str = 'tensor'):
        pred = self.head(torch.relu(self.backbone(inputs)))
        if mode == 'loss':
            return dict(loss_mse=F.mse_loss(pred, targets),
                        loss_l1=0.1 * F.l1_loss(pred, targets))
        if mode == 'predict':
            return [dict(pred=p, target=t) for p, t in zip(pred, targets)]
        return pred


@DATASETS.register_module()
class ResumeToyDataset(Dataset):
    """16 fixed samples of a noisy linear function, with a metainfo."""

    metainfo = TOY_META

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(123)
        self.inputs = torch.randn(16, 4, generator=gen)
        self.targets = self.inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return dict(inputs=self.inputs[index], targets=self.targets[index])


@METRICS.register_module()
class ResumeToyMetric(BaseMetric):
    """Mean squared error of the toy predictions."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        self.results.extend(float((s['pred'] - s['target']).pow(2).sum()) for s in data_samples)

    def compute_metrics(self, results: List[float]) -> Dict[str, float]:
        return dict(mse=sum(results) / len(results))


@HOOKS.register_module()
class ResumeTestRecorderHook(Hook):
    """Record (iteration, learning rates) before every training iteration."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.records = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        lrs = [group['lr'] for group in runner.optim_wrapper.optimizer.param_groups]
        self.records.append((runner.iter, lrs))


@HOOKS.register_module()
class ResumeTestCrashHook(Hook):
    """Raise :class:`SimulatedCrash` when iteration ``at_iter`` (0-based) is about to run."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.at_iter:
            raise SimulatedCrash(f'killed before iteration {self.at_iter}')


TOY_CONFIG = '''
_base_ = [{runtime!r}]
model = dict(type='ResumeToyModel')
_loader = dict(batch_size=2, num_workers=0, collate_fn=dict(type='default_collate'),
               dataset=dict(type='ResumeToyDataset'))
train_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=True), **_loader)
val_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=False), **_loader)
test_dataloader = val_dataloader
val_evaluator = dict(type='ResumeToyMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr={lr}, weight_decay=0.05),
                     paramwise_cfg=dict(custom_keys={{'backbone': dict(lr_mult=0.25)}}),
                     clip_grad=dict(max_norm=1.0, norm_type=2))
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(max_keep_ckpts=10, {ckpt}))
custom_hooks = [dict(type='CheckInvalidLossHook'), dict(type='ResumeTestRecorderHook')]
log_level = 'WARNING'
{loop}
'''
EPOCH_LOOP = '''
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=4, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=4, milestones=[2, 3], gamma=0.1)]
'''
ITER_LOOP = '''
train_cfg = dict(type='IterBasedTrainLoop', max_iters=12, val_interval=100)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=12, milestones=[6, 9], gamma=0.1)]
log_processor = dict(by_epoch=False)
'''


def _write_configs(tmp_path: Path, loop: str, ckpt: str, crash_at: int) -> Dict[str, str]:
    runtime = str(REPO / 'configs' / '_base_' / 'default_runtime.py')
    toy = tmp_path / 'toy.py'
    toy.write_text(TOY_CONFIG.format(runtime=runtime, lr=LR, ckpt=ckpt, loop=loop))
    crash = tmp_path / 'toy_crash.py'
    crash.write_text(f"_base_ = ['./toy.py']\ncustom_hooks = [dict(type='CheckInvalidLossHook'), "
                     f"dict(type='ResumeTestRecorderHook'), "
                     f"dict(type='ResumeTestCrashHook', at_iter={crash_at})]\n")
    return dict(toy=str(toy), crash=str(crash))


def _groups(lr: float) -> List[float]:
    """Expected learning rates of the four parameter groups for a base lr."""
    return [0.25 * lr, 0.25 * lr, lr, lr]


def _records(runner) -> list:
    return next(h for h in runner.hooks if isinstance(h, ResumeTestRecorderHook)).records


def _kill_and_resume(tmp_path: Path, loop: str, ckpt: str, crash_at: int, extra: List[str]):
    """Uninterrupted run, then crashed + resumed run; returns (full runner, resumed runner)."""
    train = load_tool('train')
    cfgs = _write_configs(tmp_path, loop, ckpt, crash_at)
    full = train.main([cfgs['toy'], '--work-dir', str(tmp_path / 'full'), *extra])
    with pytest.raises(SimulatedCrash):
        train.main([cfgs['crash'], '--work-dir', str(tmp_path / 'killed'), *extra])
    resumed = train.main([cfgs['toy'], '--work-dir', str(tmp_path / 'killed'), '--resume',
                          *extra])
    return full, resumed


def _assert_same_end_state(full, resumed, first_resumed_iter: int) -> None:
    assert resumed.iter == full.iter and resumed.epoch == full.epoch
    for (name, p_full), (_, p_res) in zip(full.model.named_parameters(),
                                          resumed.model.named_parameters()):
        assert torch.equal(p_full, p_res), f'{name} differs after resume'
    full_lrs = [g['lr'] for g in full.optim_wrapper.optimizer.param_groups]
    assert full_lrs == [g['lr'] for g in resumed.optim_wrapper.optimizer.param_groups]
    records = _records(resumed)
    assert records[0][0] == first_resumed_iter, 'resume did not start at the checkpoint'
    assert records == _records(full)[first_resumed_iter:], 'LR schedule differs after resume'


def test_epoch_loop_kill_and_resume(tmp_path: Path):
    # 8 iterations per epoch; checkpoints at epoch ends; killed in epoch 3 (iteration 19).
    full, resumed = _kill_and_resume(tmp_path, EPOCH_LOOP, 'interval=1', 19, [])
    assert full.iter == 32 and full.epoch == 4
    _assert_same_end_state(full, resumed, first_resumed_iter=16)
    # Hand-computed schedule. mmengine's LinearLR(end=5) reaches factor 1 at iteration 4:
    # factor = 0.001 + 0.999 * it / 4; then x0.1 at epochs 2 and 3 (iterations 16, 24).
    # Param groups: backbone.weight, backbone.bias (lr_mult 0.25), head.weight, head.bias.
    lrs = {it: lr for it, lr in _records(full)}
    assert lrs[2] == pytest.approx(_groups(LR * 0.5005))
    assert lrs[8] == pytest.approx(_groups(LR))
    assert lrs[15] == pytest.approx(_groups(LR))
    assert lrs[16] == pytest.approx(_groups(LR * 0.1))
    assert lrs[31] == pytest.approx(_groups(LR * 0.01))
    # The checkpoint carries the config and the dataset metainfo and loads on torch >= 2.6.
    ckpt = CheckpointLoader.load_checkpoint(str(tmp_path / 'killed' / 'epoch_4.pth'))
    assert ckpt['meta']['dataset_meta'] == TOY_META
    assert 'ResumeToyModel' in ckpt['meta']['cfg']
    assert ckpt['meta']['epoch'] == 4 and ckpt['meta']['iter'] == 32
    # tools/test.py evaluates the checkpoint with the config's test evaluator.
    metrics = load_tool('test').main([str(tmp_path / 'toy.py'),
                                      str(tmp_path / 'killed' / 'epoch_4.pth'),
                                      '--work-dir', str(tmp_path / 'eval')])
    data = ResumeToyDataset()
    with torch.no_grad():
        expected = (resumed.model(data.inputs) - data.targets).pow(2).mean().item()
    assert metrics['toy/mse'] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_iter_loop_kill_and_resume_without_validation(tmp_path: Path):
    # Checkpoints every 4 iterations; killed before iteration 10 -> resumes at 8.
    full, resumed = _kill_and_resume(tmp_path, ITER_LOOP, 'interval=4, by_epoch=False', 10,
                                     ['--no-validate'])
    assert full.iter == 12 and full.val_loop is None
    _assert_same_end_state(full, resumed, first_resumed_iter=8)
    lrs = {it: lr for it, lr in _records(full)}
    assert lrs[5] == pytest.approx(_groups(LR))
    assert lrs[6] == pytest.approx(_groups(LR * 0.1))
    assert lrs[9] == pytest.approx(_groups(LR * 0.01))


def test_resume_and_load_from_options(tmp_path: Path):
    train = load_tool('train')
    cfgs = _write_configs(tmp_path, ITER_LOOP, 'interval=4, by_epoch=False', 10)
    work = str(tmp_path / 'empty')
    # Auto-resume in an empty work dir falls back to plain weight loading (never resumes a
    # pretrained checkpoint as a training state).
    cfg = train.setup_config(train.parse_args([cfgs['toy'], '--work-dir', work, '--resume',
                                               '--load-from', 'pretrained.pth']))
    assert cfg.resume is False and cfg.load_from == 'pretrained.pth'
    assert cfg.default_scope == 'knet'
    if not torch.cuda.is_available():
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    with pytest.raises(ValueError, match='not both'):
        train.setup_config(train.parse_args([cfgs['toy'], '--resume', cfgs['toy'],
                                             '--load-from', 'x.pth']))
    cfg = train.setup_config(train.parse_args([cfgs['toy'], '--seed', '7', '--local_rank', '0',
                                               '--cfg-options', 'custom_hooks.0.enabled=False']))
    assert cfg.randomness.seed == 7 and cfg.custom_hooks[0].enabled is False
    assert Path(cfg.work_dir) == Path('work_dirs/toy')


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
