"""What the evaluators print and write: figures before any file, a failing write is an error after
them, the results' provenance line before the headline, frame gaps and impossible windows."""
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import MANIFEST, SEQUENCES, write_gt_png, write_result_pngs
from helpers import REPO
from write_faults import leftovers, simulate_full_disk

from vseg.manifest import write_manifest

TOY = ['--num-classes', '3', '--thing-ids', '2', '--no-progress', '--workers', '1']


def run_main(tool: str, argv: list, monkeypatch) -> None:
    """Run ``tools/{tool}.py`` as a script (its ``run_tool`` error handling included)."""
    script = str(REPO / 'tools' / f'{tool}.py')
    monkeypatch.setattr(sys, 'argv', [script] + argv)
    runpy.run_path(script, run_name='__main__')


@pytest.mark.parametrize('tool', ['evaluate_stq', 'evaluate_vpq'])
def test_a_failing_json_write_is_an_error_after_the_figures(step_dirs, tmp_path, capsys,
                                                            monkeypatch, tool):
    """`--json /readonly/x.json` computed everything and printed no figures."""
    results, gt_dir = step_dirs
    blocker = tmp_path / 'blocker'
    blocker.write_text('a file where a folder should be')
    out = blocker / 'x.json'
    windows = ['--window-sizes', '1', '2'] if tool == 'evaluate_vpq' else []
    with pytest.raises(SystemExit) as info:
        run_main(tool, [str(results), '--gt-dir', str(gt_dir), '--json', str(out)] + windows
                 + TOY, monkeypatch)
    assert info.value.code == (f'error: cannot write {out}: cannot create the folder {blocker} '
                               '(File exists)')
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith(tool[-3:].upper() + ' ')  # the headline, last
    assert printed[-2] == 'results: no manifest'
    assert any(line.strip().startswith('2 ') for line in printed)  # the tables


def test_full_disk_names_json_and_tables_cache(step_dirs, tmp_path, capsys, monkeypatch):
    results, gt_dir = step_dirs
    out, cache = tmp_path / 'out' / 'stq.json', tmp_path / 'out' / 'tables.npz'
    argv = [str(results), '--gt-dir', str(gt_dir)] + TOY
    simulate_full_disk(monkeypatch)
    for extra, target in ((['--json', str(out), '--tables-cache', str(cache)], out),
                          (['--tables-cache', str(cache)], cache)):
        with pytest.raises(SystemExit) as info:
            run_main('evaluate_stq', argv + extra, monkeypatch)
        assert info.value.code == f'error: cannot write {target}: No space left on device'
        assert capsys.readouterr().out.strip().splitlines()[-1].startswith('STQ ')
    assert leftovers(tmp_path) == []


def test_provenance_line_comes_right_before_the_headline(step_dirs, capsys, monkeypatch):
    results, gt_dir = step_dirs
    write_manifest(str(results), MANIFEST)
    run_main('evaluate_vpq', [str(results), '--gt-dir', str(gt_dir), '--window-sizes', '1']
             + TOY, monkeypatch)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-2] == ('results: config configs/toy/video-knet_r18_toy.py (3fa2c1d0), '
                           'checkpoint iter_400.pth (weights 9b1c22aa), cfg-options none, '
                           'video-knet 0.1.0, created 2025-01-02T10:11:12')
    assert printed[-1].startswith('VPQ ')
    (results / 'manifest.json').write_text('{"config": ')  # corrupt: reported, not fatal
    run_main('evaluate_stq', [str(results), '--gt-dir', str(gt_dir)] + TOY, monkeypatch)
    assert 'manifest.json: unreadable or corrupt manifest' in capsys.readouterr().out


def _sequence_with_gap(tmp_path: Path) -> tuple:
    """Sequence 5 with frames 0, 1, 3 (frame 2 missing in both GT and results)."""
    results, gt_dir = tmp_path / 'results', tmp_path / 'gt'
    gt_dir.mkdir()
    frames = SEQUENCES[2] + SEQUENCES[2][:1]
    for frame_id, (gt, pred) in zip((0, 1, 3), frames):
        write_gt_png(gt_dir / f'000005_{frame_id:06d}_panoptic.png', gt)
        write_result_pngs(results / 'panoptic' / '5', 5, frame_id, pred)
    return results, gt_dir


def test_a_frame_gap_is_named_and_no_window_spans_it(tmp_path, capsys, monkeypatch):
    results, gt_dir = _sequence_with_gap(tmp_path)
    out = tmp_path / 'vpq.json'
    run_main('evaluate_vpq', [str(results), '--gt-dir', str(gt_dir), '--json', str(out),
                              '--window-sizes', '1', '2'] + TOY, monkeypatch)
    err = capsys.readouterr().err
    assert ('warning: sequence 5 has a frame gap (after frame 1 the next is 3): STQ tubes span '
            'it, VPQ windows do not') in err
    data = json.loads(out.read_text())
    assert data['frame_gaps'] == {'5': [[1, 3]]}
    assert data['per_window']['2']['num_windows'] == 1  # (0, 1); (1, 3) would span the gap
    assert data['per_window']['1']['num_windows'] == 3


def test_a_window_longer_than_every_sequence_is_an_error(step_dirs, tmp_path, capsys,
                                                        monkeypatch):
    """`--window-sizes 10` on short sequences gave NaN with exit status 0."""
    results, gt_dir = step_dirs
    out = tmp_path / 'vpq.json'
    with pytest.raises(SystemExit) as info:
        run_main('evaluate_vpq', [str(results), '--gt-dir', str(gt_dir), '--json', str(out),
                                  '--window-sizes', '1', '10'] + TOY, monkeypatch)
    assert info.value.code == ('error: window size 10 is longer than every sequence (the '
                               'longest has 3 consecutive frames), so no window of that size '
                               'exists; window sizes must be at most 3')
    assert not out.exists() and capsys.readouterr().out == ''


def test_stride_between_annotated_frames_is_no_gap(tmp_path, capsys, monkeypatch):
    results, gt_dir = tmp_path / 'results', tmp_path / 'gt'
    gt_dir.mkdir()
    for frame_id, (gt, pred) in zip((0, 5, 10), SEQUENCES[2]):
        write_gt_png(gt_dir / f'000002_{frame_id:06d}_panoptic.png', gt)
        write_result_pngs(results / 'panoptic' / '2', 2, frame_id, np.asarray(pred))
    run_main('evaluate_vpq', [str(results), '--gt-dir', str(gt_dir), '--window-sizes', '3']
             + TOY, monkeypatch)
    assert 'warning' not in capsys.readouterr().err
