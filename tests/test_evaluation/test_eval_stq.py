"""STQ (docs/metrics.md, "STQ"): hand-computed sequences, legacy mode, edge cases, pixel reference.

Toy label space used by the hand examples: C = 3 classes, 0 road and 1 sky (stuff), 2 car
(thing), void 255 (confusion index 3). ``P(c, i)`` is the panoptic id ``c * 65536 + i``.
"""
import math

import numpy as np
import pytest
from eval_helpers import P, V, naive_stq, random_sequences

from vseg.metrics import STQuality, count_pairs


def row(*ids: int) -> np.ndarray:
    return np.array([ids], dtype=np.int64)


# Sequence A (two 1x6 frames):
#   frame 0  GT  [road, road, car1, car1, car-crowd, void]   pred [road, sky, A, A, A, A]
#   frame 1  GT  [road, sky,  car1, car1, car2,      void]   pred [road, sky, A, B, B, void]
SEQ_A = [
    (row(P(0), P(0), P(2, 1), P(2, 1), P(2, 0), V),
     row(P(0), P(1), P(2, 5), P(2, 5), P(2, 5), P(2, 5))),
    (row(P(0), P(1), P(2, 1), P(2, 1), P(2, 2), V),
     row(P(0), P(1), P(2, 5), P(2, 6), P(2, 6), V)),
]
# Sequence B (one 1x4 frame): GT [sky, sky, car7, car7], pred [sky, void, car9, road].
SEQ_B = [(row(P(1), P(1), P(2, 7), P(2, 7)), row(P(1), V, P(2, 9), P(0)))]


def run(sequences: dict, num_classes: int = 3, things=(2,), **kwargs) -> dict:
    metric = STQuality(num_classes, things, **kwargs)
    for seq, frames in sequences.items():
        for gt, pred in frames:
            metric.update(gt, pred, seq)
    return metric.result()


def test_single_sequence_by_hand():
    # Confusion without the GT-void row: road->road 2, road->sky 1, sky->sky 1, car->car 6 (the
    # crowd pixel counts for SQ). IoU road 2/3, sky 1/(1+2-1) = 1/2, car 1, void: no union.
    # SQ = (2/3 + 1/2 + 1) / 3 = 13/18.
    # Tubes: car1 |g| = 4, car2 |g| = 1. Predicted tubes (crowd pixel removed, GT-void pixel
    # kept): A = 3 + 1 = 4 px, B = 2 px. TPA(car1, A) = 3, TPA(car1, B) = 1, TPA(car2, B) = 1.
    # AQ(car1) = (3 * 3/(4+4-3) + 1 * 1/(4+2-1)) / 4 = 1/2; AQ(car2) = 1 * 1/(1+2-1) = 1/2.
    # AQ = 1/2, STQ = sqrt(13/36).
    result = run({'A': SEQ_A})
    assert result['SQ'] == pytest.approx(13 / 18)
    assert result['AQ'] == pytest.approx(0.5)
    assert result['STQ'] == pytest.approx(math.sqrt(13 / 36))
    assert result['per_class_iou'] == pytest.approx({0: 2 / 3, 1: 0.5, 2: 1.0, 255: math.nan},
                                                    nan_ok=True)
    assert result['per_sequence']['A']['num_tubes'] == 2
    assert result['per_sequence']['A']['num_frames'] == 2


def test_two_sequences_pool_and_predicted_void_counts_as_zero_iou():
    # Adding B: rows road [2, 1, 0, 0], sky [0, 2, 0, 1], car [1, 0, 7, 0]; columns road 3,
    # sky 3, car 7, void 1. IoU road 2/4, sky 2/4, car 7/8, void 0/1 (predicting void on a
    # valid pixel adds a zero term). SQ = (1/2 + 1/2 + 7/8 + 0) / 4 = 15/32.
    # B's tube car7 (2 px) vs car9 (1 px, TPA 1): (1 * 1/2) / 2 = 1/4.
    # AQ = (1/2 + 1/2 + 1/4) / 3 tubes = 5/12; STQ = sqrt(5/12 * 15/32).
    result = run({'A': SEQ_A, 'B': SEQ_B})
    assert result['SQ'] == pytest.approx(15 / 32)
    assert result['AQ'] == pytest.approx(5 / 12)
    assert result['STQ'] == pytest.approx(math.sqrt(5 / 12 * 15 / 32))
    assert result['per_class_iou'][255] == 0.0
    # B alone: IoU road 0/1, sky 1/2, car 1/2, void 0/1 -> SQ 1/4; AQ 1/4; STQ 1/4.
    assert result['per_sequence']['B'] == pytest.approx(
        dict(STQ=0.25, AQ=0.25, SQ=0.25, num_frames=1, num_tubes=1))
    assert result['per_sequence']['A']['AQ'] == pytest.approx(0.5)


