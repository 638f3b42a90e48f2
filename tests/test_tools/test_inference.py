"""tools/inference.py and tools/inference.sh (results layout: docs/data_formats.md).

A tiny Video K-Net with random weights predicts the toy KITTI-STEP val split (sequence 2, six
64x192 frames); the files must have the exact evaluator layout and be scored by the evaluators.
The writer and the inference API themselves are tested in tests/test_apis/.
"""
import logging
import os
import os.path as osp
import subprocess

import cv2
import numpy as np
import pytest
import torch
from helpers import load_tool
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from knet.registry import MODELS
from video_knet.apis import (
    StaleResultsError,
    build_detector,
    build_inference_dataset,
    default_threads,
    load_config,
)
from vseg.manifest import read_manifest

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'tiny', 'video-knet_tiny.py')
FRAMES = range(6)


@pytest.fixture(scope='module')
def inference():
    return load_tool('inference')


def _random_checkpoint(folder, seed: int) -> str:
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    init_default_scope('knet')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    path = str(folder / f'tiny_{seed}.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), path)
    return path


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    return _random_checkpoint(tmp_path_factory.mktemp('ckpt'), 0)


@pytest.fixture(scope='module')
def other_checkpoint(tmp_path_factory) -> str:
    """Other weights of the same config."""
    return _random_checkpoint(tmp_path_factory.mktemp('ckpt_b'), 1)


def _run(inference, checkpoint, root, out, *extra, config=CONFIG):
    # --threads as now: the tool sets the process's torch threads, the other tests' too.
    return inference.main([config, checkpoint, str(out), '--data-root', root, '--device', 'cpu',
                           '--num-workers', '0', '--no-progress', '--threads',
                           str(torch.get_num_threads()), *extra])


def _read(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_inference_layout_values_skip_and_evaluators(inference, checkpoint, toy_step_root,
                                                     tmp_path) -> None:
    out = tmp_path / 'results'
    assert _run(inference, checkpoint, toy_step_root, out) == dict(frames=6, skipped_sequences=0)
    assert sorted(os.listdir(out / 'panoptic')) == ['2']
    assert sorted(os.listdir(out / 'panoptic' / '2')) == sorted(
        f'000002_{f:06d}_{kind}.png' for f in FRAMES for kind in ('cat', 'ins'))
    assert sorted(os.listdir(out / 'final' / '0002')) == [f'{f:06d}.png' for f in FRAMES]
    for f in FRAMES:
        cat = _read(out / 'panoptic' / '2' / f'000002_{f:06d}_cat.png')
        ins = _read(out / 'panoptic' / '2' / f'000002_{f:06d}_ins.png')
        final = _read(out / 'final' / '0002' / f'{f:06d}.png')[..., ::-1].astype(np.int64)
        assert cat.dtype == ins.dtype == np.uint16 and cat.shape == ins.shape == (64, 192)
        assert set(np.unique(cat)) <= set(range(19)) | {255}
        assert (final[..., 0] == cat).all() and (final[..., 1] * 256 + final[..., 2] == ins).all()

    # The first frame equals a direct prediction of the same checkpoint.
    cfg = load_config(CONFIG)
    dataset = build_inference_dataset(cfg, 'val', toy_step_root)
    model = build_detector(cfg, checkpoint, 'cpu')
    with torch.no_grad():
        pred = model.test_step(pseudo_collate([dataset[0]]))[0].pred_panoptic
    assert (_read(out / 'panoptic' / '2' / '000002_000000_cat.png') ==
            pred.sem_seg[0].numpy()).all()
    assert (_read(out / 'panoptic' / '2' / '000002_000000_ins.png') ==
            pred.instance_ids[0].numpy()).all()

    # The evaluators pair the files with the ground truth and score them.
    gt_dir = osp.join(toy_step_root, 'video_sequence', 'val')
    common = [str(out), '--gt-dir', gt_dir, '--workers', '1', '--no-progress']
    stq = load_tool('evaluate_stq').main(common)
    vpq = load_tool('evaluate_vpq').main(common)
    assert 0 <= stq['STQ'] <= 1 and 0 < stq['SQ'] <= 1 and 0 <= vpq['VPQ'] <= 1

    # Complete sequences are skipped; an incomplete one is redone; --overwrite redoes all.
    cat0 = out / 'panoptic' / '2' / '000002_000000_cat.png'
    mtime = cat0.stat().st_mtime_ns
    assert _run(inference, checkpoint, toy_step_root, out) == dict(frames=0,
                                                                   skipped_sequences=1)
    assert cat0.stat().st_mtime_ns == mtime
    os.remove(out / 'final' / '0002' / '000003.png')
    assert _run(inference, checkpoint, toy_step_root, out)['frames'] == 6
    assert _run(inference, checkpoint, toy_step_root, out, '--overwrite')['frames'] == 6


def test_stale_results_are_never_resumed(inference, checkpoint, other_checkpoint, toy_step_root,
                                        tmp_path) -> None:
    """The mistake: results of checkpoint A, then the same command with checkpoint B said
    "already complete" and the evaluators scored A's predictions as B's."""
    out = tmp_path / 'results'
    assert _run(inference, checkpoint, toy_step_root, out)['frames'] == 6
    manifest = read_manifest(str(out))
    assert manifest['tool'] == 'tools/inference.py' and manifest['checkpoint'] == checkpoint
    assert manifest['cfg_options'] == {} and len(manifest['weights_sha256']) == 64
    cat0 = out / 'panoptic' / '2' / '000002_000000_cat.png'
    before = cat0.read_bytes()

    with pytest.raises(StaleResultsError) as error:  # other weights
        _run(inference, other_checkpoint, toy_step_root, out)
    assert f"checkpoint sha256 {manifest['weights_sha256'][:8]}.. != " in str(error.value)
    with pytest.raises(StaleResultsError, match=r'cfg-options model\.test_cfg\.'
                       r'instance_score_thr: \(absent\) != 0\.0'):  # other options
        _run(inference, checkpoint, toy_step_root, out, '--cfg-options',
             'model.test_cfg.instance_score_thr=0.0')
    changed = tmp_path / 'changed.py'  # other config text
    changed.write_text(f'_base_ = [{CONFIG!r}]\nmodel = dict(test_cfg=dict(max_per_img=7))\n')
    with pytest.raises(StaleResultsError, match='config sha256'):
        _run(inference, checkpoint, toy_step_root, out, config=str(changed))
    assert cat0.read_bytes() == before and read_manifest(str(out)) == manifest

    # The same weights saved again elsewhere (DDP prefixes, other meta): a valid resume.
    saved = torch.load(checkpoint, weights_only=False)['state_dict']
    resaved = tmp_path / 'resaved.pth'
    torch.save(dict(state_dict={f'module.{k}': v for k, v in saved.items()}, meta={}), resaved)
    assert _run(inference, str(resaved), toy_step_root, out) == dict(frames=0,
                                                                     skipped_sequences=1)
    assert read_manifest(str(out))['checkpoint'] == str(resaved)

    # --overwrite redoes every sequence with B and records B.
    assert _run(inference, other_checkpoint, toy_step_root, out, '--overwrite')['frames'] == 6
    assert read_manifest(str(out))['weights_sha256'] != manifest['weights_sha256']
    assert cat0.read_bytes() != before  # B's predictions (random weights of another seed)
    # Complete sequences without a manifest (e.g. of an older version): provenance unknown.
    os.remove(out / 'manifest.json')
    with pytest.raises(StaleResultsError, match='no manifest.json'):
        _run(inference, other_checkpoint, toy_step_root, out)


def test_threads_option(inference, monkeypatch) -> None:
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert default_threads() == 3
    monkeypatch.delenv('OMP_NUM_THREADS')
    assert default_threads() == max(1, len(os.sched_getaffinity(0)) // 2)
    assert inference.parse_args(['c.py', 'k.pth', 'out', '--threads', '2']).threads == 2
    with pytest.raises(SystemExit):
        inference.parse_args(['c.py', 'k.pth', 'out', '--threads', '0'])


def _fake_python(tmp_path) -> str:
    fake = tmp_path / 'fake_python'
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_ARGS"\n')
    fake.chmod(0o755)
    return str(fake)


@pytest.mark.parametrize('gpus', ['1', '2'])
def test_inference_sh_forwards_every_argument(tmp_path, gpus) -> None:
    env = dict(os.environ, PYTHON=_fake_python(tmp_path), FAKE_ARGS=str(tmp_path / 'args'),
               GPUS=gpus)
    user_args = ['cfg.py', 'ckpt.pth', 'out', '--split', 'val', '--device', 'cpu']
    subprocess.run(['bash', osp.join(ROOT, 'tools', 'inference.sh'), *user_args], env=env,
                   check=True)
    args = (tmp_path / 'args').read_text().splitlines()
    script = osp.realpath(osp.join(ROOT, 'tools', 'inference.py'))
    if gpus == '1':
        assert osp.realpath(args[0]) == script and args[1:] == user_args
    else:
        assert args[:3] == ['-m', 'torch.distributed.run', '--nproc_per_node=2']
        start = [osp.realpath(a) for a in args].index(script)
        assert args[start + 1:] == user_args + ['--launcher', 'pytorch']


def test_inference_sh_usage(tmp_path) -> None:
    result = subprocess.run(['bash', osp.join(ROOT, 'tools', 'inference.sh'), 'a', 'b'],
                            capture_output=True, text=True)
    assert result.returncode == 2 and 'usage' in result.stderr
