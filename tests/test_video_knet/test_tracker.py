"""Quasi-dense tracker over a few frames of hand-made embeddings."""
import pytest
import torch

from knet.registry import TASK_UTILS
from video_knet.models.trackers import (
    EMPTY_MASK_BOX,
    QuasiDenseTracker,
    bbox_overlaps,
    masks_to_boxes,
)

DIM = 4


def _embed(k, scale=5.0, dim=DIM):
    embed = torch.zeros(dim)
    embed[k] = scale
    return embed


def _box(slot):
    """Disjoint 10x10 boxes far apart, one per slot."""
    return torch.tensor([20. * slot, 0., 20. * slot + 10., 10.])


def _dets(*dets):
    """dets: (score, label, embed, box) tuples -> update() keyword arguments."""
    if not dets:
        return dict(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                    labels=torch.zeros(0, dtype=torch.long), embeds=torch.zeros(0, DIM))
    scores, labels, embeds, boxes = zip(*dets)
    return dict(bboxes=torch.stack(boxes), scores=torch.tensor(scores),
                labels=torch.tensor(labels), embeds=torch.stack(embeds))


def test_new_ids_follow_score_order_and_caller_order_is_kept():
    tracker = TASK_UTILS.build(dict(type='QuasiDenseTracker'))
    # B (0.8) is given before A (0.9): A gets id 0, B id 1, returned in the caller's order
    ids = tracker.update(0, **_dets((0.8, 1, _embed(1), _box(1)), (0.9, 0, _embed(0), _box(0))))
    assert ids.tolist() == [1, 0]
    tracker.reset()
    assert tracker.update(0, **_dets((0.8, 1, _embed(1), _box(1)))).tolist() == [0]


def test_matching_across_frames_and_new_object():
    tracker = QuasiDenseTracker()
    a, b, c = (0.9, 0, _embed(0), _box(0)), (0.8, 1, _embed(1), _box(1)), \
        (0.7, 0, _embed(2), _box(2))
    assert tracker.update(0, **_dets(a, b)).tolist() == [0, 1]
    # C matches nothing: its bisoftmax score with track 0 is ~(1/2 + 0) / 2 = 0.25 < 0.5
    assert tracker.update(1, **_dets(c, b, a)).tolist() == [2, 1, 0]
    assert tracker.update(2, **_dets(a, b, c)).tolist() == [0, 1, 2]
    assert tracker.num_tracklets == 3


def test_embedding_momentum_update():
    tracker = QuasiDenseTracker()
    tracker.update(0, **_dets((0.9, 0, torch.tensor([5., 0., 0., 0.]), _box(0))))
    ids = tracker.update(1, **_dets((0.9, 0, torch.tensor([4., 3., 0., 0.]), _box(0))))
    assert ids.tolist() == [0]
    # 0.2 * old + 0.8 * new
    assert torch.allclose(tracker.tracklets[0].embed, torch.tensor([4.2, 2.4, 0., 0.]))
    assert tracker.tracklets[0].last_frame == 1


def test_low_score_new_detection_gets_no_id_and_becomes_backdrop():
    tracker = QuasiDenseTracker()
    assert tracker.update(0, **_dets((0.3, 0, _embed(0), _box(0)))).tolist() == [-1]
    assert tracker.num_tracklets == 0
    assert tracker.memory_size() == (0, 1)


def test_removed_duplicate_keeps_caller_order():
    tracker = QuasiDenseTracker()
    dup = (0.85, 0, _embed(0), torch.tensor([0., 0., 10., 9.]))  # IoU 0.9 with the next one
    best = (0.9, 0, _embed(0), torch.tensor([0., 0., 10., 10.]))
    other = (0.8, 1, _embed(1), _box(3))
    # the reference would hand ids (0, 1) to (dup, best) and none to `other`
    assert tracker.update(0, **_dets(dup, best, other)).tolist() == [-1, 0, 1]


def test_duplicate_thresholds_depend_on_score():
    tracker = QuasiDenseTracker()
    boxes = torch.tensor([[0., 0., 10., 10.], [5., 0., 15., 10.], [5., 0., 15., 10.]])
    # sorted scores 0.9, 0.8, 0.2; IoU(0, 1) = IoU(0, 2) = 1/3, IoU(1, 2) = 1:
    # box 1 (score >= 0.3) is kept at 1/3 <= 0.7, box 2 (score < 0.3) is dropped at 1/3 > 0.3
    keep = tracker._non_duplicates(boxes, torch.tensor([0.9, 0.8, 0.2]))
    assert keep.tolist() == [True, True, False]


