"""Distributed training and inference on CPU (gloo) through the real tools.

* ``torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch`` (what
  ``tools/dist_train.sh`` runs) with 1 clip per process must leave identical parameters on both
  ranks, equal within float tolerance to one process trained with 2 clips per batch on the same
  samples. This holds because the pipeline is deterministic (no random resize/flip/crop), the
  sampler does not shuffle (rank r takes samples r, r + 2, ...: the single process's batch),
  every rank seeds with 0, BN is frozen (``norm_eval``), the classification loss averages its
  ``avg_factor`` over ranks and the tracking loss is a mean of per-image means. The mask and dice
  losses are means over a rank's positives (as in the original), so the two clips are chosen with
  equal numbers of thing and stuff segments per frame, taken from two different scenes; SGD
  keeps float noise from being amplified (Adam's normalised steps would turn rounding
  differences of tiny gradients into full steps). Float32 kernels round differently for batch
  1 and 2, so parameters are compared relative to the size of their update (observed ~1e-4 of
  it; training on one of the two clips only gives ~1.0).
* ``tools/inference.py --launcher pytorch`` over 2 processes (whole sequences per rank) writes
  the same files, byte for byte, as one process (the manifest, written by rank 0, up to its
  time).

A test-only hook (written to a temporary module imported through ``custom_imports``) dumps each
rank's parameters before training and after every iteration.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch

from knet.datasets import make_toy_step
from knet.datasets.step_metainfo import STEP_THING_IDS
from knet.structures import decode_step_png
from vseg.manifest import MANIFEST_NAME, read_manifest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'configs' / 'tiny' / 'video-knet_tiny.py'
SIZE = (64, 192)
ITERS = 2
#: Allowed DDP vs single-process difference, relative to the largest update of the tensor.
TOLERANCE = 2e-3

HOOK_MODULE = '''
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from knet.registry import HOOKS


@HOOKS.register_module()
class DistTestParamDumpHook(Hook):
    """Save this rank's parameters before training and after every iteration."""

    def _dump(self, runner, step):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        params = {name: p.detach().cpu().clone() for name, p in model.named_parameters()}
        torch.save(params, osp.join(runner.work_dir, f'params_iter{step}_rank{get_rank()}.pth'))

    def before_train(self, runner):
        self._dump(runner, 0)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._dump(runner, runner.iter + 1)
'''

CONFIG = '''
_base_ = [{tiny!r}]
custom_imports = dict(imports=['knet', 'video_knet', 'dist_test_hooks'],
                      allow_failed_imports=False)
_train_pipeline = [dict(type='LoadFrames'), dict(type='LoadPanopticAnnotations'),
                   dict(type='PackPanopticInputs')]
_test_pipeline = [dict(type='LoadFrames'), dict(type='PackPanopticInputs')]
train_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='KITTISTEPDataset', data_root={root!r}, split='train',
                 ref_seq_index=[1], seed=0, pipeline=_train_pipeline))
test_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='SequenceSampler'),
    dataset=dict(type='KITTISTEPDataset', data_root={root!r}, split='val', test_mode=True,
                 pipeline=_test_pipeline))
