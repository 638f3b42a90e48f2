"""A checkpoint that does not fit the model is refused by tools/test.py and tools/train.py.

The mistakes: ``tools/test.py configs/toy/knet_r18_toy.py VIDEO_CKPT`` exited 0 with a PQ (the
size mismatches only logged as warnings), and ``train.py --load-from`` trained on. Now test.py
fails on any missing, unexpected or mis-shaped key with a table of them; ``--load-from``
prints the table, accepts missing / unexpected keys (a K-Net image checkpoint lacks the video
modules of Video K-Net) and fails on a shape mismatch unless ``--load-partial`` is given. The
inference API's strict loading is tested in tests/test_tools/test_video_demo.py.
"""
import re
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from helpers import REPO, load_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope

import video_knet  # noqa: F401  (registers the modules)
from knet.engine.checkpoint import CheckpointMismatchError
from knet.registry import MODELS

TOY_KNET = REPO / 'configs' / 'toy' / 'knet_r18_toy.py'
TOY_VIDEO = REPO / 'configs' / 'toy' / 'video-knet_r18_toy.py'
TINY_KNET = REPO / 'configs' / 'tiny' / 'knet_tiny.py'
TINY_VIDEO = REPO / 'configs' / 'tiny' / 'video-knet_tiny.py'
#: One iteration of the tiny Video K-Net on 2-frame clips; lr 0 keeps the loaded weights as
#: they are, so that the test can compare them with the checkpoint's.
TRAIN_CONFIG = '''
_base_ = [{tiny!r}]
_pipeline = [dict(type='LoadFrames'), dict(type='LoadPanopticAnnotations'),
             dict(type='PackPanopticInputs')]
train_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='KITTISTEPDataset', data_root={root!r}, split='train',
                 ref_seq_index=[1], seed=0, pipeline=_pipeline))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1, val_interval=1000)
param_scheduler = []
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='SGD', lr=0.0))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval=1000, save_last=False))
log_processor = dict(by_epoch=False)
'''


def _random_state(config: Path, seed: int) -> Dict[str, torch.Tensor]:
    init_default_scope('knet')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    return model.state_dict()


def _save(state: Dict[str, torch.Tensor], path: Path) -> str:
    torch.save(dict(state_dict=state, meta=dict(iter=1)), path)
    return str(path)


@pytest.fixture(scope='module')
def train_config(toy_step_root: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp('strict') / 'train_tiny.py'
    path.write_text(TRAIN_CONFIG.format(tiny=str(TINY_VIDEO), root=toy_step_root))
    return str(path)


def _train(config: str, work_dir: Path, *extra: str):
    return load_tool('train').main([config, '--work-dir', str(work_dir), '--no-validate',
                                    *extra])


def test_test_tool_refuses_a_video_checkpoint_for_the_image_config(tmp_path: Path) -> None:
    video_ckpt = _save(_random_state(TOY_VIDEO, 0), tmp_path / 'video.pth')
    with pytest.raises(CheckpointMismatchError) as error:
        load_tool('test').main([str(TOY_KNET), video_ckpt, '--work-dir', str(tmp_path / 'w')])
    lines = str(error.value).splitlines()
    assert lines[0].startswith(f'checkpoint {video_ckpt} does not fit the model of ')
    assert '7 mis-shaped, 0 missing, 23 unexpected keys' in lines[0]
    rows = [line.split()[:2] for line in lines[2:22]]
    assert ['mis-shaped', 'rpn_head.init_kernels.weight'] in rows
    assert ['unexpected', 'embed_fcs.0.weight'] in rows
    assert lines[22] == '... and 10 more' and "this config's model" in lines[-1]


def test_load_from_image_knet_into_video_knet_trains(train_config: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    image = _random_state(TINY_KNET, 1)
    runner = _train(train_config, tmp_path / 'w', '--load-from',
                    _save(image, tmp_path / 'knet.pth'))
    err = capsys.readouterr().err
    assert 'loads partially into the model' in err and '0 mis-shaped, 23 missing' in err
    assert re.search(r'\nmissing +embed_fcs\.0\.weight +- +\(64, 64\)\n', err)
    state = runner.model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in image.items())


def test_load_from_with_mis_shaped_keys_needs_load_partial(train_config: str,
                                                           tmp_path: Path) -> None:
    state = _random_state(TINY_VIDEO, 2)
    key = 'roi_head.mask_head.0.fc_cls.weight'
    state[key] = state[key][:5]
    ckpt = _save(state, tmp_path / 'other_classes.pth')
    with pytest.raises(CheckpointMismatchError, match=r'(?s)1 mis-shaped.*--load-partial'):
        _train(train_config, tmp_path / 'w', '--load-from', ckpt)
    runner = _train(train_config, tmp_path / 'w', '--load-from', ckpt, '--load-partial')
    loaded = runner.model.state_dict()
    assert loaded[key].shape != state[key].shape  # kept its initialisation
    others: List[str] = [k for k in state if k != key]
    assert all(torch.equal(loaded[k], state[k]) for k in others)
    with pytest.raises(ValueError, match='--load-partial needs --load-from'):
        _train(train_config, tmp_path / 'w2', '--load-partial')


def test_resume_from_another_model_is_refused(train_config: str, tmp_path: Path) -> None:
    ckpt = _save(_random_state(TINY_KNET, 3), tmp_path / 'knet.pth')
    with pytest.raises(CheckpointMismatchError, match='training state of this model'):
        _train(train_config, tmp_path / 'w', '--resume', ckpt)
    with pytest.raises(ValueError, match='applies to --load-from, not to a resumed'):
        _train(train_config, tmp_path / 'w', '--resume', ckpt, '--load-partial')
