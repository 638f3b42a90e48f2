"""Instance merge rate (vseg.metrics.merge_rate, tools/analysis/instance_merge_rate.py) on small
hand-made maps whose counts are worked out by hand in the comments (docs/metrics.md)."""
import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
from eval_helpers import DIV, MANIFEST, write_gt_png, write_result_pngs
from helpers import REPO

from vseg.manifest import write_manifest
from vseg.metrics import MergeRate, frame_merge_counts, table_merge_counts
from vseg.metrics.merge_rate import merge_rate
from vseg.metrics.pairs import concat_tables, count_pairs

TOOL = REPO / 'tools' / 'analysis' / 'instance_merge_rate.py'
PERSON, CAR, ROAD, VOID = 11, 13, 0, 255  # KITTI-STEP: person and car are the things
THINGS = (PERSON, CAR)

# Two adjacent cars of 4 pixels each (instance 1: columns 1-2, instance 2: columns 3-4).
CARS_SEM = np.array([[ROAD] * 6,
                     [ROAD, CAR, CAR, CAR, CAR, ROAD],
                     [ROAD, CAR, CAR, CAR, CAR, ROAD],
                     [ROAD] * 6])
CARS_INST = np.array([[0] * 6,
                      [0, 1, 1, 2, 2, 0],
                      [0, 1, 1, 2, 2, 0],
                      [0] * 6])
# One car of 8 pixels (columns 1-4).
ONE_CAR_INST = np.where(CARS_SEM == CAR, 1, 0)
# Predicted track ids on the cars' pixels: one segment over both / one per car / two halves.
ONE_SEGMENT = np.where(CARS_SEM == CAR, 5, 0)
PER_CAR = np.where(CARS_INST == 1, 7, np.where(CARS_INST == 2, 8, 0))


def counts(gt_sem, gt_inst, pred_sem, pred_inst, **kwargs) -> dict:
    return frame_merge_counts(np.asarray(gt_sem), np.asarray(gt_inst), np.asarray(pred_sem),
                              np.asarray(pred_inst), THINGS, VOID, **kwargs)


def test_one_segment_over_two_adjacent_cars_is_merged():
    # The segment holds 4/4 of each car: it covers both. Each car holds 4/8 = 0.5 of it, but one
    # segment per car cannot split it.
    assert counts(CARS_SEM, CARS_INST, CARS_SEM, ONE_SEGMENT) == dict(
        pred_segments=1, merged=1, gt_instances=2, split=0)


def test_a_correct_prediction_is_neither_merged_nor_split():
    assert counts(CARS_SEM, CARS_INST, CARS_SEM, PER_CAR) == dict(
        pred_segments=2, merged=0, gt_instances=2, split=0)


def test_one_car_predicted_as_two_halves_is_split():
    # Each half (4 px) lies 4/4 inside the car: split. Each covers 4/8 of it: no merge.
    assert counts(CARS_SEM, ONE_CAR_INST, CARS_SEM, PER_CAR) == dict(
        pred_segments=2, merged=0, gt_instances=1, split=1)


def test_min_overlap_exactly_reached_counts():
    # Segment 5 = columns 1-3: 4/4 of car 1 and 2/4 = exactly 0.5 of car 2; segment 9 = column 4.
    pred_inst = np.where(CARS_SEM == CAR, 5, 0)
    pred_inst[1:3, 4] = 9
    at = counts(CARS_SEM, CARS_INST, CARS_SEM, pred_inst)
    assert at == dict(pred_segments=2, merged=1, gt_instances=2, split=0)
    assert counts(CARS_SEM, CARS_INST, CARS_SEM, pred_inst, min_overlap=0.51)['merged'] == 0
    # Car 2 (4 px): segment 9 lies 2/2 inside it, segment 5 only 2/6: not split at 0.5, but at
    # min_overlap 1/3 both do (2/6 >= 1/3, compared as fractions): split.
    assert counts(CARS_SEM, CARS_INST, CARS_SEM, pred_inst, min_overlap=1 / 3)['split'] == 1


