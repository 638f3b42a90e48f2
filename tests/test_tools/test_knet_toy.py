"""The toy image K-Net (``configs/toy/knet_r18_toy.py``) through ``tools/train.py`` and
``tools/test.py`` on the session's tiny toy KITTI-STEP data: it trains on single frames with finite
losses, and its test evaluator reports image PQ (README "K-Net on the toy frames")."""
import math
from pathlib import Path
from typing import List

from helpers import REPO, load_tool

from knet.structures import PanopticDataSample

CONFIG = str(REPO / 'configs' / 'toy' / 'knet_r18_toy.py')


def _options(data_root: str) -> List[str]:
    """``--cfg-options`` for a 2-iteration run on ``data_root`` without worker processes."""
    options = ['train_cfg.max_iters=2', 'train_dataloader.dataset.times=1',
               f'train_dataloader.dataset.dataset.data_root={data_root}']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    for loader in ('val_dataloader', 'test_dataloader'):
        options.append(f'{loader}.dataset.data_root={data_root}')
    return options


def test_toy_image_knet_trains_on_frames_and_reports_pq(toy_step_root: str, tmp_path: Path):
    options = _options(toy_step_root)
    runner = load_tool('train').main([CONFIG, '--work-dir', str(tmp_path / 'train'),
                                      '--no-validate', '--cfg-options', *options])
    frame = runner.train_dataloader.dataset.dataset[0]
    assert isinstance(frame['data_samples'], PanopticDataSample) and frame['inputs'].ndim == 3
    losses = {key: runner.message_hub.get_scalar(key).current()
              for key in runner.message_hub.log_scalars if 'loss' in key}
    assert {'train/loss', 'train/s1_loss_mask', 'train/loss_rpn_seg'} <= set(losses)
    assert all(math.isfinite(value) for value in losses.values()), losses
    metrics = load_tool('test').main([CONFIG, str(tmp_path / 'train' / 'iter_2.pth'),
                                      '--work-dir', str(tmp_path / 'test'),
                                      '--cfg-options', *options])
    assert set(metrics) == {'PQ', 'PQ_th', 'PQ_st'}
    assert all(0.0 <= value <= 1.0 for value in metrics.values()), metrics
