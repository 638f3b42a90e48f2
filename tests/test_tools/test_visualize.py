"""Tests of knet.visualization and tools/visualize.py (with the fixes of the original
colorize_img.py)."""
import os
import os.path as osp
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import REPO, load_tool
from PIL import Image

from knet.datasets.step_metainfo import STEP_PALETTE
from knet.visualization import (
    colorize_ids,
    colorize_semantic,
    find_result_frames,
    id_color,
    make_panel,
    read_gif_frames,
    video_codec,
)
from vseg.manifest import write_manifest

H, W = 4, 6
# (seq folder, frames); frame f of a sequence shows class f in its top-left quadrant.
SEQUENCES = {'2': [2, 0, 1], '13': [10, 8, 9]}
TRACK_IDS = (0, 7, 300, 65535)


def _quadrants(values) -> np.ndarray:
    """(H, W) uint16 map with the four values in the TL, TR, BL, BR quadrants."""
    out = np.empty((H, W), dtype=np.uint16)
    out[:2, :3], out[:2, 3:], out[2:, :3], out[2:, 3:] = values
    return out


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """Two sequences of three frames, written in shuffled order, plus their camera images."""
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    for seq_name, frames in SEQUENCES.items():
        seq_dir = tmp_path / 'res' / 'panoptic' / seq_name
        seq_dir.mkdir(parents=True)
        seq = int(seq_name)
        for frame in frames:
            stem = f'{seq:06d}_{frame:06d}'
            cv2.imwrite(str(seq_dir / f'{stem}_cat.png'), _quadrants((frame, 11, 13, 255)))
            cv2.imwrite(str(seq_dir / f'{stem}_ins.png'), _quadrants(TRACK_IDS))
            image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            Image.fromarray(image).save(img_dir / f'{stem}_leftImg8bit.png')
    return tmp_path


def test_id_color_hash_and_black_zero():
    # sha256('1') ends in '875b4b' -> h = 0x875b4b -> (0x4b, 0x5b, 0x87) as (R, G, B).
    assert id_color(1) == (75, 91, 135)
    assert id_color(0) == (0, 0, 0)
    ids = np.array([[0, 255, 256, 257], [511, 1000, 65535, 256]], dtype=np.uint16)
    rgb = colorize_ids(ids)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 0]
    colors = {tuple(rgb[0, j]) for j in range(1, 4)} | {tuple(rgb[1, j]) for j in range(3)}
    assert len(colors) == 6, 'ids above 255 must keep distinct colours (no 8-bit clipping)'
    assert rgb[0, 2].tolist() == rgb[1, 3].tolist() == list(id_color(256))


def test_colorize_semantic_palette_and_errors():
    semantic = np.array([[0, 11], [13, 255]], dtype=np.uint16)
    rgb = colorize_semantic(semantic, STEP_PALETTE)
    assert rgb[0, 0].tolist() == [128, 64, 128]
    assert rgb[0, 1].tolist() == [220, 20, 60]
    assert rgb[1, 0].tolist() == [0, 0, 142]
    assert rgb[1, 1].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match=r'\[19\]'):
        colorize_semantic(np.array([[19]]), STEP_PALETTE)


def test_make_panel_shapes():
    a = np.zeros((2, 3, 3), np.uint8)
    b = np.ones((2, 5, 3), np.uint8)
    panel = make_panel([a, b], gap=2)
    assert panel.shape == (2, 10, 3)
    assert (panel[:, 3:5] == 255).all() and (panel[:, 5:] == 1).all()
    with pytest.raises(ValueError, match='one height'):
        make_panel([a, np.zeros((3, 3, 3), np.uint8)])


def test_find_result_frames_numeric_order_and_missing_pair(results: Path):
    sequences = find_result_frames(str(results / 'res'))
    assert list(sequences) == ['2', '13']
    assert [f.frame for f in sequences['13']] == [8, 9, 10]
    os.remove(results / 'res' / 'panoptic' / '2' / '000002_000001_ins.png')
    with pytest.raises(ValueError, match='000002_000001_cat.png has no matching _ins.png'):
        find_result_frames(str(results / 'res'))


