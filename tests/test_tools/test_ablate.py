"""tools/ablate.py: experiment lists, results table, skipping and resuming (DESIGN.md §11.1).

The stage commands (train / inference / evaluators) are replaced by a fake that writes what the
real tools write (``last_checkpoint``, ``--json`` figures), so these tests check the runner's
own logic in milliseconds. The toy study's overrides are checked against the real toy config:
every one of the nine experiments must build, with its updater mode and reference offsets.
"""
import json
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from helpers import REPO, load_tool
from mmengine.config import Config

from video_knet.apis import ablation

TOY_CONFIG = REPO / 'configs' / 'toy' / 'video-knet_r18_toy.py'

FAKE_CONFIG = '''
model = dict(type='Fake', roi_head=dict(mask_head=dict(
    kernel_updator_cfg=dict(type='KernelUpdator', update_mode='gated'))))
train_dataloader = dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
    type='KITTISTEPDataset', data_root='data/a', ref_seq_index=[-2, -1, 1, 2])))
test_dataloader = dict(dataset=dict(type='KITTISTEPDataset', data_root='data/a', split='val'))
val_dataloader = test_dataloader
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100)
'''


ablate = load_tool('ablate')


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
            raise ablate.StageError(f'{stage} crashed')
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


@pytest.fixture
def fake_config(tmp_path: Path) -> str:
    path = tmp_path / 'fake.py'
    path.write_text(FAKE_CONFIG)
    return str(path)


def test_find_key_paths_and_study_experiments(fake_config: str):
    cfg = Config.fromfile(fake_config)
    assert ablation.find_key_paths(cfg.model, 'update_mode', 'model') == [
        'model.roi_head.mask_head.kernel_updator_cfg.update_mode']
    assert ablation.find_key_paths([dict(a=1), dict(b=dict(a=2))], 'a') == ['0.a', '1.b.a']
    runs = ablation.study_experiments(fake_config, iters=7)
    assert [r.name for r in runs] == [
        'updator-gated', 'updator-concat', 'updator-skip', 'updator-concat_skip', 'updator-mlp',
        'ref-base', 'ref-causal', 'ref-local', 'ref-global']
    mode_key = 'model.roi_head.mask_head.kernel_updator_cfg.update_mode'
    ref_key = 'train_dataloader.dataset.dataset.ref_seq_index'
    causal = ablation.merged_config(runs[6]).to_dict()
    assert causal['train_dataloader']['dataset']['dataset']['ref_seq_index'] == [-2, -1]
    assert causal['train_cfg']['max_iters'] == 7
    assert runs[8].cfg_options[ref_key] == [-3, -2, -1, 1, 2, 3]
    assert runs[2].cfg_options[mode_key] == 'skip' and runs[2].cfg_options[ref_key] == [
        -2, -1, 1, 2]
    # ref-base is the gated updater with the original offsets: one training run for both.
    plans = ablate.make_plans(runs, {}, 'toy', None, 'val')
    assert [p.same_as for p in plans] == [None] * 5 + ['updator-gated'] + [None] * 3
    assert plans[0].gt_dir == 'toy/video_sequence/val'
    with pytest.raises(KeyError, match='no `update_mode`'):
        ablation.required_paths(cfg, 'train_dataloader', 'update_mode')


def test_results_table_format():
    rows = [('gated', dict(STQ=0.5394, AQ=0.5, SQ=0.58249, VPQ=0.386, VPQ_k1=0.4), ''),
            ('skip', dict(STQ=0.543, AQ=0.4971, SQ=0.594, VPQ=None, VPQ_k1=0.41), ''),
            ('mlp', None, 'failed (train)')]
    lines = ablation.results_table(rows)
    assert lines[0] == '| experiment | STQ | AQ | SQ | VPQ | VPQ k=1 |'
    assert lines[1] == '|---|---|---|---|---|---|'
    assert lines[2] == '| gated | 53.9 | **50.0** | 58.2 | 38.6 | 40.0 |'
    assert lines[3] == '| skip | **54.3** | 49.7 | **59.4** | n/a | **41.0** |'
    assert lines[4] == '| mlp | failed (train) |  |  |  |  |'


