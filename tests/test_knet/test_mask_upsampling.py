"""Lazily upsampled masks and the blocked joint merge (backend 'blocked').

The references: one channels-last ``F.interpolate`` of the whole tensor of the same masks,
written out here, and the definition of the merge (``merge_things_stuff``, backend 'dense': an
argmax of ``score * prob`` over all K candidates with ``orig_area`` counted on the full masks).
Given the same probabilities the blocked paths must agree with them exactly (``torch.equal``);
the channels-last kernel itself is within one ulp of the NCHW one of ``rescale_masks``.
"""
import pytest
import torch
import torch.nn.functional as F

from knet.models.postprocess import (
    MergeSettings,
    UpsampledMasks,
    blocked_merge_things_stuff,
    merge_things_stuff,
    rescale_masks,
)
from knet.models.postprocess.blocked_merge import first_argmax
from knet.models.postprocess.mask_upsampling import simd_group


def _full(probs, pad_hw, img_hw, index=None):
    """One channels-last ``F.interpolate`` of the masks ``index`` (default all) padded to a
    group of 16 (the last one repeated), cropped."""
    index = torch.arange(len(probs)) if index is None else index
    group = torch.cat([index, index[-1:].repeat(-len(index) % 16)])
    channels_last = probs[group][None].contiguous(memory_format=torch.channels_last)
    return F.interpolate(channels_last, size=pad_hw, mode='bilinear',
                         align_corners=False)[0, :len(index), :img_hw[0], :img_hw[1]]


def _nchw(probs, size):
    return F.interpolate(probs[None].contiguous(), size=size, mode='bilinear',
                         align_corners=False)[0]


@pytest.mark.parametrize('factor,low_hw,img_hw', [(1, (9, 13), (9, 13)), (2, (11, 17), (21, 31)),
                                                  (4, (5, 7), (20, 26)), (8, (3, 4), (17, 30))])
def test_row_blocks_equal_the_full_resize(factor, low_hw, img_hw):
    torch.manual_seed(factor)
    logits = torch.randn(5, *low_hw) * 4
    pad_hw = (low_hw[0] * factor, low_hw[1] * factor)
    meta = dict(batch_input_shape=pad_hw, img_shape=img_hw, ori_shape=img_hw)
    masks = UpsampledMasks.from_logits(logits, meta)
    assert masks.factor == factor and masks.shape == (5, ) + img_hw
    reference = _full(logits.sigmoid(), pad_hw, img_hw)
    assert torch.equal(masks.dense(), reference)
    index = torch.tensor([4, 1, 2])
    subset = _full(logits.sigmoid(), pad_hw, img_hw, index).permute(1, 2, 0)
    for rows in (1, 2, 3, 5, 8):
        for top in range(0, img_hw[0], rows):
            block = masks.rows(index, top, top + rows)  # pixel-major (rows, W, K)
            assert torch.equal(block, subset[top:top + rows]), (rows, top)
            for left, right in ((0, 1), (1, 5), (img_hw[1] - 3, img_hw[1] + 4)):
                window = masks.rows(index, top, top + rows, left, right)
                assert torch.equal(window, subset[top:top + rows, left:right]), (top, left)


def test_blocks_cover_the_rows_asked_for():
    torch.manual_seed(1)
    masks = UpsampledMasks.from_logits(torch.randn(11, 6, 9), dict(
        batch_input_shape=(24, 36), img_shape=(23, 35), ori_shape=(23, 35)))
    index = torch.tensor([9, 0, 4])
    dense = masks.dense()[index].permute(1, 2, 0)
    for block_values in (1, 3 * 35 * 5, None):  # one row, a few rows, the device default
        blocks = list(masks.blocks(index, block_values=block_values))
        assert torch.equal(torch.cat([b for _, b in blocks]), dense)
        assert [top for top, _ in blocks] == list(range(0, 23, len(blocks[0][1])))
    group = simd_group(torch.float32)  # 3 masks are interpolated as a padded group
    window = list(masks.blocks(index, 4, 17, 2, 30, block_values=8 * group * 28))
    assert [top for top, _ in window] == [4, 12]
    assert torch.equal(torch.cat([b for _, b in window]), dense[4:17, 2:30])


