"""Panoptic fusion on 4x4 hand examples, by both merge backends.

Layout of every example: 2 thing kernels x 2 thing classes (model labels 0, 1) and 2 stuff
kernels (rows 2, 3) with model labels 2, 3, i.e. ``cls_scores`` is (4, 4). Every example runs
through the definition (``merge_things_stuff``, backend 'dense') and the blocked merge (backend
'blocked') and must give the hand-derived result with both.
"""
import pytest
import torch
import torch.nn.functional as F

from knet.models.postprocess import (
    MergeSettings,
    blocked_merge_things_stuff,
    merge_things_stuff,
    rescale_masks,
)

X = 4  # unassigned: the merge labels it C, the number of classes (4 in these examples)
MERGES = {'dense': merge_things_stuff, 'blocked': blocked_merge_things_stuff}


@pytest.fixture(params=sorted(MERGES))
def backend(request):
    return request.param


def _scores(entries):
    scores = torch.full((4, 4), 0.01)
    for (row, col), value in entries.items():
        scores[row, col] = value
    return scores


def _masks(*regions):
    """Four (4, 4) masks; each region is a list of (row slice, col slice, prob) boxes."""
    masks = torch.zeros(4, 4, 4)
    for k, boxes in enumerate(regions):
        for rows, cols, prob in boxes:
            masks[k, rows, cols] = prob
    return masks


def _merge(backend, scores, masks, **settings):
    """The merge with ``settings``; unassigned pixels keep the marker C (``X``) unless a test
    asks for the ``'argmax'`` fill (``'void'`` and ``'legacy'`` are mapped by the detector)."""
    settings.setdefault('unassigned_fill', 'void')
    return MERGES[backend](scores, masks, 2, 2, MergeSettings(**settings))


def test_thing_beats_stuff(backend):
    scores = _scores({(0, 1): 0.9, (0, 0): 0.05, (1, 0): 0.1, (1, 1): 0.1, (2, 2): 0.8,
                      (3, 3): 0.6})
    masks = _masks([(0, slice(0, 2), 1.)], [], [(slice(None), slice(0, 2), 1.)],
                   [(slice(None), slice(2, 4), 1.)])
    result = _merge(backend, scores, masks)
    # thing (0.9) wins (0,0),(0,1) over stuff 2 (0.8); stuff 2 keeps 6/8 >= 0.6 of its area
    assert result.semantic.tolist() == [[1, 1, 3, 3], [2, 2, 3, 3], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert result.instance.tolist() == [[1, 1, 0, 0], [0] * 4, [0] * 4, [0] * 4]
    assert result.thing_labels.tolist() == [1]
    assert result.thing_scores.tolist() == pytest.approx([0.9])
    assert result.thing_kernel_inds.tolist() == [0]
    assert torch.equal(result.thing_masks[0], result.instance == 1)
    assert result.stuff_labels.tolist() == [2, 3]
    assert result.stuff_scores.tolist() == pytest.approx([0.8, 0.6])
    assert result.semantic.dtype == torch.int64 and result.instance.dtype == torch.int64


def test_overlap_filter_removes_mostly_hidden_instance(backend):
    scores = _scores({(0, 0): 0.9, (1, 1): 0.8, (2, 2): 0.5, (3, 3): 0.5})
    masks = _masks([(slice(0, 2), slice(0, 2), 1.)], [(slice(0, 2), slice(0, 3), 1.)],
                   [(slice(2, 4), slice(None), 1.)], [(slice(0, 2), 3, 1.)])
    # kernel 1 is visible on 2 of its 6 pixels: 1/3 < 0.6 -> rejected, its pixels stay 255
    result = _merge(backend, scores, masks)
    assert result.semantic.tolist() == [[0, 0, X, 3], [0, 0, X, 3], [2] * 4, [2] * 4]
    assert result.instance.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0] * 4, [0] * 4]
    assert result.thing_kernel_inds.tolist() == [0]
    # with a lower overlap threshold it becomes the second segment (descending score order)
    relaxed = _merge(backend, scores, masks, overlap_thr=0.3)
    assert relaxed.instance.tolist() == [[1, 1, 2, 0], [1, 1, 2, 0], [0] * 4, [0] * 4]
    assert relaxed.semantic[0].tolist() == [0, 0, 1, 3]
    assert relaxed.thing_kernel_inds.tolist() == [0, 1]
    assert relaxed.thing_labels.tolist() == [0, 1]