def test_run_skip_and_resume(tmp_path: Path, fake_config: str, monkeypatch, capsys):
    root = tmp_path / 'study'
    experiments = tmp_path / 'experiments.py'
    experiments.write_text(
        f"experiments = [dict(name='a', config={fake_config!r}, group='G'),\n"
        f"               dict(name='b', config={fake_config!r}, group='G',\n"
        f"                    cfg_options={{'train_cfg.max_iters': 3}}),\n"
        f"               dict(name='a-again', config={fake_config!r})]\n")
    argv = ['--experiments', str(experiments), '--work-root', str(root), '--device', 'cpu',
            '--cfg-options', 'train_cfg.max_iters=5']
    fake = FakeStages(dict(a=(0.6, 0.5, 0.72, 0.4, 0.45), b=(0.7, 0.6, 0.8, 0.5, 0.55)),
                      fail_once={('b', 'inference')})
    monkeypatch.setattr(ablate, 'run_command', fake)
    with pytest.raises(SystemExit):  # b failed: exit status 1
        ablate.main(argv)
    assert fake.stages('a') == ['train', 'inference', 'stq', 'vpq']
    assert fake.stages('b') == ['train', 'inference']
    assert 'a-again' not in {exp for exp, _, _ in fake.calls}  # same config as a: reused
    train_cmd = fake.calls[0][2]
    assert train_cmd[1].endswith('tools/train.py') and '--resume' in train_cmd
    assert train_cmd[2] == str(root / 'a' / 'config.py') and '--no-validate' in train_cmd
    infer_cmd = fake.calls[1][2]
    assert infer_cmd[2:4] == [str(root / 'a' / 'config.py'), str(root / 'a' / 'train' /
                                                                 'iter_4.pth')]
    assert infer_cmd[-5:] == ['--split', 'val', '--device', 'cpu', '--no-progress']
    assert fake.calls[3][2][-5:] == ['--window-sizes', '1', '2', '3', '4']
    assert fake.calls[2][2][fake.calls[2][2].index('--gt-dir') + 1] == 'data/a/video_sequence/val'
    # Global options first, then the experiment's own.
    assert 'max_iters=5' in (root / 'a' / 'config.py').read_text()
    assert 'max_iters=3' in (root / 'b' / 'config.py').read_text()
    table = (root / 'results.md').read_text()
    assert '| a | 60.0 | 50.0 | 72.0 | 40.0 | 45.0 |' in table
    assert '| b | failed (inference) |' in table and '| a-again (= a) | 60.0 |' in table
    assert json.loads((root / 'b' / 'state.json').read_text())['train']['checkpoint'].endswith(
        'iter_4.pth')
    # Re-run: a is skipped, b resumes at inference (its training is not repeated).
    fake.calls.clear()
    records = ablate.main(argv)
    assert fake.stages('a') == [] and fake.stages('b') == ['inference', 'stq', 'vpq']
    assert records['b']['figures'] == dict(STQ=0.7, AQ=0.6, SQ=0.8, VPQ=0.5, VPQ_k1=0.55)
    assert json.loads((root / 'a' / 'done.json').read_text())['figures']['VPQ_k1'] == 0.45
    table = (root / 'results.md').read_text()
    assert '## G' in table
    assert '| b | **70.0** | **60.0** | **80.0** | **50.0** | **55.0** |' in table
    assert 'already done, skipped' in capsys.readouterr().out
    # A third run does nothing; changing an unfinished experiment's config is refused.
    fake.calls.clear()
    ablate.main(argv)
    assert fake.calls == []
    (root / 'b' / 'done.json').unlink()
    fake.calls.clear()
    with pytest.raises(ValueError, match='differs from the config now requested'):
        ablate.main(argv + ['train_cfg.val_interval=2'])
    assert fake.calls == []  # refused before running anything


def test_resumed_training_uses_latest_checkpoint(tmp_path: Path, fake_config: str,
                                                 monkeypatch, capsys):
    root = tmp_path / 'study'
    work = root / 'fake' / 'train'
    work.mkdir(parents=True)
    (work / 'iter_2.pth').write_bytes(b'partial')
    (work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
    fake = FakeStages(dict(fake=(0.5, 0.5, 0.5, 0.5, 0.5)))
    monkeypatch.setattr(ablate, 'run_command', fake)
    ablate.main(['--configs', fake_config, '--work-root', str(root), '--device', 'cpu',
                 '--gpus', '2'])
    assert f'resuming training from {work / "iter_2.pth"}' in capsys.readouterr().out
    train_cmd = fake.calls[0][2]
    assert train_cmd[:2] == ['bash', str(REPO / 'tools' / 'dist_train.sh')]
    assert train_cmd[3:5] == ['2', str(work)] and '--resume' in train_cmd
    infer_cmd = fake.calls[1][2]
    assert infer_cmd[1:6] == ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
                              '2']
    assert infer_cmd[-2:] == ['--launcher', 'pytorch']


def test_study_experiments_build(toy_step_root: str):
    from mmengine.registry import init_default_scope

    import video_knet  # noqa: F401  (registers the models)
    from knet.registry import DATASETS, MODELS
    init_default_scope('knet')
    runs = ablation.study_experiments(str(TOY_CONFIG), iters=3)
    assert len(runs) == 9
    plans = ablate.make_plans(runs, {}, toy_step_root, None, 'val')
    expected_refs = {'ref-causal': (-2, -1), 'ref-local': (-1, 1),
                     'ref-global': (-3, -2, -1, 1, 2, 3)}
    built_modes = {}  # model config text -> update modes of the built model
    for plan in plans:
        cfg = Config.fromstring(plan.config_text, '.py')
        assert cfg.train_cfg.max_iters == 3
        mode = plan.exp.name.split('-', 1)[1] if plan.exp.name.startswith('updator') else 'gated'
        model_text = Config(dict(model=cfg.model)).pretty_text
        if model_text not in built_modes:
            model = MODELS.build(cfg.model)
            built_modes[model_text] = {m.update_mode for m in model.modules()
                                       if hasattr(m, 'update_mode')}
        assert built_modes[model_text] == {mode}, plan.exp.name
        if plan.exp.name in expected_refs:
            dataset = DATASETS.build(cfg.train_dataloader.dataset)
            while hasattr(dataset, 'dataset'):
                dataset = dataset.dataset
            assert dataset.ref_seq_index == expected_refs[plan.exp.name]
            assert dataset.data_root == toy_step_root
    assert len(built_modes) == 5


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