@pytest.mark.parametrize('factor', [2, 4, 8])
def test_count_bounds_bracket_the_exact_counts(factor):
    gen = torch.Generator().manual_seed(factor)
    for trial in range(20):
        h, w = 2 + trial % 7, 3 + trial % 5
        logits = torch.randn(6, h, w, generator=gen) * (1 + trial % 4) * 2
        logits[0] = logits[0].round()  # logits 0: probabilities exactly 0.5
        img_hw = (h * factor - trial % factor, w * factor - (trial + 1) % factor)
        masks = UpsampledMasks.from_logits(logits, dict(batch_input_shape=(h * factor,
                                                                           w * factor),
                                                        img_shape=img_hw, ori_shape=img_hw))
        index = torch.arange(6)
        for thr in (0.5, 0.3, 0.0, 1.0):
            exact = masks.count_at_least(index, thr)
            lower, upper = masks.count_bounds(index, thr)
            assert bool((lower <= exact).all() and (exact <= upper).all()), (trial, thr)
    lower, upper = masks.count_bounds(torch.tensor([1]), 0.5)  # a 1-mask request
    assert lower <= masks.count_at_least(torch.tensor([1]), 0.5) <= upper


def test_confident_masks_need_few_exact_counts(monkeypatch):
    cls_scores, logits = _scene(0, confident=True)
    meta = dict(batch_input_shape=(48, 72), img_shape=(45, 70), ori_shape=(45, 70))
    lazy = UpsampledMasks.from_logits(logits, meta)
    expected = merge_things_stuff(cls_scores, lazy.dense(), 12, 2)
    calls = []
    count = UpsampledMasks.count_at_least
    monkeypatch.setattr(UpsampledMasks, 'count_at_least',
                        lambda self, index, thr: calls.append(len(index)) or count(self, index,
                                                                                   thr))
    _assert_same_result(blocked_merge_things_stuff(cls_scores, lazy, 12, 2), expected)
    # the candidates that win pixels are decided by the bounds, except those whose soft edges
    # (2 of the 24 x 36 cells) leave the visible fraction undecided
    assert len(calls) == 1 and calls[0] <= 3
    strict = MergeSettings(overlap_thr=0.999)
    _assert_same_result(blocked_merge_things_stuff(cls_scores, lazy, 12, 2, strict),
                        merge_things_stuff(cls_scores, lazy.dense(), 12, 2, strict))


def test_row_blocks_at_kitti_step_width():
    """117 masks at stride 2 of a 384x1248 padded 375x1242 frame, blocks of 16 rows."""
    torch.manual_seed(0)
    logits = torch.randn(117, 24, 624) * 3  # 24 of the 192 mask rows keep the test fast
    masks = UpsampledMasks.from_logits(logits, dict(batch_input_shape=(48, 1248),
                                                    img_shape=(45, 1242), ori_shape=(45, 1242)))
    index = torch.arange(0, 117, 2)
    reference = _full(logits.sigmoid(), (48, 1248), (45, 1242), index).permute(1, 2, 0)
    for top in range(0, 45, 16):
        assert torch.equal(masks.rows(index, top, top + 16), reference[top:top + 16])
    # The SIMD kernel rounds some values differently from the NCHW one, by at most one ulp.
    nchw = _nchw(logits.sigmoid()[index], (48, 1248))[:, :45, :1242].permute(1, 2, 0)
    assert torch.allclose(reference, nchw, rtol=0, atol=2 ** -23)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_a_mask_has_the_same_values_whichever_masks_come_with_it(dtype):
    """The merge counts orig_area on a subset of the masks of its argmax (SIMD lanes vs tail)."""
    torch.manual_seed(5)
    logits = (torch.randn(37, 12, 40) * 3).to(dtype)
    masks = UpsampledMasks.from_logits(logits, dict(batch_input_shape=(24, 80),
                                                    img_shape=(23, 77), ori_shape=(23, 77)))
    alone = masks.rows(torch.tensor([30]), 0, 23)[..., 0]
    for index in (torch.arange(37), torch.arange(29, 37), torch.tensor([30, 1, 2]),
                  torch.arange(30, 31).repeat(9), torch.arange(14, 31)):
        position = int(torch.nonzero(index == 30)[0])
        assert torch.equal(masks.rows(index, 0, 23)[..., position], alone)
        assert torch.equal(masks.rows(index, 5, 9, 7, 30)[..., position], alone[5:9, 7:30])