val_dataloader = test_dataloader
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters}, val_interval=1000)
param_scheduler = []
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.02, momentum=0.9))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval=1000, save_last=True))
custom_hooks = [dict(type='CheckInvalidLossHook'), dict(type='DistTestParamDumpHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
'''


def _frame_signature(path: Path) -> tuple:
    """(thing instances, stuff classes) of a panoptic PNG: what sets the number of positives."""
    semantic, instance = decode_step_png(np.ascontiguousarray(cv2.imread(str(path))[..., ::-1]))
    things = np.isin(semantic, STEP_THING_IDS)
    ids = {(int(s), int(i)) for s, i in zip(semantic[things], instance[things])}
    stuff = set(np.unique(semantic[~things]).tolist()) - {255}
    return len(ids), tuple(sorted(stuff))


def _copy_frame(src: Path, src_stem: str, dst: Path, dst_stem: str) -> None:
    for kind in ('leftImg8bit', 'panoptic'):
        shutil.copyfile(src / f'{src_stem}_{kind}.png', dst / f'{dst_stem}_{kind}.png')


@pytest.fixture(scope='module')
def dist_setup(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """Data, config and hook module.

    Training: two 2-frame sequences from two different synthetic scenes (train sequence 0 and
    val sequence 2 of the generator), with the same numbers of thing and stuff segments frame
    by frame; ``ref_seq_index=[1]`` makes them the clips (0 -> 1) of each. Inference: the 3 val
    sequences of 3 frames.
    """
    root = tmp_path_factory.mktemp('dist')
    data = root / 'data'
    make_toy_step(str(data), seed=0, size=SIZE, train_seqs=1, val_seqs=3, frames=3)
    train, val = data / 'video_sequence' / 'train', data / 'video_sequence' / 'val'
    for t in range(2):
        _copy_frame(val, f'000002_{t:06d}', train, f'000001_{t:06d}')
    (train / '000000_000002_leftImg8bit.png').unlink()
    (train / '000000_000002_panoptic.png').unlink()
    signatures = [[_frame_signature(train / f'{s:06d}_{t:06d}_panoptic.png') for t in range(2)]
                  for s in range(2)]
    assert signatures[0] == signatures[1], signatures
    (root / 'dist_test_hooks.py').write_text(HOOK_MODULE)
    config = root / 'dist_config.py'
    config.write_text(CONFIG.format(tiny=str(TINY), root=str(data), iters=ITERS))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(REPO)] + [
        p for p in [os.environ.get('PYTHONPATH')] if p]), OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='')
    return dict(root=root, data=data, config=str(config), env=env)


def _run(cmd: List[str], env: Dict[str, str], timeout: int = 300) -> None:
    proc = subprocess.run(cmd, env=env, cwd=str(REPO), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if proc.returncode != 0:
        lines = proc.stdout.splitlines()
        first_error = next((i for i, line in enumerate(lines)
                            if 'Traceback' in line or 'Error' in line), len(lines))
        excerpt = '\n'.join(lines[max(0, first_error - 5):first_error + 60])
        pytest.fail(f'{" ".join(cmd)} failed with status {proc.returncode}:\n{excerpt}\n...\n'
                    f'{proc.stdout[-3000:]}')


def _torchrun(nproc: int) -> List[str]:
    # --standalone: a local rendezvous on a free port chosen by torchrun (no port races).
    return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
            str(nproc)]


@pytest.fixture(scope='module')
def trained(dist_setup: Dict[str, object]) -> Dict[str, Path]:
    """Work dirs of the 2-process (batch 1 each) and the 1-process (batch 2) trainings."""
    root, config, env = dist_setup['root'], dist_setup['config'], dist_setup['env']
    dist_dir, single_dir = root / 'work_dist', root / 'work_single'
    _run(_torchrun(2) + ['tools/train.py', config, '--launcher', 'pytorch', '--work-dir',
                         str(dist_dir), '--no-validate'], env)
    _run([sys.executable, 'tools/train.py', config, '--work-dir', str(single_dir),
          '--no-validate', '--cfg-options', 'train_dataloader.batch_size=2'], env)
    return dict(dist=dist_dir, single=single_dir)


def _params(work_dir: Path, step: int, rank: int) -> Dict[str, torch.Tensor]:
    return torch.load(work_dir / f'params_iter{step}_rank{rank}.pth', map_location='cpu')


def test_ddp_matches_single_process_with_the_total_batch(trained: Dict[str, Path]):
    init = _params(trained['single'], 0, 0)
    assert init.keys() == _params(trained['dist'], 0, 1).keys()
    for name, value in _params(trained['dist'], 0, 1).items():
        assert torch.equal(value, init[name]), f'{name}: different initialisation'
    for step in range(1, ITERS + 1):
        single = _params(trained['single'], step, 0)
        dist0, dist1 = (_params(trained['dist'], step, r) for r in (0, 1))
        for name, value in dist0.items():
            assert torch.equal(value, dist1[name]), f'iteration {step}: {name} differs by rank'
        for name, value in single.items():
            # Float32 rounding differs between batch 1 and batch 2 kernels; compare against the
            # size of the update (a wrong sample, sum instead of mean, or a missing all-reduce
            # are O(update) errors; rounding here is ~1e-4 of it).
            update = (value - init[name]).abs().max().item()
            error = (dist0[name] - value).abs().max().item()
            assert error <= TOLERANCE * update + 1e-7, (
                f'iteration {step}: {name} DDP vs batch 2 differ by {error:.3g}, update '
                f'{update:.3g}')
    moved = max((single[n] - init[n]).abs().max().item() for n in init)
    assert moved > 1e-2, f'training hardly changed the parameters ({moved:.3g})'
    # Rank 0 saved the last checkpoint with these parameters.
    last = (trained['dist'] / 'last_checkpoint').read_text().strip()
    state = torch.load(last, map_location='cpu', weights_only=False)['state_dict']
    for name, value in dist0.items():
        assert torch.equal(state[name], value), name


def test_distributed_inference_writes_the_same_files(dist_setup: Dict[str, object],
                                                     trained: Dict[str, Path]):
    root, config, env = dist_setup['root'], dist_setup['config'], dist_setup['env']
    checkpoint = (trained['single'] / 'last_checkpoint').read_text().strip()
    one, two = root / 'results_1proc', root / 'results_2proc'
    common = [config, checkpoint]
    _run([sys.executable, 'tools/inference.py'] + common + [str(one), '--device', 'cpu'], env)
    _run(_torchrun(2) + ['tools/inference.py'] + common + [str(two), '--device', 'cpu',
                                                           '--launcher', 'pytorch'], env)
    files = sorted(p.relative_to(one) for p in one.rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob('*') if p.is_file())
    # 3 val sequences x 3 frames, each with _cat and _ins PNGs and a submission PNG.
    assert len([f for f in files if f.parts[0] == 'panoptic']) == 18
    assert len([f for f in files if f.parts[0] == 'final']) == 9
    for name in files:
        if name != Path(MANIFEST_NAME):
            assert (one / name).read_bytes() == (two / name).read_bytes(), f'{name} differs'
    # Rank 0 wrote the manifest; it differs from the single process's in its time only.
    manifests = [read_manifest(str(folder)) for folder in (one, two)]
    assert manifests[0].pop('created') and manifests[1].pop('created')
    assert manifests[0] == manifests[1] and manifests[0]['weights_sha256']


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
