"""tools/ablate.py over video_knet.apis.ablation / ablation_runner: the config files as the
study's only declaration; tables, skipping, resuming.

Most tests replace the stage commands (train / inference / evaluators) by a fake that writes what
the real tools write (``last_checkpoint``, ``--json`` figures), so they check the runner's own
logic in milliseconds on small hand-written configs. The toy preset is checked against the real
toy configs (each changes one knob of the toy Video K-Net, and its model and dataset build), and
one slow test runs two toy experiments for real: train 2 iterations, infer, evaluate.
"""
import json
import os
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from helpers import REPO, load_tool
from mmengine.config import Config

from video_knet.apis import ablation, ablation_runner

ablate = load_tool('ablate')

BASE = '''
model = dict(type='Fake', backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN')),
             roi_head=dict(mask_head=dict(kernel_updator_cfg=dict(update_mode='gated'))))
train_dataloader = dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
    type='KITTISTEPDataset', data_root='data/a', ref_seq_index=[-2, -1, 1, 2])))
test_dataloader = dict(dataset=dict(type='KITTISTEPDataset', data_root='data/a', split='val'))
val_dataloader = test_dataloader
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100)
'''
SKIP = ("_base_ = './base.py'\nmodel = dict(roi_head=dict(mask_head=dict(\n"
        "    kernel_updator_cfg=dict(update_mode='skip'))))\n")
MLP = SKIP.replace("'skip'", "'mlp'")
CAUSAL = ("_base_ = ['./base.py']\n"
          "train_dataloader = dict(dataset=dict(dataset=dict(ref_seq_index=[-2, -1])))\n")
SWIN = ("_base_ = './base.py'\n"
        "model = dict(backbone=dict(_delete_=True, type='TVSwin', arch='b'))\n")
#: Inherits two files: in no table of its own.
OTHER = "_base_ = ['./base.py', './extra.py']\n"
#: Changes the knob of the skip ablation further (a table whose base is ``skip``).
SKIP_LOAD = "_base_ = './skip.py'\nload_from = 'k.pth'\n"


