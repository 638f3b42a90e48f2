"""The provenance manifest of a results folder (vseg.manifest)."""
import os
from pathlib import Path

import pytest
from eval_helpers import MANIFEST

from vseg.manifest import (
    MANIFEST_NAME,
    manifest_diff,
    read_manifest,
    results_summary,
    summary_line,
    write_manifest,
)


def test_round_trip_absent_and_corrupt(tmp_path: Path):
    assert read_manifest(str(tmp_path)) is None
    path = write_manifest(str(tmp_path / 'results'), MANIFEST)
    assert path == str(tmp_path / 'results' / MANIFEST_NAME)
    assert read_manifest(str(tmp_path / 'results')) == MANIFEST
    assert [p.name for p in (tmp_path / 'results').iterdir()] == [MANIFEST_NAME]
    for text in ('{"config": ', '[1, 2]'):
        Path(path).write_text(text)
        with pytest.raises(ValueError, match=f'{path}: .*corrupt manifest'):
            read_manifest(str(tmp_path / 'results'))
        assert results_summary(str(tmp_path / 'results')).startswith(f'results: {path}: ')
    with pytest.raises(TypeError):
        write_manifest(str(tmp_path), {'cfg_options': {'x': object()}})
    assert not os.path.exists(tmp_path / MANIFEST_NAME)


def test_diff_names_what_changed():
    other = dict(MANIFEST, weights_sha256='fe' * 32, checkpoint='work/iter_800.pth',
                 cfg_options={'model.test_cfg.fill': 'void', 'x': 1})
    old = dict(MANIFEST, cfg_options={'x': 2})
    assert manifest_diff(MANIFEST, MANIFEST) == []
    assert manifest_diff(old, other) == [
        'checkpoint sha256 9b1c22aa.. != fefefefe..',
        'cfg-options model.test_cfg.fill: (absent) != void',
        'cfg-options x: 2 != 1']
    assert manifest_diff({}, MANIFEST, keys=['config_sha256', 'checkpoint']) == [
        'config sha256 (absent) != 3fa2c1d0..', 'checkpoint (absent) != work/iter_400.pth']


def test_summary_line():
    assert summary_line(None) == 'no manifest'
    line = summary_line(dict(MANIFEST, cfg_options={'model.test_cfg.fill': 'legacy'},
                             commit='1a2b3c4d5e6f'))
    assert line == ('config configs/toy/video-knet_r18_toy.py (3fa2c1d0), checkpoint '
                    'iter_400.pth (weights 9b1c22aa), cfg-options model.test_cfg.fill="legacy", '
                    'video-knet 0.1.0 commit 1a2b3c4d, created 2025-01-02T10:11:12')
    assert summary_line({}) == ('config ? (?), checkpoint ? (weights ?), cfg-options none, '
                                'video-knet ?, created ?')
