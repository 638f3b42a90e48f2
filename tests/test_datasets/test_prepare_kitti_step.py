"""datasets/prepare_kitti_step.py on a small fake download tree."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest

from knet.datasets import make_toy_step
from knet.structures import encode_step_png
from video_knet.datasets import KITTISTEPDataset
from vseg.folders import MARKER_NAME
from vseg.io import write_png_atomic
from .step_files import image_for, write_rgb

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'prepare_kitti_step', osp.join(REPO, 'datasets', 'prepare_kitti_step.py'))
prepare_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare_tool)


def _fake_download(root: str) -> tuple:
    """KITTI images for train seqs 0 (2 frames) and 1 (1 frame), test seq 0; STEP maps."""
    kitti, step = osp.join(root, 'kitti'), osp.join(root, 'kitti-step')
    label = encode_step_png(np.full((4, 6), 13, np.uint8), np.ones((4, 6), np.int32))
    for seq, frame, split in ((0, 0, 'train'), (0, 1, 'train'), (1, 0, 'val')):
        write_rgb(osp.join(kitti, 'training', 'image_02', f'{seq:04d}', f'{frame:06d}.png'),
                  image_for(seq, frame, (4, 6)))
        write_rgb(osp.join(step, 'panoptic_maps', split, f'{seq:04d}', f'{frame:06d}.png'), label)
    write_rgb(osp.join(kitti, 'testing', 'image_02', '0000', '000000.png'),
              image_for(9, 9, (4, 6)))
    return kitti, step


def _snapshot(root: str) -> dict:
    return {osp.join(d, n): open(osp.join(d, n), 'rb').read()
            for d, _, names in os.walk(root) for n in names}


def test_links_layout_idempotence_and_inputs_untouched(tmp_path, capsys):
    kitti, step = _fake_download(str(tmp_path / 'raw'))
    before = _snapshot(str(tmp_path / 'raw'))
    out = str(tmp_path / 'kitti-step')
    prepare_tool.main(['--kitti-root', kitti, '--step-root', step, '--out', out])
    printed = capsys.readouterr().out
    assert 'train: 4 files' in printed and 'val: 2 files' in printed and 'test: 1 files' in printed
    train = sorted(os.listdir(osp.join(out, 'video_sequence', 'train')))
    assert train == ['000000_000000_leftImg8bit.png', '000000_000000_panoptic.png',
                     '000000_000001_leftImg8bit.png', '000000_000001_panoptic.png']
    assert os.listdir(osp.join(out, 'video_sequence', 'test')) == ['000000_000000_leftImg8bit.png']
    assert osp.samefile(osp.join(out, 'video_sequence', 'val', '000001_000000_leftImg8bit.png'),
                        osp.join(kitti, 'training', 'image_02', '0001', '000000.png'))
    report = prepare_tool.prepare(kitti, step, out)
    assert {split: dict(counts) for split, counts in report.items()} == {
        'train': {'skipped': 4}, 'val': {'skipped': 2}, 'test': {'skipped': 1}}
    assert _snapshot(str(tmp_path / 'raw')) == before
    dataset = KITTISTEPDataset(data_root=out, split='train', validate='full')
    assert len(dataset) == 2


def test_copy_mode_and_conflicts(tmp_path):
    kitti, step = _fake_download(str(tmp_path / 'raw'))
    out = str(tmp_path / 'copied')
    report = prepare_tool.prepare(kitti, step, out, copy=True, splits=('val', ))
    assert dict(report['val']) == {'copied': 2}
    image = osp.join(out, 'video_sequence', 'val', '000001_000000_leftImg8bit.png')
    assert not osp.samefile(image, osp.join(kitti, 'training', 'image_02', '0001', '000000.png'))
    write_rgb(image, np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(FileExistsError, match='000001_000000_leftImg8bit.png: exists'):
        prepare_tool.prepare(kitti, step, out, splits=('val', ))


def test_missing_inputs(tmp_path):
    kitti, step = _fake_download(str(tmp_path / 'raw'))
    os.remove(osp.join(kitti, 'training', 'image_02', '0000', '000001.png'))
    with pytest.raises(FileNotFoundError, match='0000/000001.png: missing KITTI image'):
        prepare_tool.prepare(kitti, step, str(tmp_path / 'out'), splits=('train', ))
    with pytest.raises(FileNotFoundError, match='panoptic_maps/train: missing'):
        prepare_tool.prepare(kitti, str(tmp_path), str(tmp_path / 'out'), splits=('train', ))


def test_the_generator_never_writes_through_the_prepared_links(tmp_path):
    """The data loss of issue 13: prepare (hard links), then the toy generator into the same
    folder overwrote the original KITTI / STEP files through the links."""
    raw = str(tmp_path / 'raw')
    kitti, step = _fake_download(raw)
    before = _snapshot(raw)
    out = str(tmp_path / 'kitti-step')
    prepare_tool.main(['--kitti-root', kitti, '--step-root', step, '--out', out])
    linked = osp.join(out, 'video_sequence', 'train', '000000_000000_leftImg8bit.png')
    original = osp.join(kitti, 'training', 'image_02', '0000', '000000.png')
    assert osp.samefile(linked, original)
    tiny = dict(seed=5, size=(64, 208), train_seqs=2, val_seqs=1, frames=3)
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match='was made by datasets/prepare_kitti_step.py'):
            make_toy_step(out, overwrite=overwrite, **tiny)
    os.remove(osp.join(out, MARKER_NAME))  # a folder prepared before the marker existed
    with pytest.raises(FileExistsError, match='is not empty and was not made by'):
        make_toy_step(out, **tiny)
    assert _snapshot(raw) == before
    # Any of our writers replaces a linked file instead of writing through it.
    write_png_atomic(linked, np.zeros((4, 6, 3), np.uint8))
    assert not osp.samefile(linked, original)
    assert _snapshot(raw) == before


def test_prepare_refuses_a_folder_it_did_not_make(tmp_path):
    kitti, step = _fake_download(str(tmp_path / 'raw'))
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('my notes')
    with pytest.raises(FileExistsError, match='is not empty and was not made by datasets/'):
        prepare_tool.prepare(kitti, step, str(foreign))
    assert os.listdir(foreign) == ['notes.txt']
    toy = str(tmp_path / 'toy')
    make_toy_step(toy, size=(32, 32), train_seqs=1, val_seqs=0, frames=1)
    with pytest.raises(SystemExit, match='^error: .* was made by tools/make_toy_step.py'):
        prepare_tool.main(['--kitti-root', kitti, '--step-root', step, '--out', toy])
    # Inputs are checked before the folder is claimed: no marker for a failed run.
    with pytest.raises(FileNotFoundError):
        prepare_tool.prepare(kitti, str(tmp_path), str(tmp_path / 'new'), splits=('train', ))
    assert not osp.exists(tmp_path / 'new')
