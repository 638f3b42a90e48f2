"""tools/video_demo.py on a tiny Video K-Net with random weights (DESIGN.md §1b, §9).

Three synthetic frames are given once as a folder and once as an MP4 written with cv2; the demo
must write the inference layout (uint16 ``_cat``/``_ins`` PNGs), one panel per frame and a GIF of
as many frames. Online inference must restart at frame 0 (memory and tracker reset), so running
the same frames twice through one model gives the same track ids.
"""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO, load_tool

from knet.visualization import read_gif_frames

TINY = str(REPO / 'configs' / 'tiny' / 'video-knet_tiny.py')
SIZE = (64, 128)
#: Keep every kernel as a segment and a track, so that random weights produce track ids.
LOW_THRESHOLDS = ['--cfg-options', 'model.test_cfg.instance_score_thr=0.0',
                  'model.tracker.init_score_thr=0.0', 'model.tracker.obj_score_thr=0.0']


demo = load_tool('video_demo')


@pytest.fixture(scope='module')
def frames_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KITTI-STEP-like folder: 3 frames (64x128) and their panoptic PNGs (to be ignored)."""
    from knet.datasets import make_toy_step
    root = tmp_path_factory.mktemp('demo_data')
    make_toy_step(str(root), seed=3, size=SIZE, train_seqs=0, val_seqs=1, frames=3)
    return root / 'video_sequence' / 'val'


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Randomly initialised tiny Video K-Net weights, saved without dataset metainfo."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from knet.registry import MODELS
    init_default_scope('knet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY).model)
    model.init_weights()
    path = tmp_path_factory.mktemp('demo_ckpt') / 'random.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def test_list_frames_numeric_order(tmp_path: Path):
    for name in ('f10.png', 'f2.png', 'F1.jpg', 'notes.txt', '.hidden.png'):
        (tmp_path / name).write_bytes(b'')
    assert [Path(p).name for p in demo.list_frames(str(tmp_path))] == [
        'F1.jpg', 'f2.png', 'f10.png']
    kitti = tmp_path / 'kitti'
    kitti.mkdir()
    for name in ('000000_000010_leftImg8bit.png', '000000_000002_leftImg8bit.png',
                 '000000_000002_panoptic.png'):
        (kitti / name).write_bytes(b'')
    assert [Path(p).name for p in demo.list_frames(str(kitti))] == [
        '000000_000002_leftImg8bit.png', '000000_000010_leftImg8bit.png']
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no frame'):
        demo.list_frames(str(tmp_path / 'empty'))


def _check_outputs(out: Path, result: dict, num_frames: int, panel_width: int) -> None:
    assert result['frames'] == num_frames
    for frame in range(num_frames):
        for kind in ('cat', 'ins'):
            png = cv2.imread(str(out / 'panoptic' / '0' / f'000000_{frame:06d}_{kind}.png'),
                             cv2.IMREAD_UNCHANGED)
            assert png.dtype == np.uint16 and png.shape == SIZE
        cat = cv2.imread(str(out / 'panoptic' / '0' / f'000000_{frame:06d}_cat.png'),
                         cv2.IMREAD_UNCHANGED)
        assert set(np.unique(cat).tolist()) <= set(range(19)) | {255}
        assert (out / 'final' / '0000' / f'{frame:06d}.png').is_file()
    gif = read_gif_frames(result['gif'])
    assert len(gif) == num_frames
    assert gif[0].shape == (SIZE[0], panel_width, 3)


def test_demo_on_folder_and_mp4(frames_dir: Path, checkpoint: str, tmp_path: Path):
    out = tmp_path / 'folder_out'
    result = demo.main([str(frames_dir), TINY, checkpoint, '--out', str(out), '--device', 'cpu',
                        '--fps', '5', '--mp4'] + LOW_THRESHOLDS)
    _check_outputs(out, result, 3, 3 * SIZE[1] + 2 * 4)
    # The panel's left part is the input frame (PNG, lossless).
    image = demo.read_rgb(str(frames_dir / '000000_000001_leftImg8bit.png'))
    panel = demo.read_rgb(result['panels'][1])
    assert np.array_equal(panel[:, :SIZE[1]], image)
    assert np.all(panel[:, SIZE[1]:SIZE[1] + 4] == 255)
    capture = cv2.VideoCapture(result['mp4'])
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()

    video = tmp_path / 'clip.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 5.0, SIZE[::-1])
    for path in sorted(frames_dir.glob('*_leftImg8bit.png')):
        writer.write(cv2.imread(str(path)))
    writer.release()
    out = tmp_path / 'video_out'
    result = demo.main([str(video), TINY, checkpoint, '--out', str(out), '--device', 'cpu',
                        '--panel-gap', '0'])
    _check_outputs(out, result, 3, 3 * SIZE[1])
    assert result['mp4'] is None and not (out / 'demo.mp4').exists()


def test_online_inference_restarts_at_frame_zero(frames_dir: Path, checkpoint: str):
    # No match is possible (threshold 2), so every frame starts new tracks: without a reset at
    # frame 0 the second pass would continue the ids of the first.
    args = demo.parse_args([str(frames_dir), TINY, checkpoint, '--out', 'unused'] +
                           LOW_THRESHOLDS + ['model.tracker.match_score_thr=2.0'])
    model, cfg, meta = demo.init_model(TINY, checkpoint, 'cpu', args.cfg_options)
    assert meta['ignore_label'] == 255 and len(meta['palette']) == 19
    pipeline = demo.frame_pipeline(cfg)
    frames = [demo.read_rgb(p) for p in demo.list_frames(str(frames_dir))[:2]]
    runs = [[demo.predict_frame(model, pipeline, image, f'f{i}', i)
             for i, image in enumerate(frames)] for _ in range(2)]
    ids = [set(np.unique(track_ids).tolist()) - {0} for _, track_ids in runs[0]]
    assert ids[0] and ids[1] and max(ids[0]) < min(ids[1]), f'expected new tracks, got {ids}'
    for (sem_a, ids_a), (sem_b, ids_b) in zip(*runs):
        assert np.array_equal(sem_a, sem_b)
        assert np.array_equal(ids_a, ids_b)


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
