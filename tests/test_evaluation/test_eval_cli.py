"""End-to-end runs of tools/evaluate_{stq,vpq}.py and their .sh wrappers on PNGs written by the
test itself (docs/metrics.md)."""
import json
import runpy
import subprocess
import sys

import pytest
from eval_helpers import SEQUENCES
from helpers import REPO, load_tool, run_stub_script, stub_repo

from vseg.metrics import STQuality, VideoPanopticQuality

TOY_CLASSES = ['--num-classes', '3', '--thing-ids', '2', '--no-progress']


def reference(metric):
    for seq, frames in SEQUENCES.items():
        for gt, pred in frames:
            metric.update(gt, pred, seq)
    return metric.result()


@pytest.mark.parametrize('legacy,workers', [(False, 2), (True, 1)])
def test_evaluate_stq_end_to_end(step_dirs, tmp_path, capsys, legacy, workers):
    results, gt_dir = step_dirs
    out = tmp_path / 'stq.json'
    argv = [str(results), '--gt-dir', str(gt_dir), '--json', str(out), '--workers',
            str(workers)] + TOY_CLASSES + (['--legacy'] if legacy else [])
    load_tool('evaluate_stq').main(argv)
    expected = reference(STQuality(3, [2], legacy=legacy))
    data = json.loads(out.read_text())
    assert {'STQ', 'AQ', 'SQ', 'per_sequence', 'per_class_iou'} <= set(data)
    for key in ('STQ', 'AQ', 'SQ'):
        assert data[key] == pytest.approx(expected[key], abs=1e-12)
        assert 0 <= data[key] <= 1
    assert set(data['per_sequence']) == {'2', '13'}
    assert data['per_sequence']['13']['STQ'] == pytest.approx(expected['per_sequence'][13]['STQ'])
    assert set(data['per_class_iou']) == {'0', '1', '2', '255'}
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f'STQ {100 * expected["STQ"]:.1f}  AQ {100 * expected["AQ"]:.1f}')


def test_legacy_and_official_differ_on_this_data(step_dirs):
    official, legacy = reference(STQuality(3, [2])), reference(STQuality(3, [2], legacy=True))
    assert official['AQ'] != pytest.approx(legacy['AQ'])


def test_evaluate_vpq_end_to_end(step_dirs, tmp_path, capsys):
    results, gt_dir = step_dirs
    out = tmp_path / 'vpq.json'
    argv = [str(results), '--gt-dir', str(gt_dir), '--json', str(out), '--window-sizes', '1',
            '3', '--workers', '1', '--tables-cache', str(tmp_path / 'tables.npz')] + TOY_CLASSES
    load_tool('evaluate_vpq').main(argv)
    assert load_tool('evaluate_vpq').main(argv)['VPQ'] == json.loads(out.read_text())['VPQ']
    expected = reference(VideoPanopticQuality(3, [2], (1, 3)))
    data = json.loads(out.read_text())
    assert {'VPQ', 'VPQ_th', 'VPQ_st', 'per_window'} <= set(data)
    assert set(data['per_window']) == {'1', '3'}
    for k in ('1', '3'):
        window = data['per_window'][k]
        assert {'VPQ', 'VPQ_th', 'VPQ_st', 'per_class'} <= set(window)
        assert window['VPQ'] == pytest.approx(expected['per_window'][int(k)]['VPQ'])
        assert set(window['per_class']['2']) == {'PQ', 'SQ', 'RQ', 'TP', 'FP', 'FN'}
    assert data['per_window']['3']['num_windows'] == 1  # only sequence 2 has 3 frames
    assert data['VPQ'] == pytest.approx(expected['VPQ'])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f'VPQ {100 * expected["VPQ"]:.1f}  VPQ_th')


def test_default_classes_come_from_kitti_step_metainfo(step_dirs, tmp_path):
    results, gt_dir = step_dirs
    out = tmp_path / 'stq.json'
    load_tool('evaluate_stq').main([str(results), '--gt-dir', str(gt_dir), '--json', str(out),
                                    '--workers', '1', '--no-progress'])
    data = json.loads(out.read_text())
    assert data['thing_ids'] == [11, 13] and len(data['per_class_iou']) == 20
    assert data['AQ'] == 0.0  # class 2 is stuff in KITTI-STEP: no tube


def test_missing_frame_is_an_error(step_dirs):
    results, gt_dir = step_dirs
    for kind in ('cat', 'ins'):
        (results / 'panoptic' / '000013' / f'000013_000000_{kind}.png').unlink()
    with pytest.raises(ValueError, match='seq 13 frame 0'):
        load_tool('evaluate_vpq').main([str(results), '--gt-dir', str(gt_dir)] + TOY_CLASSES)


@pytest.mark.parametrize('tool', ['stq', 'vpq'])
def test_shell_wrapper_forwards_arguments(tmp_path, tool):
    repo = stub_repo(tmp_path / 'repo')
    script = f'evaluate_{tool}.sh'
    env = dict(KNET_DATA_ROOT='/data/root')
    default_gt = '/data/root/kitti-step/video_sequence/val'
    out = run_stub_script(repo, script, 'RES', env=env)
    assert out.program == str(repo / '.venv' / 'bin' / 'python')
    assert out.argv == [str(repo / 'tools' / f'evaluate_{tool}.py'), 'RES', '--gt-dir', default_gt]
    assert run_stub_script(repo, script, 'RES', 'GT', '--json', 'o.json', env=env).argv[1:] == [
        'RES', '--gt-dir', 'GT', '--json', 'o.json']
    assert run_stub_script(repo, script, 'RES', '--workers', '1', env=env).argv[1:] == [
        'RES', '--gt-dir', default_gt, '--workers', '1']
    failed = subprocess.run(['bash', str(repo / 'tools' / script)], capture_output=True,
                            text=True)
    assert failed.returncode == 2
    assert failed.stderr == f'usage: bash tools/{script} RESULTS_DIR [GT_DIR] [options]\n'


@pytest.mark.parametrize('tool', ['evaluate_stq', 'evaluate_vpq'])
def test_input_errors_exit_with_one_line(tmp_path, monkeypatch, tool):
    script = str(REPO / 'tools' / f'{tool}.py')
    monkeypatch.setattr(sys, 'argv', [script, str(tmp_path / 'missing'), '--gt-dir',
                                      str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(script, run_name='__main__')
    assert exit_info.value.code == (f'error: {tmp_path / "missing" / "panoptic"} does not exist: '
                                    'expected RESULTS_DIR/panoptic/{seq}/'
                                    '{seq:06d}_{frame:06d}_cat.png and _ins.png')