def write_configs(root: Path, **texts: str) -> Dict[str, str]:
    """Write ``root/{name}.py`` for each text; returns the paths by name."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in texts.items():
        (root / f'{name}.py').write_text(text)
        paths[name] = str(root / f'{name}.py')
    return paths


class FakeStages:
    """Stands in for ``run_command``: records commands, writes the tools' outputs.

    ``figures[name] = (STQ, AQ, SQ, VPQ, VPQ_k1)`` fractions written by the fake evaluators;
    ``fail_once`` = set of (experiment, stage) that fail the first time they run.
    """

    def __init__(self, figures: Dict[str, tuple], fail_once=()) -> None:
        self.figures = figures
        self.fail_once = set(fail_once)
        self.calls: List[tuple] = []

    def __call__(self, cmd, log_path, env=None, verbose=False) -> None:
        exp_dir = Path(log_path).parents[1]
        stage = Path(log_path).stem
        self.calls.append((exp_dir.name, stage, list(cmd)))
        if (exp_dir.name, stage) in self.fail_once:
            self.fail_once.discard((exp_dir.name, stage))
            raise ablation.StageError(f'{stage} crashed')
        stq, aq, sq, vpq, vpq1 = self.figures[exp_dir.name]
        if stage == 'train':
            work = exp_dir / 'train'
            assert str(work) in cmd
            work.mkdir(parents=True, exist_ok=True)
            (work / 'iter_4.pth').write_bytes(b'weights')
            (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
        elif stage == 'stq':
            Path(cmd[cmd.index('--json') + 1]).write_text(json.dumps(dict(STQ=stq, AQ=aq, SQ=sq)))
        elif stage == 'vpq':
            Path(cmd[cmd.index('--json') + 1]).write_text(json.dumps(dict(
                VPQ=vpq, per_window={'1': dict(VPQ=vpq1), '2': dict(VPQ=None)})))

    def stages(self, name: str) -> List[str]:
        return [stage for exp, stage, _ in self.calls if exp == name]


def test_expand_configs_globs_paths_and_errors(tmp_path: Path):
    paths = write_configs(tmp_path / 'c', base=BASE, skip=SKIP, mlp=MLP)
    assert ablation.expand_configs([paths['skip'], str(tmp_path / 'c' / '*.py')]) == [
        paths['skip'], paths['base'], paths['mlp']]  # glob sorted, duplicate dropped
    assert ablation.expand_configs(['c/m*.py'], str(tmp_path)) == [paths['mlp']]
    with pytest.raises(FileNotFoundError, match='no config file matches'):
        ablation.expand_configs([str(tmp_path / 'c' / 'x*.py')])
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ablation.expand_configs([str(tmp_path / 'c' / 'x.py')])
    assert ablation.experiment_names(['a/x.py', 'b/x.py', 'b/y.py', 'c/x.py']) == [
        'x', 'x-2', 'y', 'x-3']


def test_config_parent_and_diff(tmp_path: Path):
    paths = write_configs(tmp_path, base=BASE, skip=SKIP, causal=CAUSAL, swin=SWIN,
                          other=OTHER, extra='seed = 1\n', skip_load=SKIP_LOAD)
    assert ablation.config_parent(paths['skip']) == paths['base']
    assert ablation.config_parent(paths['causal']) == paths['base']  # a one-item list
    assert ablation.config_parent(paths['other']) is None
    assert ablation.config_parent(paths['base']) is None
    assert ablation.config_diff(paths['skip'], paths['base']) == {
        'model.roi_head.mask_head.kernel_updator_cfg.update_mode': ('gated', 'skip')}
    assert ablation.config_diff(paths['causal'], paths['base']) == {
        'train_dataloader.dataset.dataset.ref_seq_index': ([-2, -1, 1, 2], [-2, -1])}
    # A replaced sub-config: its `type` stands for depth, norm_cfg.type and arch.
    assert ablation.config_diff(paths['swin'], paths['base']) == {
        'model.backbone.type': ('ResNet', 'TVSwin')}
    assert ablation.config_diff(paths['skip_load'], paths['skip']) == {
        'load_from': (ablation.ABSENT, 'k.pth')}
    assert ablation.short_key('model.roi_head.mask_head.kernel_updator_cfg.update_mode') == \
        'kernel_updator_cfg.update_mode'
    assert ablation.format_value('a|b') == 'a\\|b' and ablation.format_value([-1, 1]) == '[-1, 1]'


def test_results_table_format():
    rows = [('gated (base)', 'gated', dict(STQ=0.5394, AQ=0.5, SQ=0.58249, VPQ=0.386,
                                           VPQ_k1=0.4), ''),
            ('skip', 'skip', dict(STQ=0.543, AQ=0.4971, SQ=0.594, VPQ=None, VPQ_k1=0.41), ''),
            ('mlp', 'mlp', None, 'failed (train)')]
    lines = ablation.results_table(rows)
    assert lines[0] == '| experiment | value | STQ | AQ | SQ | VPQ | VPQ k=1 |'
    assert lines[1] == '|---|---|---|---|---|---|---|'
    assert lines[2] == '| gated (base) | gated | 53.9 | **50.0** | 58.2 | 38.6 | 40.0 |'
    assert lines[3] == '| skip | skip | **54.3** | 49.7 | **59.4** | n/a | **41.0** |'
    assert lines[4] == '| mlp | mlp | failed (train) |  |  |  |  |'


def test_tables_come_from_the_configs(tmp_path: Path):
    paths = write_configs(tmp_path, base=BASE, skip=SKIP, mlp=MLP, causal=CAUSAL, other=OTHER,
                          extra='seed = 1\n', skip_load=SKIP_LOAD)
    order = ['skip', 'causal', 'mlp', 'other', 'skip_load', 'base']
    plans = ablation.make_plans([paths[name] for name in order], {}, None, None, 'val')
    groups = ablation.table_groups(plans)
    mode = ('model.roi_head.mask_head.kernel_updator_cfg.update_mode', )
    ref = ('train_dataloader.dataset.dataset.ref_seq_index', )
    assert list(groups) == [(paths['base'], mode), (paths['base'], ref),
                            (paths['skip'], ('load_from', )), (None, ())]
    cells = {key: [(plan.name, value) for plan, value in rows] for key, rows in groups.items()}
    # The parent leads each of its tables, wherever it comes in the run.
    assert cells[(paths['base'], mode)] == [('base', 'gated'), ('skip', 'skip'), ('mlp', 'mlp')]
    assert cells[(paths['base'], ref)] == [('base', '[-2, -1, 1, 2]'), ('causal', '[-2, -1]')]
    assert cells[(paths['skip'], ('load_from', ))] == [('skip', '-'), ('skip_load', 'k.pth')]
    assert cells[(None, ())] == [('other', '')]
    text = ablation.results_markdown(plans, {'mlp': dict(figures=dict(STQ=0.5))}, {'skip': 'vpq'},
                                   'intro')
    assert '## `kernel_updator_cfg.update_mode` (vs `base`)' in text
    assert '## `load_from` (vs `skip`)' in text and '## Other experiments' in text
    assert '| base (base) | gated | pending |' in text
    assert '| skip | skip | failed (vpq) |' in text
    assert '| mlp | mlp | 50.0 | n/a | n/a | n/a | n/a |' in text


def test_run_skip_and_resume(tmp_path: Path, monkeypatch, capsys):
    paths = write_configs(tmp_path / 'configs', base=BASE, skip=SKIP)
    # The same config under another name: trained once, reported twice.
    paths.update(write_configs(tmp_path / 'more', skip=SKIP.replace('./base', '../configs/base')))
    root = tmp_path / 'study'
    argv = [paths['base'], str(tmp_path / 'configs' / 's*.py'), paths['skip'], '--work-root',
            str(root), '--device', 'cpu', '--cfg-options', 'train_cfg.max_iters=5']
    fake = FakeStages({'base': (0.6, 0.5, 0.72, 0.4, 0.45), 'skip': (0.7, 0.6, 0.8, 0.5, 0.55)},
                      fail_once={('skip', 'inference')})
    monkeypatch.setattr(ablation_runner, 'run_command', fake)
    with pytest.raises(SystemExit):  # skip failed: exit status 1
        ablate.main(argv)
    assert fake.stages('base') == ['train', 'inference', 'stq', 'vpq']
    assert fake.stages('skip') == ['train', 'inference']
    assert 'skip-2' not in {exp for exp, _, _ in fake.calls}
    train_cmd = fake.calls[0][2]
    assert train_cmd[1].endswith('tools/train.py') and '--resume' in train_cmd
    assert train_cmd[2] == str(root / 'base' / 'config.py') and '--no-validate' in train_cmd
    infer_cmd = fake.calls[1][2]
    assert infer_cmd[1].endswith('tools/inference.py')
    assert infer_cmd[2:4] == [str(root / 'base' / 'config.py'),
                              str(root / 'base' / 'train' / 'iter_4.pth')]
    assert infer_cmd[-5:] == ['--split', 'val', '--device', 'cpu', '--no-progress']
    assert fake.calls[2][2][1].endswith('tools/evaluate_stq.py')
    assert fake.calls[3][2][-5:] == ['--window-sizes', '1', '2', '3', '4']
    assert fake.calls[2][2][fake.calls[2][2].index('--gt-dir') + 1] == 'data/a/video_sequence/val'
    assert Config.fromfile(str(root / 'skip' / 'config.py')).train_cfg.max_iters == 5
    table = (root / 'results.md').read_text()
    assert '| base (base) | gated | 60.0 | 50.0 | 72.0 | 40.0 | 45.0 |' in table
    assert '| skip | skip | failed (inference) |' in table
    assert '| skip-2 | skip | failed (as skip) |' in table
    assert json.loads((root / 'skip' / 'state.json').read_text())['train'][
        'checkpoint'].endswith('iter_4.pth')
    # Re-run: base is skipped, skip resumes at inference (its training is not repeated).
    fake.calls.clear()
    records = ablate.main(argv)
    assert fake.stages('base') == [] and fake.stages('skip') == ['inference', 'stq', 'vpq']
    assert records['skip']['figures'] == dict(STQ=0.7, AQ=0.6, SQ=0.8, VPQ=0.5, VPQ_k1=0.55)
    assert records['skip-2']['same_as'] == 'skip'
    assert json.loads((root / 'base' / 'done.json').read_text())['figures']['VPQ_k1'] == 0.45
    table = (root / 'results.md').read_text()
    assert '| skip | skip | **70.0** | **60.0** | **80.0** | **50.0** | **55.0** |' in table
    assert '| skip-2 (= skip) | skip | **70.0** |' in table
    assert 'already done, skipped' in capsys.readouterr().out
    # A third run does nothing; changing an unfinished experiment's config is refused.
    fake.calls.clear()
    ablate.main(argv)
    assert fake.calls == []
    (root / 'skip' / 'done.json').unlink()
    with pytest.raises(ValueError, match='differs from the config now requested'):
        ablate.main(argv + ['train_cfg.val_interval=2'])
    assert fake.calls == []  # refused before running anything


def test_resumed_training_uses_latest_checkpoint(tmp_path: Path, monkeypatch, capsys):
    paths = write_configs(tmp_path, base=BASE)
    root = tmp_path / 'study'
    work = root / 'base' / 'train'
    work.mkdir(parents=True)
    (work / 'iter_2.pth').write_bytes(b'partial')
    (work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
    fake = FakeStages(dict(base=(0.5, 0.5, 0.5, 0.5, 0.5)))
    monkeypatch.setattr(ablation_runner, 'run_command', fake)
    ablate.main([paths['base'], '--work-root', str(root), '--device', 'cpu', '--gpus', '2'])
    assert f'resuming training from {work / "iter_2.pth"}' in capsys.readouterr().out
    train_cmd = fake.calls[0][2]
    assert train_cmd[:2] == ['bash', str(REPO / 'tools' / 'dist_train.sh')]
    assert train_cmd[3:5] == ['2', str(work)] and '--resume' in train_cmd
    infer_cmd = fake.calls[1][2]
    assert infer_cmd[1:6] == ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
                              '2']
    assert infer_cmd[-2:] == ['--launcher', 'pytorch']


def test_command_line_errors(tmp_path: Path, capsys):
    for argv in ([], ['x.py', '--toy'], ['x.py', '--toy-iters', '3'], ['x.py', '--gpus', '0']):
        with pytest.raises(SystemExit):
            ablate.parse_args(argv + ['--work-root', str(tmp_path)])
    assert '--toy-iters applies to --toy only' in capsys.readouterr().err


def test_toy_preset_lists_one_knob_per_config(toy_step_root: str, monkeypatch, capsys):
    from mmengine.registry import init_default_scope

    import video_knet  # noqa: F401  (registers the modules)
    from knet.registry import DATASETS, MODELS
    plans: List = []  # what the dry run planned
    make_plans = ablate.make_plans
    monkeypatch.setattr(ablate, 'make_plans',
                        lambda *args: plans.extend(make_plans(*args)) or plans)
    ablate.main(['--toy', '--dry-run', '--work-root', 'unused', '--toy-iters', '3',
                 '--data-root', toy_step_root])
    out = capsys.readouterr().out
    assert '(8/8)' in out and '## `kernel_updator_cfg.update_mode` (vs `video-knet_r18_toy`)' in out
    assert '| video-knet_r18_toy (base) | [-2, -1, 1, 2] | pending |' in out
    configs = ablation.expand_configs(ablate.TOY, str(REPO))
    assert configs[0] == str(REPO / 'configs' / 'toy' / 'video-knet_r18_toy.py')
    assert len(configs) == 8 == len(os.listdir(REPO / 'configs' / 'toy' / 'ablations')) + 1
    assert [plan.config for plan in plans] == configs
    init_default_scope('knet')
    for plan in plans[1:]:
        assert plan.parent == configs[0] and len(plan.diff) == 1, plan.name
        (key, (_, value)), = plan.diff.items()
        cfg = Config.fromstring(plan.config_text, '.py')
        assert cfg.train_cfg.max_iters == 3
        if key.endswith('update_mode'):
            with torch.device('meta'):
                model = MODELS.build(cfg.model)
            assert {m.update_mode for m in model.modules() if hasattr(m, 'update_mode')} == {
                value}
        else:
            assert key == 'train_dataloader.dataset.dataset.ref_seq_index'
            dataset = DATASETS.build(cfg.train_dataloader.dataset).dataset
            assert dataset.ref_seq_index == tuple(value)
            assert dataset.data_root == toy_step_root


@pytest.mark.slow
def test_two_toy_experiments_end_to_end(toy_step_root: str, tmp_path: Path):
    """The real stage tools as subprocesses: 2 training iterations, inference, STQ and VPQ."""
    configs = [str(REPO / 'configs' / 'toy' / 'video-knet_r18_toy.py'),
               str(REPO / 'configs' / 'toy' / 'ablations' / 'video-knet_r18_updator-mlp_toy.py')]
    root = tmp_path / 'study'
    records = ablate.main(configs + [
        '--work-root', str(root), '--device', 'cpu', '--data-root', toy_step_root,
        '--cfg-options', 'train_cfg.max_iters=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1'])
    assert sorted(records) == ['video-knet_r18_toy', 'video-knet_r18_updator-mlp_toy']
    for name, record in records.items():
        assert Path(record['checkpoint']).name == 'iter_2.pth'
        assert sorted(os.listdir(root / name / 'results' / 'final')) == ['0002']
        for key in ('STQ', 'AQ', 'SQ', 'VPQ', 'VPQ_k1'):
            value = record['figures'][key]
            assert value is None or 0.0 <= value <= 1.0, (name, key, value)
    table = (root / 'results.md').read_text()
    assert '| video-knet_r18_toy (base) | gated |' in table
    assert '| video-knet_r18_updator-mlp_toy | mlp |' in table


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
