"""The compatibility switches (knet.compat, docs/compatibility.md): one group, ``test_cfg.compat``.

Unit behaviour of the option group (defaults, the ``'original'`` preset, errors naming the valid
spellings, switches that must be bools), then its effect in the detectors: the Video K-Net's
semantic thing filter and track ids, switched by name or by the preset, and the unassigned
pixels, which are the option ``test_cfg.unassigned_fill`` (the former switch
``unassigned_class_zero`` is an error naming it).
"""
import logging
from types import SimpleNamespace

import pytest
import torch
from helpers import REPO
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import video_knet  # noqa: F401  (registers the modules)
from knet.compat import (
    COMPAT_SWITCHES,
    ORIGINAL,
    check_renamed_keys,
    compat_enabled,
    compat_switches,
)
from knet.registry import MODELS

OFF = dict(padded_semantic_filter=False, shifted_track_ids=False)


def test_defaults_preset_and_named_switches() -> None:
    assert set(COMPAT_SWITCHES) == set(OFF)
    assert compat_switches({}) == OFF
    assert compat_switches(dict(compat=None)) == OFF
    assert compat_switches(dict(compat={})) == OFF
    assert compat_switches(dict(compat=ORIGINAL)) == dict.fromkeys(OFF, True)
    assert compat_switches(dict(compat=dict(shifted_track_ids=True))) == dict(
        OFF, shifted_track_ids=True)
    assert compat_enabled(dict(compat=dict(shifted_track_ids=True)), 'shifted_track_ids')
    assert not compat_enabled(dict(compat=dict(shifted_track_ids=True)),
                              'padded_semantic_filter')


def test_errors_name_the_valid_spelling() -> None:
    with pytest.raises(KeyError, match=r"test_cfg\.legacy -> test_cfg\.unassigned_fill='legacy'"):
        compat_switches(dict(legacy=True))
    with pytest.raises(KeyError, match='padded_semantic_filter=True, shifted_track_ids=True'):
        check_renamed_keys(dict(legacy_tracking=False))
    for value in (True, False):  # the former switch names the option that replaced it
        with pytest.raises(KeyError, match=r"compat\.unassigned_class_zero -> test_cfg\."
                                           r"unassigned_fill='legacy' .*'void'"):
            compat_switches(dict(compat=dict(unassigned_class_zero=value)))
    with pytest.raises(KeyError, match=r"unknown test_cfg.compat key\(s\) 'shifted_trackids' "
                                       r"\(did you mean 'shifted_track_ids'\?\); known keys: "
                                       r"padded_semantic_filter, shifted_track_ids"):
        compat_switches(dict(compat=dict(shifted_trackids=True)))
    for value in (1, 'yes', 'True', None):  # --cfg-options passes yes / True as written
        with pytest.raises(TypeError, match='test_cfg.compat.shifted_track_ids must be True '
                                            f'or False, got {value!r}'):
            compat_switches(dict(compat=dict(shifted_track_ids=value)))
    with pytest.raises(TypeError, match="'original'"):
        compat_switches(dict(compat='legacy'))
    with pytest.raises(KeyError, match='unknown compatibility switch'):
        compat_enabled({}, 'legacy')
    check_renamed_keys(dict(compat=ORIGINAL))  # the new spelling passes


def _build(config: str) -> torch.nn.Module:
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    init_default_scope('knet')
    return MODELS.build(Config.fromfile(str(REPO / 'configs' / config)).model)


def test_unassigned_pixels_follow_the_fill_option_not_the_switches() -> None:
    model = _build('tiny/knet_tiny.py')
    # model labels; C = model.num_classes marks the pixels no kept segment won
    labels = torch.tensor([0, 1, model.num_classes])
    expected = [model.class_ids[0], model.class_ids[1]]
    assert model.test_cfg['unassigned_fill'] == 'argmax'  # the default (measured best)
    for compat in (None, ORIGINAL, dict(shifted_track_ids=True)):
        model.test_cfg = dict(model.test_cfg, compat=compat, unassigned_fill='legacy')
        assert model.to_dataset_ids(labels).tolist() == expected + [0]
        # 'argmax' leaves C only where the merge had no candidate: no class to give
        for fill in ('void', 'argmax'):
            model.test_cfg = dict(model.test_cfg, unassigned_fill=fill)
            assert model.to_dataset_ids(labels).tolist() == expected + [255]


