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
from video_knet.apis import build_detector, build_inference_dataset, load_config

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'tiny', 'video-knet_tiny.py')
FRAMES = range(6)


@pytest.fixture(scope='module')
def inference():
    return load_tool('inference')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    init_default_scope('knet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), path)
    return path


def _run(inference, checkpoint, root, out, *extra):
    return inference.main([CONFIG, checkpoint, str(out), '--data-root', root, '--device', 'cpu',
                           '--num-workers', '0', '--no-progress', *extra])


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