def test_low_score_thing_wins_pixels_but_leaves_them_unassigned(backend):
    scores = _scores({(0, 0): 0.2, (2, 2): 0.15, (3, 3): 0.1})
    masks = _masks([(0, slice(None), 1.)], [], [(slice(None), slice(None), 1.)],
                   [(slice(None), slice(None), 0.5)])
    result = _merge(backend, scores, masks)
    # 0.2 * 1 > 0.15 * 1 on row 0, but 0.2 < instance_score_thr (default 0.3)
    assert result.semantic.tolist() == [[X] * 4, [2] * 4, [2] * 4, [2] * 4]
    assert int(result.instance.max()) == 0
    assert result.thing_masks.shape == (0, 4, 4)
    assert result.stuff_labels.tolist() == [2]  # stuff 3 won nothing (0.05 < 0.15)
    kept = _merge(backend, scores, masks, instance_score_thr=0.15)
    assert kept.semantic[0].tolist() == [0] * 4 and kept.instance[0].tolist() == [1] * 4


def test_stuff_uses_diagonal_scores(backend):
    # off-diagonal stuff scores are large but must be ignored: stuff j scores cls[2 + j, 2 + j]
    scores = _scores({(2, 2): 0.3, (2, 3): 0.99, (3, 2): 0.99, (3, 3): 0.6})
    masks = _masks([], [], [(slice(None), slice(None), 1.)], [(slice(None), slice(None), 1.)])
    result = _merge(backend, scores, masks)
    assert result.semantic.tolist() == [[3] * 4] * 4
    assert result.stuff_labels.tolist() == [3]
    assert result.stuff_scores.tolist() == pytest.approx([0.6])
    assert torch.equal(result.stuff_masks[0], torch.ones(4, 4, dtype=torch.bool))


def test_max_per_img_limits_thing_candidates(backend):
    scores = _scores({(0, 0): 0.9, (1, 1): 0.8, (2, 2): 0.5})
    masks = _masks([(slice(0, 2), slice(0, 2), 1.)], [(slice(0, 2), slice(2, 4), 1.)],
                   [(slice(None), slice(None), 1.)], [])
    both = _merge(backend, scores, masks)
    # stuff keeps 8 of 16 pixels: 0.5 < 0.6 -> the bottom half is unassigned
    assert both.semantic.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [X] * 4, [X] * 4]
    one = _merge(backend, scores, masks, max_per_img=1)
    assert one.semantic.tolist() == [[0, 0, 2, 2], [0, 0, 2, 2], [2] * 4, [2] * 4]
    assert one.thing_kernel_inds.tolist() == [0]


def test_orders(backend):
    scores = _scores({(0, 0): 0.9, (2, 2): 0.5, (3, 3): 0.4})
    masks = _masks([(slice(0, 2), slice(0, 2), 1.)], [], [(slice(None), slice(0, 2), 1.)],
                   [(slice(None), slice(2, 4), 1.)])
    hidden_stuff = [[0, 0, 3, 3], [0, 0, 3, 3], [X, X, 3, 3], [X, X, 3, 3]]
    assert _merge(backend, scores, masks).semantic.tolist() == hidden_stuff
    things_first = _merge(backend, scores, masks, merge_order='things_first')
    assert things_first.semantic.tolist() == hidden_stuff
    assert things_first.instance[:2, :2].tolist() == [[1, 1], [1, 1]]
    relaxed = _merge(backend, scores, masks, merge_order='things_first', overlap_thr=0.5)
    assert relaxed.semantic.tolist() == [[0, 0, 3, 3], [0, 0, 3, 3], [2, 2, 3, 3], [2, 2, 3, 3]]
    stuff_first = _merge(backend, scores, masks, merge_order='stuff_first')
    assert stuff_first.semantic.tolist() == [[2, 2, 3, 3]] * 4
    assert stuff_first.thing_masks.shape == (0, 4, 4)
    with pytest.raises(ValueError):
        _merge(backend, scores, masks, merge_order='random')