def test_channels_last_logits_give_the_contiguous_result():
    """The last stage may hand over (N, h, w) logits with N innermost (as a real model does)."""
    torch.manual_seed(3)
    logits = torch.randn(37, 64, 208) * 4
    strided = logits.permute(1, 2, 0).contiguous().permute(2, 0, 1)
    meta = dict(batch_input_shape=(128, 416), img_shape=(128, 416), ori_shape=(128, 416))
    reference = _full(logits.sigmoid(), (128, 416), (128, 416))
    masks = UpsampledMasks.from_logits(strided, meta)
    index = torch.arange(0, 37, 3)
    subset = _full(logits.sigmoid(), (128, 416), (128, 416), index).permute(1, 2, 0)
    assert torch.equal(masks.dense(), reference)
    for top in range(0, 128, 7):
        assert torch.equal(masks.rows(index, top, top + 7), subset[top:top + 7])


def test_from_logits_falls_back_to_the_full_resize():
    logits = torch.randn(3, 4, 8)
    resized = dict(batch_input_shape=(8, 16), img_shape=(6, 12), ori_shape=(3, 5))
    masks = UpsampledMasks.from_logits(logits, resized)
    up = _full(logits.sigmoid(), (8, 16), (6, 12))
    expected = _full(up, (3, 5), (3, 5))
    assert masks.factor == 1 and torch.equal(masks.dense(), expected)
    odd = UpsampledMasks.from_logits(logits, dict(batch_input_shape=(12, 24), img_shape=(12, 24),
                                                  ori_shape=(12, 24)))  # factor 3
    assert odd.factor == 1 and torch.equal(odd.dense(), _full(logits.sigmoid(), (12, 24),
                                                                (12, 24)))
    with pytest.raises(ValueError, match=r'expects probs \(N, h, w\), got \(4, 4\)'):
        blocked_merge_things_stuff(torch.rand(4, 4), torch.rand(4, 4), 2, 2)
    with pytest.raises(ValueError, match='cannot be upsampled'):
        UpsampledMasks(torch.rand(2, 4, 4), 2, (9, 8))
    with pytest.raises(KeyError, match='batch_input_shape'):
        UpsampledMasks.from_logits(logits, dict(img_shape=(6, 12), ori_shape=(6, 12)))


def _assert_same_result(result, expected):
    """Every field of two merge results is equal (values, dtypes and shapes)."""
    for name in ('semantic', 'instance', 'thing_masks', 'thing_labels', 'thing_scores',
                 'thing_kernel_inds', 'stuff_labels', 'stuff_masks', 'stuff_scores'):
        assert torch.equal(getattr(result, name), getattr(expected, name)), name


