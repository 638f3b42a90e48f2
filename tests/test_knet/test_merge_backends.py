"""The merge backends ('dense', 'blocked'), their option and the merge settings of ``test_cfg``."""
import inspect
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import knet  # noqa: F401  (registers the modules)
from knet.models.postprocess import (
    MERGE_BACKENDS,
    BlockedMerge,
    DenseMerge,
    MergeSettings,
    UpsampledMasks,
    blocked_merge_things_stuff,
    build_merge_backend,
    merge_things_stuff,
    rescale_masks,
)
from knet.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
META = dict(batch_input_shape=(32, 64), img_shape=(30, 60), ori_shape=(30, 60))


def _tiny(**test_cfg):
    """The tiny K-Net (16 thing + 17 stuff kernels, 2 thing classes) with only these options."""
    cfg = Config.fromfile(str(CONFIGS / 'tiny' / 'knet_tiny.py'))
    cfg.model.test_cfg = test_cfg
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def model():
    return _tiny(instance_score_thr=0.0, overlap_thr=0.0)


def _frame(seed):
    """Random final-stage outputs of one frame: (33, 19) class logits, (33, 16, 32) masks."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(33, 19, generator=gen), torch.randn(33, 16, 32, generator=gen) * 4


def _same(result, expected):
    return all(torch.equal(getattr(result, name), getattr(expected, name)) for name in
               ('semantic', 'instance', 'thing_masks', 'thing_labels', 'thing_scores',
                'thing_kernel_inds', 'stuff_labels', 'stuff_masks', 'stuff_scores'))


def test_build_merge_backend():
    assert set(MERGE_BACKENDS) == {'dense', 'blocked'}
    assert isinstance(build_merge_backend('dense'), DenseMerge)
    assert isinstance(build_merge_backend('blocked'), BlockedMerge)
    with pytest.raises(ValueError, match=r"merge_backend must be one of \('dense', 'blocked'\), "
                                         r"got 'sparse'"):
        build_merge_backend('sparse')


def test_every_merge_setting_has_one_default():
    """The functions and the detector take their defaults from MergeSettings, nowhere else."""
    for merge in (merge_things_stuff, blocked_merge_things_stuff):
        assert inspect.signature(merge).parameters['settings'].default == MergeSettings()
    defaults = asdict(MergeSettings())
    assert defaults == dict(instance_score_thr=0.3, overlap_thr=0.6, mask_thr=0.5,
                            max_per_img=100, merge_order='joint', merge_backend='dense',
                            unassigned_fill='argmax')
    built = _tiny()
    assert {key: built.test_cfg[key] for key in defaults} == defaults
    assert built.merge_settings() == MergeSettings()
    assert not hasattr(built, '_mask_probs') and not hasattr(built, '_probs_buffer')


def test_unknown_test_cfg_keys_are_named():
    with pytest.raises(KeyError, match=r"'instance_score_thrr' \(did you mean "
                                       r"'instance_score_thr'\?\)"):
        _tiny(instance_score_thrr=0.2)
    with pytest.raises(KeyError, match="'bogus'"):
        MergeSettings.from_test_cfg(dict(overlap_thr=0.5, bogus=1))
    assert MergeSettings.from_test_cfg(dict(overlap_thr=0.5, extra=1), other_keys=['extra']) == \
        MergeSettings(overlap_thr=0.5)
    with pytest.raises(ValueError, match='merge_order must be one of'):
        MergeSettings(merge_order='random')
    with pytest.raises(ValueError, match="got 'sparse'"):
        _tiny(merge_backend='sparse')


def test_typo_after_construction_fails_at_the_next_merge(model, monkeypatch):
    monkeypatch.setattr(model, 'test_cfg', dict(model.test_cfg, mask_thr_=0.4))
    with pytest.raises(KeyError, match="'mask_thr_'"):
        model.merge_frame(*_frame(0), META)


@pytest.mark.parametrize('order', ['joint', 'things_first', 'stuff_first'])
def test_backends_give_the_same_frames(model, monkeypatch, order):
    results = {}
    for name in ('dense', 'blocked'):
        monkeypatch.setattr(model, 'test_cfg', dict(model.test_cfg, merge_backend=name,
                                                    merge_order=order))
        assert model.merge_backend.name == name  # the option is read at every frame
        results[name] = [model.merge_frame(*_frame(seed), META) for seed in range(3)]
    assert all(len(r.thing_labels) + len(r.stuff_labels) > 0 for r in results['dense'])
    for dense, blocked in zip(results['dense'], results['blocked']):
        assert _same(blocked, dense)
    masks = model.rescale_masks(_frame(0)[1], META)  # the blocked backend's lazy masks
    assert isinstance(masks, UpsampledMasks) and masks.shape == (33, 30, 60)


def test_dense_backend_is_the_definition(model, monkeypatch):
    monkeypatch.setattr(model, 'test_cfg', dict(model.test_cfg, merge_backend='dense'))
    cls_logits, mask_logits = _frame(4)
    masks = model.rescale_masks(mask_logits, META)
    assert torch.equal(masks, rescale_masks(mask_logits, META))
    expected = merge_things_stuff(cls_logits.sigmoid(), masks, 16, 2, model.merge_settings())
    assert _same(model.merge_frame(cls_logits, mask_logits, META), expected)


def test_blocked_backend_reuses_its_buffer_without_aliasing_results():
    backend = BlockedMerge()
    settings = MergeSettings(instance_score_thr=0.0, overlap_thr=0.0)
    (cls_a, logits_a), (cls_b, logits_b) = _frame(1), _frame(2)
    plain = [merge_things_stuff(c.sigmoid(), rescale_masks(m, META), 16, 2, settings)
             for c, m in ((cls_a, logits_a), (cls_b, logits_b))]

    def merge(cls_logits, mask_logits, meta=META):
        masks = backend.rescale(mask_logits, meta)
        return backend.merge(cls_logits.sigmoid(), masks, 16, 2, settings)

    first = merge(cls_a, logits_a)
    buffer = backend._probs
    first_semantic = first.semantic.clone()
    second = merge(cls_b, logits_b)
    assert backend._probs is buffer  # same shape: reused, not reallocated
    assert torch.equal(first.semantic, first_semantic)  # results do not live in the buffer
    assert _same(first, plain[0]) and _same(second, plain[1])
    merge(cls_a, logits_a[:, :8], dict(batch_input_shape=(16, 64), img_shape=(15, 60),
                                       ori_shape=(15, 60)))
    assert backend._probs.shape == (33, 8, 32)  # another shape: a new buffer
    with torch.inference_mode():
        assert _same(merge(cls_a, logits_a), plain[0])
    with torch.no_grad():  # an inference-mode buffer cannot be written here: a new one
        assert _same(merge(cls_a, logits_a), plain[0])


def test_merge_frame_accepts_logits_with_autograd(model, monkeypatch):
    cls_logits, mask_logits = _frame(3)
    for name in ('dense', 'blocked'):
        monkeypatch.setattr(model, 'test_cfg', dict(model.test_cfg, merge_backend=name))
        graded = model.merge_frame(cls_logits, mask_logits.clone().requires_grad_(), META)
        assert not graded.semantic.requires_grad
        assert _same(graded, model.merge_frame(cls_logits, mask_logits, META))
