"""Typed options: misspelt, mistyped or out-of-range model options fail when the model is built.

The mistakes of a first week: a typo in ``test_cfg`` (a threshold sweep that silently gives the
same numbers), ``--cfg-options ...=yes`` (a string), a typo deep in ``train_cfg`` (an assigner's
cost) or in the tracker config.
"""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import knet  # noqa: F401  (registers the modules)
import video_knet  # noqa: F401
from knet.models.options import check_bool, check_choice, check_keys, check_number
from knet.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'


def _cfg(name: str = 'knet_tiny.py') -> Config:
    return Config.fromfile(str(CONFIGS / 'tiny' / name))


def _build(cfg: Config):
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_check_helpers():
    assert check_number(0.25, 'x', 0, 1) == 0.25 and check_number(3, 'n', 0, integer=True) == 3
    for bad in ('0.3', True, None):
        with pytest.raises(TypeError, match=r"x must be a number, got"):
            check_number(bad, 'x', 0, 1)
    with pytest.raises(TypeError, match='n must be an integer, got 2.5'):
        check_number(2.5, 'n', integer=True)
    with pytest.raises(ValueError, match=r'x must lie in \[0, 1\], got 1.5'):
        check_number(1.5, 'x', 0, 1)
    with pytest.raises(ValueError, match=r'n must lie in \[0, inf\], got -1'):
        check_number(-1, 'n', 0, integer=True)
    assert check_bool(False, 'b') is False
    for bad in ('yes', 1, 'True'):
        with pytest.raises(TypeError, match='b must be True or False'):
            check_bool(bad, 'b')
    with pytest.raises(ValueError, match=r"must be one of \('a', 'b'\), got 'c'"):
        check_choice('c', 'k', ('a', 'b'))
    with pytest.raises(KeyError, match=r"lacks the key\(s\) sampler"):
        check_keys(dict(assigner=1), ('assigner', 'sampler'), 'w', required=('sampler', ))


@pytest.mark.parametrize('options, error, message', [
    (dict(instance_score_thrr=0.0), KeyError,
     r"unknown test_cfg key\(s\) 'instance_score_thrr' \(did you mean 'instance_score_thr'\?\)"
     r"; known keys: instance_score_thr, overlap_thr"),
    (dict(instance_score_thr='0.3'), TypeError,
     r"test_cfg.instance_score_thr must be a number, got '0.3'"),
    (dict(overlap_thr=1.2), ValueError, r'test_cfg.overlap_thr must lie in \[0, 1\], got 1.2'),
    (dict(max_per_img=10.0), TypeError, 'test_cfg.max_per_img must be an integer'),
    (dict(unassigned_fill='zero'), ValueError,
     r"test_cfg.unassigned_fill must be one of \('argmax', 'legacy', 'void'\), got 'zero'"),
    (dict(legacy='yes'), KeyError, r"test_cfg.legacy -> test_cfg.unassigned_fill='legacy'"),
])
def test_test_cfg_mistakes_fail_at_build(options, error, message):
    cfg = _cfg()
    cfg.model.test_cfg.update(options)
    with pytest.raises(error, match=message):
        _build(cfg)


def test_cfg_options_strings_are_rejected():
    """``--cfg-options model.test_cfg.compat.shifted_track_ids=yes`` passes the string 'yes'."""
    cfg = _cfg('video-knet_tiny.py')
    cfg.merge_from_dict({'model.test_cfg.compat.shifted_track_ids': 'yes'})
    with pytest.raises(TypeError, match="shifted_track_ids must be True or False, got 'yes'"):
        _build(cfg)


@pytest.mark.parametrize('path, key, message', [
    (('rpn', ), 'assignr', r"unknown model.train_cfg.rpn key\(s\) 'assignr' \(did you mean "
                           r"'assigner'\?\)"),
    (('rcnn', 'assigner'), 'dice_cots', r"model.train_cfg.rcnn.assigner key\(s\) 'dice_cots' "
                                        r"\(did you mean 'dice_cost'\?\)"),
    (('rcnn', 'assigner', 'dice_cost'), 'wieght',
     r"model.train_cfg.rcnn.assigner.dice_cost key\(s\) 'wieght' \(did you mean 'weight'\?\)"),
])
def test_train_cfg_typos_name_their_path(path, key, message):
    cfg = _cfg()
    train_cfg = copy.deepcopy(cfg.model.train_cfg)
    node = train_cfg
    for part in path:
        node = node[part]
    node[key] = 1
    cfg.model.train_cfg = train_cfg
    with pytest.raises(KeyError, match=message):
        _build(cfg)


def test_train_cfg_missing_step_and_unknown_step():
    cfg = _cfg()
    cfg.model.train_cfg = dict(rpn=cfg.model.train_cfg.rpn)
    with pytest.raises(KeyError, match=r"model.train_cfg lacks the key\(s\) rcnn"):
        _build(cfg)
    cfg = _cfg()
    cfg.model.train_cfg['trak'] = cfg.model.train_cfg.rpn
    with pytest.raises(KeyError, match=r"unknown model.train_cfg key\(s\) 'trak'"):
        _build(cfg)


def test_video_knet_train_cfg_and_tracker_typos():
    cfg = _cfg('video-knet_tiny.py')
    cfg.model.train_cfg.track['sampler']['bogus'] = 0
    with pytest.raises(KeyError, match=r"model.train_cfg.track.sampler key\(s\) 'bogus'"):
        _build(cfg)
    cfg = _cfg('video-knet_tiny.py')
    key = next(k for k in cfg.model.tracker if k != 'type')
    cfg.model.tracker[key + 'x'] = cfg.model.tracker.pop(key)
    with pytest.raises(KeyError, match=rf"model.tracker key\(s\) '{key}x' \(did you mean "
                                       rf"'{key}'\?\)"):
        _build(cfg)


def test_valid_options_build_and_keep_their_values():
    cfg = _cfg()
    cfg.model.test_cfg.update(instance_score_thr=0, max_per_img=7, unassigned_fill='argmax')
    model = _build(cfg)
    settings = model.merge_settings()
    assert (settings.instance_score_thr, settings.max_per_img, settings.unassigned_fill) == \
        (0, 7, 'argmax')