def test_legacy_drops_gt_void_pixels():
    # Legacy: the GT-void pixel of frame 0 (predicted A) is dropped, so |A| = 3:
    # AQ(car1) = (3 * 3/(4+3-3) + 1 * 1/5) / 4 = (9/4 + 1/5) / 4 = 49/80; AQ(car2) = 1/2.
    # AQ = (49/80 + 40/80) / 2 = 89/160; SQ unchanged (the void row never counts).
    result = run({'A': SEQ_A}, legacy=True)
    assert result['AQ'] == pytest.approx(89 / 160)
    assert result['SQ'] == pytest.approx(13 / 18)


def test_legacy_counts_every_class_from_first_thing_id_as_thing():
    # C = 4 (3 = truck, stuff). GT [car1, car1, truck, road], pred [car5, car5, car5, truck].
    # Official (things {2}): |car5| = 3, TPA 2 -> AQ = (2 * 2/3) / 2 = 2/3.
    # Legacy (things {2, 3}): the GT truck pixel is crowd (thing class, instance 0) and removed
    # with car5's pixel on it -> AQ = (2 * 2/2) / 2 = 1; the predicted truck adds no GT tube.
    # SQ both: IoU road 0/1, car 2/3, truck 0/2 -> 2/9.
    seq = {0: [(row(P(2, 1), P(2, 1), P(3), P(0)), row(P(2, 5), P(2, 5), P(2, 5), P(3)))]}
    official = run(seq, num_classes=4)
    legacy = run(seq, num_classes=4, legacy=True)
    assert official['AQ'] == pytest.approx(2 / 3)
    assert legacy['AQ'] == pytest.approx(1.0)
    assert official['SQ'] == legacy['SQ'] == pytest.approx(2 / 9)
    assert STQuality(19, [11, 13], legacy=True).things.tolist() == list(range(11, 19))


@pytest.mark.parametrize('legacy', [False, True])
def test_matches_pixel_reference_on_random_sequences(legacy):
    things = [1, 3]
    for seed in range(4):
        sequences = random_sequences(seed, num_frames=4)
        result = run(sequences, num_classes=4, things=things, legacy=legacy)
        expected = naive_stq(sequences, 4, [1, 2, 3] if legacy else things, drop_gt_void=legacy)
        for key in ('STQ', 'AQ', 'SQ'):
            assert result[key] == pytest.approx(expected[key], abs=1e-12)


def test_update_pairs_equals_update_and_reset():
    metric = STQuality(3, [2])
    for gt, pred in SEQ_A:
        metric.update_pairs(count_pairs(gt, pred), 'A')
    via_pairs, via_maps = metric.result(), run({'A': SEQ_A})
    for key in ('STQ', 'AQ', 'SQ'):
        assert via_pairs[key] == via_maps[key]
    assert via_pairs['STQ'] == pytest.approx(math.sqrt(13 / 36))
    metric.reset()
    assert metric.sequence_ids == []


def test_empty_prediction_gives_zero():
    # Everything predicted void: every GT class has IoU 0, the void column too; no tube matched.
    gt, _ = SEQ_A[1]
    result = run({0: [(gt, np.full_like(gt, V))]})
    assert result['SQ'] == 0.0 and result['AQ'] == 0.0 and result['STQ'] == 0.0


def test_all_void_ground_truth_gives_nan_sq():
    # No valid GT pixel: no confusion entry survives (SQ undefined -> NaN), no tube (AQ 0).
    gt = np.full((2, 3), V)
    result = run({0: [(gt, np.full_like(gt, P(2, 1)))]})
    assert math.isnan(result['SQ']) and math.isnan(result['STQ'])
    assert result['AQ'] == 0.0


def test_one_frame_sequences_and_instance_ids_above_255():
    # Instance 256 and 0 differ (no 8-bit wrap): car256 is a tube, car0 is crowd. Prediction
    # 300 covers car256 exactly -> AQ 1; the prediction on the crowd pixel is ignored.
    gt = row(P(2, 256), P(2, 256), P(2, 0))
    pred = row(P(2, 300), P(2, 300), P(2, 300 + 256))
    result = run({0: [(gt, pred)], 1: [(gt, pred)]})
    assert result['AQ'] == 1.0 and result['SQ'] == 1.0
    assert result['per_sequence'][1]['num_tubes'] == 1


def test_invalid_ids_raise_clear_errors():
    metric = STQuality(3, [2])
    with pytest.raises(ValueError, match=r'prediction of sequence 7.*\[4\]'):
        metric.update(row(P(0)), row(P(4)), 7)
    with pytest.raises(ValueError, match='shape'):
        metric.update(row(P(0), P(0)), row(P(0)), 7)
    with pytest.raises(ValueError, match='thing_ids'):
        STQuality(3, [3])


def test_frame_numbers_tubes_span_gaps_and_repeats_are_errors():
    metric = STQuality(3, [2])
    for frame_id, (gt, pred) in zip((4, 9), SEQ_A):
        metric.update(gt, pred, 'A', frame_id)
    assert metric.result()['STQ'] == run({'A': SEQ_A})['STQ']  # a gap changes nothing
    with pytest.raises(ValueError, match='sequence A: frame 9 given after frame 9'):
        metric.update(*SEQ_A[0], 'A', 9)  # would count a frame twice
