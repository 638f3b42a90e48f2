"""tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh forward their arguments as
README.md documents, and every tools/*.sh works from any working directory: checked on a stub
repository whose Python and ``srun`` print what they receive."""
import os
import subprocess
from pathlib import Path

import pytest
from helpers import run_stub_script, stub_repo

TORCHRUN = ['-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0',
            '--master_addr=127.0.0.1', '--master_port=29500', '--nproc_per_node=2']


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return stub_repo(tmp_path / 'repo')


def test_dist_train(repo: Path) -> None:
    train = str(repo / 'tools' / 'train.py')
    out = run_stub_script(repo, 'dist_train.sh', 'cfg.py', '2')
    assert out.program == str(repo / '.venv' / 'bin' / 'python')
    assert out.pythonpath == str(repo)
    assert out.argv == TORCHRUN + [train, 'cfg.py', '--launcher', 'pytorch']
    out = run_stub_script(repo, 'dist_train.sh', 'cfg.py', '2', 'work dir', '--amp', 'a b')
    assert out.argv == TORCHRUN + [train, 'cfg.py', '--launcher', 'pytorch', '--work-dir',
                                   'work dir', '--amp', 'a b']
    out = run_stub_script(repo, 'dist_train.sh', 'cfg.py', '2', '--amp')
    assert out.argv == TORCHRUN + [train, 'cfg.py', '--launcher', 'pytorch', '--amp']


def test_dist_test_multi_node(repo: Path) -> None:
    env = dict(NNODES='2', NODE_RANK='1', MASTER_ADDR='host', PORT='1234', PYTHONPATH='/x')
    out = run_stub_script(repo, 'dist_test.sh', 'cfg.py', 'ckpt.pth', '4', '--out', 'o',
                          env=env)
    assert out.pythonpath == f'{repo}:/x'
    assert out.argv == ['-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1',
                        '--master_addr=host', '--master_port=1234', '--nproc_per_node=4',
                        str(repo / 'tools' / 'test.py'), 'cfg.py', 'ckpt.pth', '--launcher',
                        'pytorch', '--out', 'o']


@pytest.mark.parametrize('script,tool,tail', [
    ('slurm_train.sh', 'train.py', ['cfg.py', '--work-dir=wd', '--launcher=slurm']),
    ('slurm_test.sh', 'test.py', ['cfg.py', 'wd', '--launcher=slurm'])])
def test_slurm(repo: Path, script: str, tool: str, tail: list) -> None:
    python = str(repo / '.venv' / 'bin' / 'python')
    out = run_stub_script(repo, script, 'part', 'job', 'cfg.py', 'wd', '--x', 'a b')
    assert out.program == str(repo / 'bin' / 'srun') and out.pythonpath == str(repo)
    assert out.argv == ['-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=8',
                        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
                        python, '-u', str(repo / 'tools' / tool)] + tail + ['--x', 'a b']
    env = dict(GPUS='16', GPUS_PER_NODE='4', CPUS_PER_TASK='2', SRUN_ARGS='--qos=hi --time=1')
    out = run_stub_script(repo, script, 'part', 'job', 'cfg.py', 'wd', env=env)
    assert out.argv[:10] == ['-p', 'part', '--job-name=job', '--gres=gpu:4', '--ntasks=16',
                             '--ntasks-per-node=4', '--cpus-per-task=2', '--kill-on-bad-exit=1',
                             '--qos=hi', '--time=1']


@pytest.mark.parametrize('script,args', [('dist_train.sh', ['cfg.py']),
                                         ('dist_test.sh', ['cfg.py', 'ckpt.pth']),
                                         ('slurm_train.sh', ['part', 'job', 'cfg.py']),
                                         ('slurm_test.sh', ['part', 'job', 'cfg.py'])])
def test_usage(repo: Path, script: str, args: list) -> None:
    proc = subprocess.run(['bash', str(repo / 'tools' / script), *args], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and proc.stderr.startswith(f'usage: bash {repo}/tools/{script} ')
    assert proc.stdout == ''


#: Prints the data root, ``PYTHONPATH``, its own path and its arguments, one per line.
_ECHO_ENV = ('#!/usr/bin/env bash\nprintf \'%s\\n\' "KNET_DATA_ROOT=${KNET_DATA_ROOT:-}" '
             '"PYTHONPATH=${PYTHONPATH:-}" "$0" "$@"\n')


@pytest.mark.parametrize('script,args,tool', [
    ('dist_train.sh', ['cfg.py', '1'], 'train.py'),
    ('dist_test.sh', ['cfg.py', 'ckpt.pth', '1'], 'test.py'),
    ('slurm_train.sh', ['part', 'job', 'cfg.py', 'wd'], 'train.py'),
    ('slurm_test.sh', ['part', 'job', 'cfg.py', 'ckpt.pth'], 'test.py'),
    ('inference.sh', ['cfg.py', 'ckpt.pth', 'out'], 'inference.py'),
    ('evaluate_stq.sh', ['RES'], 'evaluate_stq.py'),
    ('evaluate_vpq.sh', ['RES'], 'evaluate_vpq.py'),
    ('visualize.sh', ['RES'], 'visualize.py')])
def test_scripts_work_from_any_working_directory(repo: Path, tmp_path: Path, script: str,
                                                 args: list, tool: str) -> None:
    """Started by a relative path from the repository (``CDPATH`` set: the old root lookup
    then printed the folder twice and the script ran nothing) and from another folder (the
    data root was ``./datasets`` of that folder): the repository's Python, tool, packages and
    ``datasets/`` are used; the arguments are passed as given."""
    for stub in (repo / '.venv' / 'bin' / 'python', repo / 'bin' / 'srun'):
        stub.write_text(_ECHO_ENV)
    elsewhere = tmp_path / 'elsewhere' / 'deeper'
    elsewhere.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ('KNET_DATA_ROOT', 'PYTHONPATH', 'PYTHON')}
    env.update(CDPATH=f'.:{tmp_path}', PATH=f'{repo / "bin"}{os.pathsep}{os.environ["PATH"]}')
    for cwd in (repo, elsewhere):
        proc = subprocess.run(['bash', os.path.relpath(repo / 'tools' / script, cwd), *args],
                              cwd=cwd, env=env, capture_output=True, text=True, check=True)
        data_root, pythonpath, program, *argv = proc.stdout.splitlines()
        assert data_root == f'KNET_DATA_ROOT={repo}/datasets'
        assert pythonpath == f'PYTHONPATH={repo}'
        assert program in (str(repo / '.venv' / 'bin' / 'python'), str(repo / 'bin' / 'srun'))
        assert str(repo / 'tools' / tool) in argv
        assert ('cfg.py' if 'cfg.py' in args else 'RES') in argv
        if script.startswith('evaluate'):
            assert argv[-2:] == ['--gt-dir', f'{repo}/datasets/kitti-step/video_sequence/val']
    env['KNET_DATA_ROOT'] = 'my/data'  # a data root that is set is kept as it is
    proc = subprocess.run(['bash', str(repo / 'tools' / script), *args], cwd=elsewhere, env=env,
                          capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[0] == 'KNET_DATA_ROOT=my/data'