def test_fractions_are_compared_exactly():
    # Car 1 = row 0 (10 px), car 2 = row 1 (10 px); the segment holds 3 px of car 1 (0.3) and all
    # of car 2. 3 >= 0.3 * 10 is False in floating point (3.0000000000000004); 3 / 10 >= 0.3.
    sem = np.full((2, 10), CAR)
    inst = np.array([[1] * 10, [2] * 10])
    pred_inst = np.array([[4, 4, 4] + [0] * 7, [4] * 10])
    assert counts(sem, inst, sem, pred_inst, min_overlap=0.3)['merged'] == 1
    assert counts(sem, inst, sem, pred_inst, min_overlap=0.31)['merged'] == 0


def test_crowd_and_void_are_not_instances():
    # Car 1 (4 px, instance 1) as in CARS; columns 3-4 are a crowd of cars (instance 0): not an
    # instance, so the segment over all 8 pixels covers one instance only.
    crowd_inst = np.where(CARS_INST == 2, 0, CARS_INST)
    assert counts(CARS_SEM, crowd_inst, CARS_SEM, ONE_SEGMENT) == dict(
        pred_segments=1, merged=0, gt_instances=1, split=0)
    # A segment lying only on GT void has no pixel: it is no predicted segment.
    void_sem = np.where(CARS_INST == 2, VOID, CARS_SEM)
    assert counts(void_sem, CARS_INST, CARS_SEM, PER_CAR) == dict(
        pred_segments=1, merged=0, gt_instances=1, split=0)


def test_void_pixels_do_not_count_in_a_segments_size():
    # One car of 4 px (columns 1-2, rows 1-2), GT void in columns 3-5. Segment 3 = column 1
    # (2 px), segment 4 = column 2 + the void columns (2 px of car, 6 px of void). Without the
    # void segment 4 is 2 px, 2/2 inside the car: split.
    gt_sem = np.array([[ROAD, ROAD, ROAD, VOID, VOID, VOID],
                       [ROAD, CAR, CAR, VOID, VOID, VOID],
                       [ROAD, CAR, CAR, VOID, VOID, VOID],
                       [ROAD, ROAD, ROAD, VOID, VOID, VOID]])
    gt_inst = np.where(gt_sem == CAR, 1, 0)
    pred_sem = np.where(gt_sem == ROAD, ROAD, CAR)
    pred_inst = np.where(pred_sem == CAR, 4, 0)
    pred_inst[1:3, 1] = 3
    assert counts(gt_sem, gt_inst, pred_sem, pred_inst) == dict(
        pred_segments=2, merged=0, gt_instances=1, split=1)


def test_a_segment_over_a_person_and_a_car_is_merged():
    # Same instance id 1, different classes: two instances; the class of the segment is ignored.
    gt_sem = np.where(CARS_INST == 1, PERSON, CARS_SEM)
    gt_inst = np.where(CARS_SEM == CAR, 1, 0)
    assert counts(gt_sem, gt_inst, CARS_SEM, ONE_SEGMENT) == dict(
        pred_segments=1, merged=1, gt_instances=2, split=0)


def test_min_area_ignores_tiny_instances():
    # Car 2 shrunk to one pixel (the other 3 become road); the segment covers cars 1 and 2.
    gt_sem, gt_inst = CARS_SEM.copy(), CARS_INST.copy()
    gt_sem[1:3, 3:5], gt_inst[1:3, 3:5] = ROAD, 0
    gt_sem[1, 3], gt_inst[1, 3] = CAR, 2
    assert counts(gt_sem, gt_inst, CARS_SEM, ONE_SEGMENT) == dict(
        pred_segments=1, merged=1, gt_instances=2, split=0)
    assert counts(gt_sem, gt_inst, CARS_SEM, ONE_SEGMENT, min_area=2) == dict(
        pred_segments=1, merged=0, gt_instances=1, split=0)