def test_invalid_shapes(backend):
    with pytest.raises(ValueError, match='cannot hold'):
        _merge(backend, torch.rand(4, 3), torch.rand(4, 4, 4))
    with pytest.raises(ValueError, match=r'expects cls_scores \(N, C\)'):
        _merge(backend, torch.rand(4, 4), torch.rand(3, 4, 4))


def test_visible_fraction_exactly_at_the_threshold_is_kept(backend):
    scores = _scores({(0, 0): 0.9, (2, 2): 0.95, (3, 3): 0.5})
    masks = _masks([(0, slice(None), 1.), (1, 0, 1.)], [], [(0, slice(0, 2), 1.)],
                   [(slice(None), slice(None), 1.)])
    # the thing covers 5 pixels and wins 3 of them (stuff 2 scores higher on two): 3/5 = 0.6
    expected = [[2, 2, 0, 0], [0, 3, 3, 3], [3] * 4, [3] * 4]
    assert _merge(backend, scores, masks).semantic.tolist() == expected
    assert _merge(backend, scores, masks, overlap_thr=0.61).semantic.tolist() == \
        [[2, 2, X, X], [X, 3, 3, 3], [3] * 4, [3] * 4]


def test_orig_area_counts_probabilities_at_least_mask_thr(backend):
    scores = _scores({(0, 0): 0.9, (2, 2): 0.95})
    masks = _masks([(0, slice(None), 1.), (1, slice(None), 0.5), (2, slice(None), 0.4)],
                   [], [(0, slice(0, 2), 1.)], [])
    # orig_area = 8 (row 2 is below 0.5); the thing wins rows 0-2 except 2 pixels: 10 / 8.
    # Row 3 is 0 for every candidate: the tie goes to the first one, stuff 2 (0.95).
    result = _merge(backend, scores, masks)
    assert result.semantic.tolist() == [[2, 2, 0, 0], [0] * 4, [0] * 4, [2] * 4]
    # with mask_thr 0.3 orig_area is 12 and 10 / 12 still passes; 0.9 does not
    assert _merge(backend, scores, masks, mask_thr=0.3).semantic[2].tolist() == [0] * 4
    assert _merge(backend, scores, masks, mask_thr=0.3, overlap_thr=0.9).thing_labels.numel() \
        == 0


def test_rescale_masks_by_hand():
    """x2 bilinear (align_corners=False) of [a, b] is [a, (3a + b) / 4, (a + 3b) / 4, b]."""
    logits = torch.tensor([[[0.0, 2.0]], [[-1.0, 1.0]]])  # (2, 1, 2)
    meta = dict(batch_input_shape=(2, 4), img_shape=(2, 3), ori_shape=(2, 3))
    probs = rescale_masks(logits, meta)
    a, b = logits.sigmoid()[..., 0], logits.sigmoid()[..., 1]
    row = torch.stack([a, (3 * a + b) / 4, (a + 3 * b) / 4], -1)  # cropped to 3 columns
    assert probs.shape == (2, 2, 3)
    assert torch.allclose(probs, row.expand(2, 2, 3), atol=1e-7)
    resized = rescale_masks(logits, dict(meta, ori_shape=(1, 6)))  # then a x2 resize of width
    expected = F.interpolate(probs[None], size=(1, 6), mode='bilinear', align_corners=False)[0]
    assert torch.equal(resized, expected)
    # the values do not depend on the memory layout of the logits (masks innermost)
    innermost = logits.permute(1, 2, 0).contiguous().permute(2, 0, 1)
    assert torch.equal(rescale_masks(innermost, meta), probs)
    with pytest.raises(KeyError, match='ori_shape'):
        rescale_masks(logits, dict(batch_input_shape=(2, 4), img_shape=(2, 3)))