def _scene(seed, confident, low_hw=(24, 36)):
    """12 thing + 3 stuff kernels, 2 thing classes, (15, *low_hw) mask logits."""
    gen = torch.Generator().manual_seed(seed)
    cls_scores = torch.rand(15, 5, generator=gen)
    if confident:  # as a trained model: 3 stuff bands tile the image, 12 thing blobs on top
        ys, xs = torch.meshgrid(torch.arange(float(low_hw[0])), torch.arange(float(low_hw[1])),
                                indexing='ij')
        centres = torch.rand(12, 2, generator=gen) * torch.tensor(low_hw)
        radii = 2 + 8 * torch.rand(12, generator=gen)
        dist = ((ys - centres[:, :1, None]) ** 2 + (xs - centres[:, 1:, None]) ** 2).sqrt()
        edges = torch.arange(4.) * low_hw[0] / 3
        inside = torch.minimum(ys - edges[:3, None, None], edges[1:, None, None] - ys)
        signed = torch.cat([radii[:, None, None] - dist, inside])
        logits = 8 * (signed / 2).clamp(-1, 1)  # soft edges, 2 cells wide
    else:
        logits = torch.randn(15, *low_hw, generator=gen)
    return cls_scores, logits


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('confident', [False, True])
def test_blocked_merge_equals_the_definition(seed, confident):
    cls_scores, logits = _scene(seed, confident)
    meta = dict(batch_input_shape=(48, 72), img_shape=(45, 70), ori_shape=(45, 70))
    lazy = UpsampledMasks.from_logits(logits, meta)
    dense = lazy.dense()
    for overlap_thr in (0.25, 0.6):
        for score_thr in (0.25, 0.3):
            settings = MergeSettings(overlap_thr=overlap_thr, instance_score_thr=score_thr)
            expected = merge_things_stuff(cls_scores, dense, 12, 2, settings)
            for masks in (lazy, dense):
                _assert_same_result(blocked_merge_things_stuff(cls_scores, masks, 12, 2,
                                                               settings), expected)


@pytest.mark.parametrize('order', ['things_first', 'stuff_first'])
def test_blocked_paste_orders_equal_the_definition(order):
    cls_scores, logits = _scene(3, confident=True)
    meta = dict(batch_input_shape=(48, 72), img_shape=(45, 70), ori_shape=(45, 70))
    lazy = UpsampledMasks.from_logits(logits, meta)
    settings = MergeSettings(merge_order=order, overlap_thr=0.3, instance_score_thr=0.2)
    expected = merge_things_stuff(cls_scores, lazy.dense(), 12, 2, settings)
    assert expected.stuff_labels.numel() > 0  # stuff bands tile the image
    assert expected.thing_labels.numel() > 0 or order == 'stuff_first'
    _assert_same_result(blocked_merge_things_stuff(cls_scores, lazy, 12, 2, settings), expected)


def test_blocked_probabilities_are_within_one_ulp_of_the_definition():
    """The two backends' masks differ only by the rounding of two bilinear kernels."""
    cls_scores, logits = _scene(1, confident=False)
    for meta in (dict(batch_input_shape=(48, 72), img_shape=(45, 70), ori_shape=(45, 70)),
                 dict(batch_input_shape=(48, 72), img_shape=(45, 70), ori_shape=(30, 47))):
        dense = rescale_masks(logits, meta)
        lazy = UpsampledMasks.from_logits(logits, meta)
        assert dense.shape == lazy.shape
        assert torch.allclose(lazy.dense(), dense, rtol=0, atol=2 ** -23)


def test_ties_go_to_the_first_candidate():
    """Identical masks and scores: the higher-ranked candidate (lower index) wins everywhere."""
    logits = torch.randn(1, 8, 8).repeat(4, 1, 1)
    cls_scores = torch.full((4, 4), 0.01)
    cls_scores[[0, 1, 2, 3], [0, 1, 2, 3]] = 0.5
    meta = dict(batch_input_shape=(16, 16), img_shape=(16, 16), ori_shape=(16, 16))
    lazy = UpsampledMasks.from_logits(logits, meta)
    settings = MergeSettings(overlap_thr=0.)
    result = blocked_merge_things_stuff(cls_scores, lazy, 2, 2, settings)
    _assert_same_result(result, merge_things_stuff(cls_scores, lazy.dense(), 2, 2, settings))
    assert int(result.instance.max()) == 1  # thing 0 (first in the stable order) takes all


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_first_argmax_is_argmax_on_non_negative_values(dtype):
    gen = torch.Generator().manual_seed(0)
    values = (torch.rand(50, 40, generator=gen) * 4).round() / 4  # many exact ties
    values[0] = 0.0  # all zero: the first index
    values[1, 7:] = float('inf')
    values[2] = 0.0
    values[2, 5] = 1e-40  # a subnormal above zero (float32/float64; zero in the others)
    values = values.to(dtype)
    assert torch.equal(first_argmax(values), values.argmax(-1))
    assert first_argmax(values)[:2].tolist() == [0, 7]