def test_visualize_tool_end_to_end(results: Path):
    res = results / 'res'
    summary = load_tool('visualize').main([str(res), '--img-dir', str(results / 'images'),
                                           '--fps', '5', '--mp4', '--workers', '1',
                                           '--panel-gap', '0'])
    assert summary == {kind: {'2': 3, '13': 3} for kind in ('segmentation', 'instance', 'panel')}
    seg = np.asarray(Image.open(res / 'colorized/segmentation/2/000002_000000_cat.png'))
    assert seg[0, 0].tolist() == [128, 64, 128]          # class 0, RGB order on disk
    assert seg[0, 5].tolist() == [220, 20, 60]           # class 11
    assert seg[3, 0].tolist() == [0, 0, 142]             # class 13 (BGR would be 142, 0, 0)
    assert seg[3, 5].tolist() == [0, 0, 0]               # 255 = none
    # Same track id -> same colour in every frame; 16-bit ids kept; id 0 black.
    ins = [np.asarray(Image.open(res / f'colorized/instance/2/000002_{f:06d}_ins.png'))
           for f in (0, 1, 2)]
    for frame in ins:
        assert frame[0, 0].tolist() == [0, 0, 0]
        assert frame[0, 5].tolist() == list(id_color(7))
        assert frame[3, 0].tolist() == list(id_color(300))
        assert frame[3, 5].tolist() == list(id_color(65535))
    assert len({tuple(ins[0][0, 5]), tuple(ins[0][3, 0]), tuple(ins[0][3, 5])}) == 3
    # Panel = image | semantic | tracks.
    panel = np.asarray(Image.open(res / 'colorized/panel/13/000013_000009_panel.png'))
    image = np.asarray(Image.open(results / 'images/000013_000009_leftImg8bit.png'))
    assert panel.shape == (H, 3 * W, 3)
    assert np.array_equal(panel[:, :W], image)
    assert panel[0, W].tolist() == list(STEP_PALETTE[9])
    # GIF: one per sequence and kind, frames in numeric order (class f drawn in frame f).
    gif = read_gif_frames(str(res / 'colorized_gif/segmentation/13.gif'))
    assert len(gif) == 3
    assert [g[0, 0].tolist() for g in gif] == [list(STEP_PALETTE[f]) for f in (8, 9, 10)]
    with Image.open(res / 'colorized_gif/segmentation/13.gif') as handle:
        assert handle.info['duration'] == 200 and handle.info['loop'] == 0
    assert osp.isfile(res / 'colorized_gif/panel/2.gif')
    capture = cv2.VideoCapture(str(res / 'colorized_mp4/instance/13.mp4'))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()
    # H.264 (browsers play it), odd sizes padded to even for yuv420p
    assert video_codec(str(res / 'colorized_mp4/instance/13.mp4')) == 'h264'


def test_visualize_shell_wrapper_usage():
    proc = subprocess.run(['bash', str(REPO / 'tools' / 'visualize.sh')], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and 'usage:' in proc.stderr


def test_visualize_prints_the_results_provenance(results: Path, capsys):
    res = results / 'res'
    load_tool('visualize').main([str(res), '--workers', '1'])
    assert capsys.readouterr().out.splitlines()[-2] == 'results: no manifest'
    write_manifest(str(res), dict(config='configs/toy/x.py', config_sha256='ab' * 32,
                                  checkpoint='/w/iter_8.pth', weights_sha256='cd' * 32,
                                  cfg_options={}, version='0.1.0', commit='1234567890',
                                  created='2025-01-02T10:11:12'))
    load_tool('visualize').main([str(res), '--workers', '1'])
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2] == ('results: config configs/toy/x.py (abababab), checkpoint iter_8.pth '
                           '(weights cdcdcdcd), cfg-options none, video-knet 0.1.0 commit '
                           '12345678, created 2025-01-02T10:11:12')
    assert printed[-1].startswith('wrote 6 frames x 2 kinds under ')