def test_stuff_and_id_zero_predictions_are_no_segments():
    # A stuff class with a track id and a thing class with track id 0 are no thing segments.
    pred_sem = np.where(CARS_INST == 1, ROAD, CARS_SEM)
    pred_inst = np.where(CARS_INST == 1, 5, 0)
    assert counts(CARS_SEM, CARS_INST, pred_sem, pred_inst) == dict(
        pred_segments=0, merged=0, gt_instances=2, split=0)


def test_shape_mismatch_and_bad_thresholds_raise():
    with pytest.raises(ValueError, match='one shape'):
        counts(CARS_SEM, CARS_INST, CARS_SEM[:, :5], ONE_SEGMENT[:, :5])
    with pytest.raises(ValueError, match='min_overlap'):
        counts(CARS_SEM, CARS_INST, CARS_SEM, ONE_SEGMENT, min_overlap=0)
    with pytest.raises(ValueError, match='min_area'):
        counts(CARS_SEM, CARS_INST, CARS_SEM, ONE_SEGMENT, min_area=-1)


def test_tables_with_repeated_pairs_and_the_accumulator():
    gt, pred = CARS_SEM * DIV + CARS_INST, CARS_SEM * DIV + ONE_SEGMENT
    table = count_pairs(gt, pred)
    halves = concat_tables([count_pairs(gt[:2], pred[:2]), count_pairs(gt[2:], pred[2:])])
    assert table_merge_counts(halves, THINGS, VOID) == table_merge_counts(table, THINGS, VOID)
    metric = MergeRate(THINGS, VOID, num_classes=19)
    metric.update(gt, pred, sequence_id=4, frame_id=0)
    metric.update(gt, CARS_SEM * DIV + PER_CAR, sequence_id=4, frame_id=1)
    metric.update(gt, np.full_like(gt, ROAD * DIV), sequence_id=9, frame_id=0)
    result = metric.result()
    assert result['per_sequence'][4] == dict(num_frames=2, pred_segments=3, merged=1,
                                             gt_instances=4, split=0, merge_rate=1 / 3,
                                             split_rate=0.0)
    assert np.isnan(result['per_sequence'][9]['merge_rate'])  # no predicted segment
    assert (result['pred_segments'], result['merged'], result['gt_instances']) == (3, 1, 6)
    with pytest.raises(ValueError, match='frame 1 given after frame 1'):
        metric.update(gt, pred, sequence_id=4, frame_id=1)
    with pytest.raises(ValueError, match='sequence 4 frame 2.*semantic classes \\[27, 40\\]'):
        metric.update(gt, pred + 27 * DIV, sequence_id=4, frame_id=2)


def write_dirs(root: Path) -> Tuple[Path, Path]:
    """KITTI-STEP GT and 'knet' results: sequence 0 = the merged frame then the split frame,
    sequence 3 = the correct frame. Expected: seq 0 merged 1 of 3 segments, split 1 of 3
    instances; seq 3 0 of 2, 0 of 2; total 1 of 5, 1 of 5."""
    gt_dir, results = root / 'gt', root / 'results'
    gt_dir.mkdir()
    frames = {0: [(CARS_INST, ONE_SEGMENT), (ONE_CAR_INST, PER_CAR)], 3: [(CARS_INST, PER_CAR)]}
    for seq, pairs in frames.items():
        for frame, (gt_inst, pred_inst) in enumerate(pairs):
            write_gt_png(gt_dir / f'{seq:06d}_{frame:06d}_panoptic.png', CARS_SEM * DIV + gt_inst)
            pred_sem = np.where(CARS_SEM == ROAD, VOID, CARS_SEM)  # road left unpredicted
            write_result_pngs(results / 'panoptic' / str(seq), seq, frame,
                              pred_sem * DIV + pred_inst)
    return results, gt_dir


def run_tool(argv: list, monkeypatch) -> None:
    """Run the tool as a script (its ``run_tool`` error handling included)."""
    monkeypatch.setattr(sys, 'argv', [str(TOOL)] + argv)
    runpy.run_path(str(TOOL), run_name='__main__')


