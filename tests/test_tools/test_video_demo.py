"""tools/video_demo.py on a tiny Video K-Net with random weights.

Three synthetic frames are given once as a folder and once as an MP4 written with cv2; the demo
must write the inference layout (uint16 ``_cat``/``_ins`` PNGs), one panel per frame and a GIF of
as many frames. The sources themselves (frame order, online restart at frame 0) are tested with
the inference API in tests/test_apis/test_inference_api.py.
"""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO, load_tool

from knet.visualization import read_gif_frames, read_rgb
from vseg.manifest import read_manifest, write_manifest

TINY = str(REPO / 'configs' / 'tiny' / 'video-knet_tiny.py')
SIZE = (64, 128)
#: Keep every kernel as a segment and a track, so that random weights produce track ids.
LOW_THRESHOLDS = ['--cfg-options', 'model.test_cfg.instance_score_thr=0.0',
                  'model.tracker.init_score_thr=0.0', 'model.tracker.obj_score_thr=0.0']


demo = load_tool('video_demo')


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """The demo sets the process's torch threads (``--threads``): restore them for the other
    tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


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
    image = read_rgb(str(frames_dir / '000000_000001_leftImg8bit.png'))
    panel = read_rgb(result['panels'][1])
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


def test_checkpoint_without_palette_fails_clearly(frames_dir: Path, checkpoint: str,
                                                   tmp_path: Path):
    # The tiny config's test dataset has a metainfo (the colours come from it) ...
    result = demo.main([str(frames_dir), TINY, checkpoint, '--out', str(tmp_path / 'out'),
                        '--device', 'cpu', '--max-frames', '1'])
    assert result['frames'] == 1
    # ... a config without a test dataloader has none: the demo names what is missing.
    bare = tmp_path / 'bare.py'
    bare.write_text(f"_base_ = ['{TINY}']\ntest_dataloader = None\n")
    with pytest.raises(KeyError, match='palette'):
        demo.main([str(frames_dir), str(bare), checkpoint, '--out', str(tmp_path / 'bare'),
                   '--device', 'cpu'])


def test_reused_out_holds_only_the_new_run(frames_dir: Path, checkpoint: str, tmp_path: Path):
    """The mistake: a second run into the same --out left the first run's frames beside its own."""
    out = tmp_path / 'out'
    common = [str(frames_dir), TINY, checkpoint, '--out', str(out), '--device', 'cpu']
    demo.main(common + ['--mp4'])
    assert len(list((out / 'panel').iterdir())) == 3 and (out / 'demo.mp4').is_file()
    (out / 'panel' / 'notes.txt').write_text('mine')
    (out / 'mine.png').write_bytes(b'not the demo\'s')
    demo.main(common + ['--max-frames', '1'])
    assert sorted(p.name for p in (out / 'panoptic' / '0').iterdir()) == [
        '000000_000000_cat.png', '000000_000000_ins.png']
    assert [p.name for p in (out / 'final' / '0000').iterdir()] == ['000000.png']
    assert sorted(p.name for p in (out / 'panel').iterdir()) == ['000000_000000_panel.png',
                                                                 'notes.txt']
    assert not (out / 'demo.mp4').exists() and len(read_gif_frames(str(out / 'demo.gif'))) == 1
    assert (out / 'mine.png').read_bytes() == b'not the demo\'s'
    manifest = read_manifest(str(out))
    assert manifest['tool'] == 'tools/video_demo.py' and manifest['checkpoint'] == checkpoint

    # Another tool's results folder, or demo-named files of unknown origin: refused, untouched.
    results = tmp_path / 'results'
    write_manifest(str(results), dict(tool='tools/inference.py'))
    with pytest.raises(FileExistsError, match='tools/inference.py'):
        demo.main([str(frames_dir), TINY, checkpoint, '--out', str(results), '--device', 'cpu'])
    unknown = tmp_path / 'unknown'
    (unknown / 'panel').mkdir(parents=True)
    (unknown / 'panel' / '000000_000007_panel.png').write_bytes(b'x')
    with pytest.raises(FileExistsError, match='no manifest.json of the demo'):
        demo.main([str(frames_dir), TINY, checkpoint, '--out', str(unknown), '--device', 'cpu'])
    assert (unknown / 'panel' / '000000_000007_panel.png').read_bytes() == b'x'


def test_checkpoint_of_another_model_is_refused(frames_dir: Path, tmp_path: Path):
    """Image K-Net weights lack the video modules: an error naming the keys, no output."""
    from mmengine.config import Config

    from knet.engine.checkpoint import CheckpointMismatchError
    from knet.registry import MODELS
    model = MODELS.build(Config.fromfile(str(REPO / 'configs' / 'tiny' / 'knet_tiny.py')).model)
    image_ckpt = tmp_path / 'knet.pth'
    torch.save(dict(state_dict=model.state_dict()), image_ckpt)
    with pytest.raises(CheckpointMismatchError) as error:
        demo.main([str(frames_dir), TINY, str(image_ckpt), '--out', str(tmp_path / 'out'),
                   '--device', 'cpu'])
    lines = str(error.value).splitlines()
    assert '0 mis-shaped, 23 missing, 0 unexpected keys (260 match)' in lines[0]
    assert lines[1].split() == ['problem', 'key', 'checkpoint', 'shape', 'model', 'shape']
    assert lines[2].split() == ['missing', 'embed_fcs.0.weight', '-', '(64,', '64)']
    assert lines[22] == '... and 3 more'
    assert not (tmp_path / 'out').exists()


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