def test_semantic_filter_of_the_padded_map_only_when_switched() -> None:
    model = _build('tiny/video-knet_tiny.py')
    assert compat_switches(model.test_cfg) == OFF  # the fixes are the default
    # Padded input 16x16 (stride-8 logits 2x2), image 12x8 (left half), original 24x16.
    logits = torch.full((19, 2, 2), -5.)
    logits[0, :, 0] = 5.   # thing class 0 on the left column
    logits[5, :, 1] = 5.   # a stuff class on the right column (padding)
    meta = dict(batch_input_shape=(16, 16), img_shape=(12, 8), ori_shape=(24, 16))
    assert model.semantic_thing_map(logits, meta).all()
    for compat in (dict(padded_semantic_filter=True), ORIGINAL):
        model.test_cfg = dict(model.test_cfg, compat=compat)
        thing = model.semantic_thing_map(logits, meta)  # the padding column is stretched
        assert thing[:, :8].all() and not thing[:, 8:].any()


def test_shifted_track_ids_only_when_switched(monkeypatch) -> None:
    model = _build('tiny/video-knet_tiny.py')
    seg_preds = torch.full((1, 19, 2, 2), -5.)
    seg_preds[0, 0] = 5.  # every pixel is a thing: the semantic filter keeps the masks
    masks = torch.zeros(3, 16, 16, dtype=torch.bool)
    masks[0, :8, :8] = masks[1, :8, :8] = True  # segments 0 and 1 have the same box
    masks[2, 8:, 8:] = True
    result = SimpleNamespace(thing_masks=masks, thing_kernel_inds=torch.tensor([0, 1, 2]),
                             thing_scores=torch.tensor([0.9, 0.8, 0.7]),
                             thing_labels=torch.tensor([0, 1, 0]))
    out = SimpleNamespace(obj_feat=torch.zeros(1, model.rpn_head.num_proposals, 64, 1, 1),
                          obj_feat_track=None, seg_preds=seg_preds)
    meta = dict(batch_input_shape=(16, 16), img_shape=(16, 16), ori_shape=(16, 16))
    # The tracker gives the duplicate (segment 1) no id, in segment order.
    monkeypatch.setattr(model.tracker, 'update', lambda *_: torch.tensor([3, -1, 5]))
    assert model.track_segments(out, result, meta, 0).tolist() == [3, -1, 5]
    for compat in (dict(shifted_track_ids=True), ORIGINAL):
        model.test_cfg = dict(model.test_cfg, compat=compat)
        # the original hands the kept ids [3, 5] to the first two segments
        assert model.track_segments(out, result, meta, 0).tolist() == [3, 5, -1]


def test_former_keys_fail_when_the_model_is_built() -> None:
    cfg = Config.fromfile(str(REPO / 'configs' / 'tiny' / 'video-knet_tiny.py'))
    for key, new in (('legacy', "unassigned_fill='legacy'"),
                     ('legacy_tracking', 'compat=dict.*shifted_track_ids')):
        cfg.model.test_cfg = dict(cfg.model.test_cfg, **{key: True})
        with pytest.raises(KeyError, match=f'test_cfg.{key} -> test_cfg.{new}'):
            MODELS.build(cfg.model)
        del cfg.model.test_cfg[key]
    test_cfg = cfg.model.test_cfg
    cfg.model.test_cfg = dict(test_cfg, compat=dict(test_cfg.compat, unassigned_class_zero=True))
    with pytest.raises(KeyError, match="unassigned_fill='legacy'"):
        MODELS.build(cfg.model)


def test_wrong_switch_value_fails_when_the_model_is_built() -> None:
    """``--cfg-options model.test_cfg.compat.shifted_track_ids=yes`` gives the string 'yes'."""
    cfg = Config.fromfile(str(REPO / 'configs' / 'tiny' / 'video-knet_tiny.py'))
    cfg.merge_from_dict({'model.test_cfg.compat.shifted_track_ids': 'yes'})
    with pytest.raises(TypeError, match="test_cfg.compat.shifted_track_ids must be True or "
                                        "False, got 'yes'"):
        MODELS.build(cfg.model)
