"""Every writer replaces its target atomically (vseg.io): a hard or symbolic link at the target is
replaced and the user's file keeps its bytes; a failed write (full disk, encoder error) leaves no
temporary, partial or 0-byte file, keeps an existing target and names the file in the error."""
import errno
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import load_tool
from PIL import Image
from write_faults import leftovers, simulate_full_disk

from knet.visualization import write_gif, write_rgb_png, write_video
from vseg.io import atomic_path, atomic_write, write_png_atomic, write_text_atomic
from vseg.layouts import get_layout
from vseg.manifest import write_manifest
from vseg.metrics.evaluate import save_tables_cache, write_json
from vseg.metrics.pairs import count_pairs

FRAMES = [np.full((4, 6, 3), value, np.uint8) for value in (10, 200, 90)]
ORIGINAL = b'the user\'s original file, not ours'


def _writers(root: Path) -> dict:
    """One call per kind of output this repository writes, by the target it writes."""
    table = count_pairs(np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64))
    return {
        root / 'a.png': lambda p: write_png_atomic(str(p), np.zeros((2, 3), np.uint16)),
        root / 'b.png': lambda p: write_rgb_png(str(p), FRAMES[0]),
        root / 'c.json': lambda p: write_json(str(p), {'STQ': float('nan')}),
        root / 'd.gif': lambda p: write_gif(iter(FRAMES), str(p)),
        root / 'e.mp4': lambda p: write_video(iter(FRAMES), str(p)),
        root / 'f.npz': lambda p: save_tables_cache(str(p), 'fingerprint', [table]),
        root / 'manifest.json': lambda p: write_manifest(str(p.parent), {'config': 'x.py'}),
    }


def test_a_hard_link_at_the_target_is_replaced_not_written_through(tmp_path: Path):
    user = tmp_path / 'user' / 'original.bin'
    user.parent.mkdir()
    user.write_bytes(ORIGINAL)
    out = tmp_path / 'out'
    out.mkdir()
    for target, write in _writers(out).items():
        os.link(user, target)
        write(target)
        assert user.read_bytes() == ORIGINAL, target.name
        assert not os.path.samefile(user, target) and target.stat().st_size > 0
    assert os.stat(user).st_nlink == 1
    assert leftovers(tmp_path) == []


def test_a_symbolic_link_at_the_target_is_replaced(tmp_path: Path):
    user = tmp_path / 'original.txt'
    user.write_bytes(ORIGINAL)
    target = tmp_path / 'out.txt'
    target.symlink_to(user)
    write_text_atomic(str(target), 'new')
    assert user.read_bytes() == ORIGINAL
    assert not target.is_symlink() and target.read_text() == 'new'


def test_full_disk_names_the_file_and_leaves_nothing(tmp_path: Path, monkeypatch):
    out = tmp_path / 'out'
    writers = _writers(out)
    simulate_full_disk(monkeypatch)
    for target, write in writers.items():
        if target.suffix == '.mp4':
            continue  # cv2.VideoWriter writes by name, not through a Python file
        with pytest.raises(OSError, match=f'cannot write {target}: No space left') as info:
            write(target)
        assert info.value.errno == errno.ENOSPC
        assert not target.exists()
    assert leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_existing_target(tmp_path: Path, monkeypatch):
    target = tmp_path / 'x.png'
    target.write_bytes(ORIGINAL)
    simulate_full_disk(monkeypatch)
    with pytest.raises(OSError, match='No space left'):
        write_png_atomic(str(target), np.zeros((2, 2), np.uint8))
    assert target.read_bytes() == ORIGINAL
    monkeypatch.undo()
    with pytest.raises(ZeroDivisionError), atomic_write(str(target)) as file:
        file.write(b'partial')
        raise ZeroDivisionError  # any failure inside the block
    assert target.read_bytes() == ORIGINAL and leftovers(tmp_path) == []


def test_encoder_failures_leave_no_file(tmp_path: Path, monkeypatch):
    video = tmp_path / 'v.mp4'
    with pytest.raises(ValueError, match='frame 1 is 5x6'):
        write_video(iter([FRAMES[0], np.zeros((5, 6, 3), np.uint8)]), str(video))
    with pytest.raises(ValueError, match='no frames'):
        write_gif(iter([]), str(tmp_path / 'g.gif'))
    monkeypatch.setattr(cv2, 'imencode', lambda *args: (False, None))
    with pytest.raises(RuntimeError, match='could not encode'):
        write_png_atomic(str(tmp_path / 'p.png'), np.zeros((2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_named(tmp_path: Path):
    blocker = tmp_path / 'blocker'
    blocker.write_text('a file where a folder should be')
    target = blocker / 'sub' / 'x.json'
    with pytest.raises(OSError, match=f'cannot write {target}: cannot create the folder '
                                      f'{blocker / "sub"} '):
        write_text_atomic(str(target), '{}')
    with pytest.raises(OSError, match='cannot write'), atomic_path(str(target)):
        pass


def test_result_frames_under_a_full_disk(tmp_path: Path, monkeypatch):
    simulate_full_disk(monkeypatch)
    with pytest.raises(OSError, match=r'cannot write .*000003_000012_cat\.png: No space left'):
        get_layout('knet').write_frame(str(tmp_path), 3, 12, np.zeros((2, 2)), np.zeros((2, 2)))
    assert leftovers(tmp_path) == []


def test_visualize_leaves_no_png_when_pil_fails(tmp_path: Path, monkeypatch):
    results = tmp_path / 'res'
    get_layout('knet').write_frame(str(results), 0, 0, np.zeros((4, 6)), np.ones((4, 6)))

    def broken_save(self, fp, format=None, **params):  # noqa: A002 (PIL's name)
        if isinstance(fp, (str, os.PathLike)):
            open(fp, 'wb').close()  # PIL creates a named target before encoding
        raise OSError('encoder error -2')  # as PIL reports a failed encode

    monkeypatch.setattr(Image.Image, 'save', broken_save)
    with pytest.raises(OSError, match='encoder error'):
        load_tool('visualize').main([str(results), '--workers', '1'])
    assert not (results / 'colorized').exists() or not list((results / 'colorized').rglob('*.png'))
    assert leftovers(tmp_path) == []
