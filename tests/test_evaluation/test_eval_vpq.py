"""VPQ over k-frame windows (docs/metrics.md, "VPQ"): hand-computed windows, void rules, edge cases
and a pixel reference that concatenates the window's frames like the original tool.

Toy label space: C = 3, 0 road and 1 sky (stuff), 2 car (thing), void 255.
"""
import math

import numpy as np
import pytest
from eval_helpers import P, V, naive_vpq, random_sequences

from vseg.metrics import PanopticQuality, VideoPanopticQuality
from vseg.metrics.vpq import check_window_sizes, frame_gaps, frame_runs


def row(*ids: int) -> np.ndarray:
    return np.array([ids], dtype=np.int64)


def run(sequences: dict, window_sizes=(1, 2), num_classes: int = 3, things=(2,)) -> dict:
    metric = VideoPanopticQuality(num_classes, things, window_sizes)
    for seq, frames in sequences.items():
        for gt, pred in frames:
            metric.update(gt, pred, seq)
    return metric.result()


# Two frames, GT [road, road, car1, car1] in both; the prediction switches the car's id A -> B.
ID_SWITCH = {0: [(row(P(0), P(0), P(2, 1), P(2, 1)), row(P(0), P(0), P(2, 5), P(2, 5))),
                 (row(P(0), P(0), P(2, 1), P(2, 1)), row(P(0), P(0), P(2, 6), P(2, 6)))]}


def test_id_switch_is_free_for_k1_and_costly_for_k2():
    # k = 1: two windows, road and car matched with IoU 1 in each: PQ road = PQ car = 1,
    # sky absent (0). VPQ = 2/3, VPQ_th = 1, VPQ_st = (1 + 0)/2, mean over present = 1.
    # k = 2: one window; the car tube (4 px) vs A (2 px): IoU 2/4 = 0.5, not > 0.5, same for B
    # -> car FN 1, FP 2, PQ 0; road still 1. VPQ = 1/3, VPQ_th = 0, VPQ_st = 1/2.
    result = run(ID_SWITCH)
    k1, k2 = result['per_window'][1], result['per_window'][2]
    assert (k1['VPQ'], k1['VPQ_th'], k1['VPQ_st'], k1['VPQ_present']) == pytest.approx(
        (2 / 3, 1, 0.5, 1))
    assert k1['per_class'][2] == dict(PQ=pytest.approx(1), SQ=pytest.approx(1),
                                      RQ=pytest.approx(1), TP=2, FP=0, FN=0)
    assert (k2['VPQ'], k2['VPQ_th'], k2['VPQ_st']) == pytest.approx((1 / 3, 0, 0.5))
    assert (k2['per_class'][2]['TP'], k2['per_class'][2]['FP'], k2['per_class'][2]['FN']) == (
        0, 2, 1)
    assert (k1['num_windows'], k2['num_windows']) == (2, 1)
    # Headline = mean over the window sizes.
    assert (result['VPQ'], result['VPQ_th'], result['VPQ_st']) == pytest.approx((0.5, 0.5, 0.5))


def test_void_rules_and_no_prediction_pixels():
    # a: GT [car1, car1, void, void, void], pred [A, A, A, B, none]: IoU(car1, A) =
    #    2 / (2 + 3 - 2 - 1 on void) = 1 -> TP; B lies fully on void -> not a FP; the
    #    unpredicted pixel is no segment.
    # b: GT [road, road, void, void], pred [sky x4]: sky has 2/4 on void (not > 1/2) -> FP sky;
    #    road unmatched -> FN road.
    # c: GT [road, road, road, void], pred [road, sky, sky, sky]: IoU(road) = 1/3 -> FN road and
    #    FP road; sky 1/3 on void -> FP sky.
    # Car PQ 1; road TP 0 FN 2 FP 1 -> 0; sky FP 2 -> 0. VPQ = 1/3, th 1, st 0, present 1/3.
    sequences = {
        's1': [(row(P(2, 1), P(2, 1), V, V, V), row(P(2, 5), P(2, 5), P(2, 5), P(2, 6), V))],
        's2': [(row(P(0), P(0), V, V), row(P(1), P(1), P(1), P(1))),
               (row(P(0), P(0), P(0), V), row(P(0), P(1), P(1), P(1)))]}
    k1 = run(sequences, window_sizes=[1])['per_window'][1]
    assert (k1['VPQ'], k1['VPQ_th'], k1['VPQ_st'], k1['VPQ_present']) == pytest.approx(
        (1 / 3, 1, 0, 1 / 3))
    cls = k1['per_class']
    assert (cls[2]['TP'], cls[2]['FP'], cls[2]['FN'], cls[2]['SQ']) == (1, 0, 0,
                                                                         pytest.approx(1))
    assert (cls[0]['TP'], cls[0]['FP'], cls[0]['FN']) == (0, 1, 2)
    assert (cls[1]['TP'], cls[1]['FP'], cls[1]['FN']) == (0, 2, 0)