def test_command_line_end_to_end(tmp_path, capsys, monkeypatch):
    results, gt_dir = write_dirs(tmp_path)
    write_manifest(str(results), MANIFEST)
    out = tmp_path / 'merge.json'
    run_tool([str(results), '--gt-dir', str(gt_dir), '--json', str(out), '--workers', '2',
              '--no-progress'], monkeypatch)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == ('merged 1 of 5 predicted thing segments (20.0 %), split 1 of 5 GT '
                         'instances (20.0 %)')
    assert lines[-2].startswith('results: config configs/toy/video-knet_r18_toy.py (3fa2c1d0)')
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in
            (['0'], ['3'], ['total'])}
    assert rows['0'] == ['0', '2', '3', '1', '33.3', '3', '1', '33.3']
    assert rows['3'] == ['3', '1', '2', '0', '0.0', '2', '0', '0.0']
    assert rows['total'] == ['total', '3', '5', '1', '20.0', '5', '1', '20.0']
    data = json.loads(out.read_text())
    assert (data['merged'], data['pred_segments'], data['split'], data['gt_instances']) == (
        1, 5, 1, 5)
    assert data['merge_rate'] == pytest.approx(0.2) and data['split_rate'] == pytest.approx(0.2)
    assert data['per_sequence']['0']['merge_rate'] == pytest.approx(1 / 3)
    assert data['per_sequence']['3'] == dict(num_frames=1, pred_segments=2, merged=0,
                                             gt_instances=2, split=0, merge_rate=0.0,
                                             split_rate=0.0)
    assert (data['thing_ids'], data['min_overlap'], data['min_area'], data['num_frames'],
            data['dataset']) == ([11, 13], 0.5, 0, 3, 'kitti-step')
    # The API gives the same figures; --min-area 5 ignores the 4-pixel cars.
    assert merge_rate(str(results), str(gt_dir))['merge_rate'] == pytest.approx(0.2)
    assert merge_rate(str(results), str(gt_dir), min_area=5)['gt_instances'] == 1  # the 8 px car


def test_command_line_errors(tmp_path, capsys, monkeypatch):
    results, gt_dir = write_dirs(tmp_path)
    base = [str(results), '--gt-dir', str(gt_dir), '--workers', '1', '--no-progress']
    # A failing JSON write is an error after the figures.
    blocker = tmp_path / 'blocker'
    blocker.write_text('a file where a folder should be')
    with pytest.raises(SystemExit) as info:
        run_tool(base + ['--json', str(blocker / 'x.json')], monkeypatch)
    assert str(info.value.code).startswith(f'error: cannot write {blocker / "x.json"}')
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith('merged 1 of 5') and printed[-2] == 'results: no manifest'
    # A size-mismatched prediction names its file.
    small = CARS_SEM[:, :5] * DIV
    write_result_pngs(results / 'panoptic' / '3', 3, 0, small)
    with pytest.raises(SystemExit) as info:
        run_tool(base, monkeypatch)
    assert '000003_000000_cat.png is 5x4 but the ground truth' in str(info.value.code)
    # A frame without a result names it.
    for kind in ('cat', 'ins'):
        (results / 'panoptic' / '3' / f'000003_000000_{kind}.png').unlink()
    with pytest.raises(ValueError, match='have no result .*seq 3 frame 0'):
        merge_rate(str(results), str(gt_dir))
    with pytest.raises(SystemExit) as info:
        run_tool(base + ['--min-overlap', '0'], monkeypatch)
    assert info.value.code == 2 and 'must be in (0, 1]' in capsys.readouterr().err


def test_import_and_help_stay_light():
    """``import vseg.metrics`` needs NumPy only; the tool adds OpenCV, never torch."""
    code = ('import sys, runpy; import vseg.metrics; '
            'assert not {"cv2", "torch", "mmengine", "knet", "video_knet"} & set(sys.modules); '
            'import vseg.metrics.merge_rate as m; m.build_parser(); '
            'assert not {"torch", "mmengine", "knet", "video_knet"} & set(sys.modules); '
            f'sys.argv = ["x", "--help"]; runpy.run_path({str(TOOL)!r}, run_name="__main__")')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert '--min-overlap' in done.stdout and '--min-area' in done.stdout