@pytest.mark.parametrize('fill', ['void', 'legacy', 'argmax'])
def test_unassigned_fill_of_a_rejected_thing_winner(backend, fill):
    """Row 0 is won by a thing scoring 0.2 < instance_score_thr 0.3 (0.2 * 1 > 0.15 * 1)."""
    scores = _scores({(0, 0): 0.2, (2, 2): 0.15, (3, 3): 0.1})
    masks = _masks([(0, slice(None), 1.)], [], [(slice(None), slice(None), 1.)],
                   [(slice(None), slice(None), 0.5)])
    result = _merge(backend, scores, masks, unassigned_fill=fill)
    # 'void' and 'legacy' leave label C (the detector maps it to 255 or to dataset class 0);
    # 'argmax' gives row 0 the class of its winner, thing class 0, outside every segment
    row0 = [0] * 4 if fill == 'argmax' else [X] * 4
    assert result.semantic.tolist() == [row0, [2] * 4, [2] * 4, [2] * 4]
    assert int(result.instance.max()) == 0 and result.thing_masks.shape == (0, 4, 4)
    assert result.stuff_labels.tolist() == [2]
    assert not result.stuff_masks[0, 0].any()  # the filled row is in no segment


@pytest.mark.parametrize('fill', ['void', 'legacy', 'argmax'])
def test_unassigned_fill_of_a_rejected_stuff_winner(backend, fill):
    """Stuff 2 (0.5) wins rows 2-3, 8 of its 16 pixels: 0.5 < overlap_thr 0.6, rejected."""
    scores = _scores({(0, 0): 0.9, (1, 1): 0.8, (2, 2): 0.5})
    masks = _masks([(slice(0, 2), slice(0, 2), 1.)], [(slice(0, 2), slice(2, 4), 1.)],
                   [(slice(None), slice(None), 1.)], [])
    result = _merge(backend, scores, masks, unassigned_fill=fill)
    bottom = [2] * 4 if fill == 'argmax' else [X] * 4
    assert result.semantic.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], bottom, bottom]
    assert result.instance.tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [0] * 4, [0] * 4]
    assert result.stuff_labels.tolist() == [] and result.stuff_masks.shape == (0, 4, 4)


def test_argmax_fill_of_a_paste_order_is_the_joint_winner(backend):
    """things_first: stuff 2 keeps 4 of its 8 pixels (0.5 < 0.6); its free pixels, rows 2-3 of
    columns 0-1, have the joint winner stuff 2 (0.5 * 1 against 0 for every other mask)."""
    scores = _scores({(0, 0): 0.9, (2, 2): 0.5, (3, 3): 0.4})
    masks = _masks([(slice(0, 2), slice(0, 2), 1.)], [], [(slice(None), slice(0, 2), 1.)],
                   [(slice(None), slice(2, 4), 1.)])
    filled = _merge(backend, scores, masks, merge_order='things_first', unassigned_fill='argmax')
    assert filled.semantic.tolist() == [[0, 0, 3, 3], [0, 0, 3, 3], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert filled.stuff_labels.tolist() == [3]


def test_fill_keeps_c_when_there_is_no_candidate(backend):
    """No thing candidate (max_per_img=0) and no stuff kernel: nothing to fill with."""
    result = MERGES[backend](torch.full((2, 2), 0.9), torch.ones(2, 4, 4), 2, 2,
                             MergeSettings(max_per_img=0, unassigned_fill='argmax'))
    assert result.semantic.tolist() == [[2] * 4] * 4
