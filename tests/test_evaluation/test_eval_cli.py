"""End-to-end runs of tools/evaluate_{stq,vpq}.py and their .sh wrappers on PNGs written by the
test itself (DESIGN.md §9.2, §9.3)."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eval_helpers import SEQUENCES

from video_knet.evaluation.functional import STQuality, VideoPanopticQuality

REPO = Path(__file__).resolve().parents[2]
TOY_CLASSES = ['--num-classes', '3', '--thing-ids', '2', '--no-progress']


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    # A stub repo: the real .sh, a stub evaluate_*.py printing its argv, and .venv/bin/python.
    (tmp_path / 'tools').mkdir()
    shutil.copy(REPO / 'tools' / f'evaluate_{tool}.sh', tmp_path / 'tools')
    (tmp_path / 'tools' / f'evaluate_{tool}.py').write_text(
        'import sys\nprint(sys.executable, *sys.argv[1:])\n')
    (tmp_path / '.venv' / 'bin').mkdir(parents=True)
    os.symlink(sys.executable, tmp_path / '.venv' / 'bin' / 'python')
    script = str(tmp_path / 'tools' / f'evaluate_{tool}.sh')
    env = dict(os.environ, KNET_DATA_ROOT='/data/root')

    def run(*args: str) -> str:
        return subprocess.run(['bash', script, *args], env=env, check=True, capture_output=True,
                              text=True).stdout.split()

    out = run('RES')
    assert out[0] == str(tmp_path / '.venv' / 'bin' / 'python')
    assert out[1:] == ['RES', '--gt-dir', '/data/root/kitti-step/video_sequence/val']
    assert run('RES', 'GT', '--json', 'o.json')[1:] == ['RES', '--gt-dir', 'GT', '--json',
                                                         'o.json']
    assert run('RES', '--workers', '1')[1:] == [
        'RES', '--gt-dir', '/data/root/kitti-step/video_sequence/val', '--workers', '1']
    failed = subprocess.run(['bash', script], env=env, capture_output=True, text=True)
    assert failed.returncode == 2 and 'usage' in failed.stderr
