"""tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh forward their arguments as
README.md documents: checked on a stub repository whose Python and ``srun`` print what they
receive."""
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