def test_crowd_is_an_ordinary_segment():
    # No crowd handling: GT car with instance 0 must be matched like any segment.
    gt, pred = row(P(2, 0), P(2, 0), P(0)), row(P(0), P(0), P(0))
    cls = run({0: [(gt, pred)]}, window_sizes=[1])['per_window'][1]['per_class']
    assert (cls[2]['FN'], cls[0]['FP']) == (1, 1)
    assert cls[0]['FN'] == 1  # road (1 px) vs road pred (3 px): IoU 1/3


@pytest.mark.parametrize('window', [1, 2, 3, 4])
def test_matches_concatenating_reference(window):
    for seed in range(3):
        sequences = random_sequences(seed, num_frames=5)
        result = run(sequences, window_sizes=[window], num_classes=4, things=(1, 3))
        expected = naive_vpq(sequences, 4, (1, 3), window)
        got = result['per_window'][window]
        for key in ('VPQ', 'VPQ_th', 'VPQ_st'):
            assert got[key] == pytest.approx(expected[key], abs=1e-12)
        for name in ('TP', 'FP', 'FN'):
            assert [got['per_class'][c][name] for c in range(4)] == expected[name].tolist()


def test_sequences_shorter_than_the_window():
    # The 1-frame sequence has no 2-frame window; the 2-frame one has exactly one.
    one_frame = {9: ID_SWITCH[0][:1]}
    both = {**ID_SWITCH, **one_frame}
    assert run(both)['per_window'][2] == run(ID_SWITCH)['per_window'][2]
    # Only short sequences: no window at all -> NaN (not a misleading 0); k = 1 still works.
    result = run(one_frame, window_sizes=[1, 3])
    assert math.isnan(result['per_window'][3]['VPQ']) and math.isnan(result['VPQ'])
    assert result['per_window'][3]['num_windows'] == 0
    assert result['per_window'][1]['VPQ'] == pytest.approx(2 / 3)


def test_empty_prediction_and_all_void_ground_truth():
    gt, _ = ID_SWITCH[0][0]
    empty = run({0: [(gt, np.full_like(gt, V))]}, window_sizes=[1])['per_window'][1]
    assert empty['VPQ'] == 0.0 and empty['per_class'][2]['FN'] == 1
    assert sum(c['FP'] for c in empty['per_class'].values()) == 0
    void_gt = np.full_like(gt, V)
    result = run({0: [(void_gt, gt)]}, window_sizes=[1])['per_window'][1]
    assert result['VPQ'] == 0.0 and math.isnan(result['VPQ_present'])  # nothing counted


def test_ids_above_255_are_distinct_segments():
    # Track 256 and track 0 would collide after an 8-bit cast: here they are two segments.
    gt = row(P(2, 1), P(2, 1), P(2, 2), P(2, 2))
    pred = row(P(2, 256), P(2, 256), P(2, 0), P(2, 0))
    cls = run({0: [(gt, pred)]}, window_sizes=[1])['per_window'][1]['per_class']
    assert (cls[2]['TP'], cls[2]['FP'], cls[2]['FN']) == (2, 0, 0)


def test_invalid_arguments():
    with pytest.raises(ValueError, match='window_sizes'):
        VideoPanopticQuality(3, [2], window_sizes=[0])
    with pytest.raises(ValueError, match=r'ground truth of sequence 3'):
        VideoPanopticQuality(3, [2]).update(row(P(5)), row(P(0)), 3)


def test_frame_runs_split_at_gaps_only():
    assert frame_runs([0, 1, 2, 4, 5]) == [[0, 1, 2], [3, 4]]
    assert frame_runs([0, 5, 10, 20]) == [[0, 1, 2], [3]]  # annotated every 5th: 15 missing
    assert frame_runs([7]) == [[0]] and frame_runs([]) == []
    assert frame_gaps([0, 1, 2, 4, 5]) == [(2, 4)] and frame_gaps([3, 4, 5]) == []


def test_windows_do_not_span_a_frame_gap():
    # Frames 0, 1, 3 of one sequence (frame 2 missing): as two sequences [0, 1] and [3].
    frames = ID_SWITCH[0] + [ID_SWITCH[0][0]]
    metric = VideoPanopticQuality(3, [2], (1, 2))
    for frame_id, (gt, pred) in zip((0, 1, 3), frames):
        metric.update(gt, pred, 'a', frame_id)
    split = run({'a1': frames[:2], 'a2': frames[2:]})
    assert metric.result() == split
    assert metric.result()['per_window'][2]['num_windows'] == 1  # not 2: no window over the gap
    with pytest.raises(ValueError, match='sequence a: frame 3 given after frame 3'):
        metric.update(*frames[0], 'a', 3)
    image_pq = PanopticQuality(3, [2])
    image_pq.update(*frames[0], 'a', 3)
    with pytest.raises(ValueError, match='sequence a: frame 2 given after frame 3'):
        image_pq.update(*frames[0], 'a', 2)  # a frame given twice would count twice


def test_window_longer_than_every_sequence_is_an_error():
    check_window_sizes([1, 2], {0: [0, 1], 1: [0, 1, 3]})
    with pytest.raises(ValueError, match='window size 3 10 is longer than every sequence '
                                         r'\(the longest has 2 consecutive frames\)'):
        check_window_sizes([1, 3, 10], {0: [0, 1], 1: [0, 1, 3, 4]})