def test_low_score_match_is_suppressed_not_backdrop():
    tracker = QuasiDenseTracker()
    tracker.update(0, **_dets((0.9, 0, _embed(0), _box(0))))
    # a 0.25 detection matching track 0 with confidence 1 > 0.5: suppressed duplicate
    assert tracker.update(1, **_dets((0.25, 0, _embed(0), _box(3)))).tolist() == [-1]
    assert tracker.memory_size() == (1, 0)
    # an unmatched low-score detection (other label) becomes a backdrop instead. (With a single
    # memory entry of its label, bisoftmax would give it score 1 whatever the embeddings.)
    assert tracker.update(2, **_dets((0.25, 1, _embed(3), _box(3)))).tolist() == [-1]
    assert tracker.memory_size() == (1, 1)


def test_backdrop_prevents_a_match():
    def run(memo_backdrop_frames):
        tracker = QuasiDenseTracker(memo_backdrop_frames=memo_backdrop_frames)
        tracker.update(0, **_dets((0.9, 0, _embed(2), _box(0))))
        tracker.update(1, **_dets((0.9, 0, _embed(2), _box(0)), (0.2, 0, _embed(3), _box(3))))
        # similarities (10, 15) with (track 0, backdrop): the backdrop wins -> no match
        return tracker.update(2, **_dets((0.9, 0, torch.tensor([0., 0., 2., 3.]), _box(5))))
    assert run(1).tolist() == [1]
    assert run(0).tolist() == [0]


def test_tracklet_expiry_after_memo_frames():
    a = (0.9, 0, _embed(0), _box(0))
    tracker = QuasiDenseTracker()
    tracker.update(0, **_dets(a))
    for frame in range(1, 5):
        tracker.update(frame, **_dets())
    # last seen at 0: still matchable at frame 5, deleted after it (5 - 0 >= 5)
    assert tracker.update(5, **_dets(a)).tolist() == [0]
    expired = QuasiDenseTracker()
    expired.update(0, **_dets(a))
    for frame in range(1, 6):
        expired.update(frame, **_dets())
    assert expired.memory_size() == (0, 0)
    assert expired.update(6, **_dets(a)).tolist() == [1]


def test_memory_stays_bounded():
    tracker = QuasiDenseTracker()
    dim = 64
    for frame in range(20):
        dets = [(0.9, 0, _embed(3 * frame + k, dim=dim), _box(k)) for k in range(3)]
        dets.append((0.2, 0, _embed(63, dim=dim), _box(4)))
        scores, labels, embeds, boxes = zip(*dets)
        ids = tracker.update(frame, torch.stack(boxes), torch.tensor(scores),
                             torch.tensor(labels), torch.stack(embeds))
        assert ids.tolist() == [3 * frame, 3 * frame + 1, 3 * frame + 2, -1]
    # only the tracks of frames 15..19 survive; one backdrop frame with one entry
    assert tracker.memory_size() == (15, 1)
    assert len(tracker.backdrops) == 1


def test_cosine_metric_and_categories():
    tracker = QuasiDenseTracker(match_metric='cosine')
    tracker.update(0, **_dets((0.9, 0, _embed(0), _box(0))))
    near = (0.9, 0, torch.tensor([0.9, 0.1, 0., 0.]), _box(0))
    far = (0.8, 0, _embed(1), _box(2))
    assert tracker.update(1, **_dets(near, far)).tolist() == [0, 1]
    # same embedding, other label: no match with with_cats=True
    assert tracker.update(2, **_dets((0.9, 1, _embed(0), _box(0)))).tolist() == [2]
    with pytest.raises(ValueError):
        QuasiDenseTracker(match_metric='l1')


def test_bbox_overlaps_and_masks_to_boxes():
    others = torch.tensor([[5., 0., 15., 10.], [0., 0., 10., 10.], [20., 20., 30., 30.]])
    ious = bbox_overlaps(torch.tensor([[0., 0., 10., 10.]]), others)
    assert ious.tolist()[0] == pytest.approx([50 / 150, 1.0, 0.0])
    masks = torch.zeros(2, 4, 5, dtype=torch.bool)
    masks[0, 1, 2] = True
    masks[0, 3, 0] = True
    boxes = masks_to_boxes(masks)
    assert boxes.tolist() == [[0., 1., 2., 3.], list(EMPTY_MASK_BOX)]
