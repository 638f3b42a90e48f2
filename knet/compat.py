"""Compatibility with the original K-Net / Video K-Net code: one option group, ``test_cfg.compat``.

Where the original code has a bug or an arbitrary choice that changes the outputs, this
re-implementation fixes it by default and keeps the original behaviour behind one named switch,
so that outputs can be compared with the original code's (docs/compatibility.md has the table:
what the original does, what we do, how to restore it). The switches of the models live in the
detectors' ``test_cfg['compat']``:

* ``None`` (the default) or ``{}``: every fix on;
* ``'original'``: every switch on (the original behaviour throughout);
* a dict naming switches, e.g. ``dict(shifted_track_ids=True)``; unnamed ones are off.

Switches (:data:`COMPAT_SWITCHES`, both Video K-Net):

* ``padded_semantic_filter``: the semantic logits that filter the thing masks before their
  boxes go to the tracker are resized from the padded stride-8 map straight to the original
  size, without first cropping the padding (the original's misalignment);
* ``shifted_track_ids``: the tracker's ids of the non-duplicate detections are handed to the
  segments in order, so after a dropped duplicate every later segment takes its successor's id
  (the original's misalignment) instead of each segment keeping its own id.

On the command line: ``--cfg-options model.test_cfg.compat.shifted_track_ids=True`` or
``--cfg-options model.test_cfg.compat=original``. The evaluator side has its own switch (STQ as
the original ``evaluate_stq.py``: ``tools/evaluate_stq.py --legacy``), listed in the same table.

What the pixels that no segment wins become is not a switch but an option with three values,
``test_cfg.unassigned_fill`` (:class:`knet.models.postprocess.MergeSettings`; ``'legacy'``, the
original's class 0, is the default, chosen by measurement). The original outputs are therefore
``compat='original'`` with the default ``unassigned_fill='legacy'``. The former switch
``compat.unassigned_class_zero`` and the former keys ``test_cfg.legacy`` /
``test_cfg.legacy_tracking`` raise an error naming their replacements
(:func:`check_renamed_keys`, :data:`MOVED_SWITCHES`).
"""
from typing import Any, Dict, Mapping

from knet.models.options import check_bool, check_keys

#: Every model switch and what it restores (details: the module docstring).
COMPAT_SWITCHES: Dict[str, str] = dict(
    padded_semantic_filter='the tracker\'s semantic thing filter is resized from the padded map',
    shifted_track_ids='track ids shift after a duplicate detection dropped by the tracker')

#: ``test_cfg['compat']`` value that turns every switch on.
ORIGINAL = 'original'

#: Former ``test_cfg`` keys and what replaces them.
RENAMED_KEYS: Dict[str, str] = dict(
    legacy="unassigned_fill='legacy'",
    legacy_tracking='compat=dict(padded_semantic_filter=True, shifted_track_ids=True)')

#: Former switches of ``test_cfg['compat']`` and the ``test_cfg`` option that replaces them.
MOVED_SWITCHES: Dict[str, str] = dict(
    unassigned_class_zero="unassigned_fill='legacy' (for True, now the default) or "
                          "unassigned_fill='void' (for False)")


def check_renamed_keys(test_cfg: Mapping[str, Any]) -> None:
    """Raise KeyError when ``test_cfg`` uses a former spelling of a switch, naming the new one."""
    used = [key for key in RENAMED_KEYS if key in test_cfg]
    if used:
        hints = '; '.join(f'test_cfg.{key} -> test_cfg.{RENAMED_KEYS[key]}' for key in used)
        raise KeyError(f'the compatibility switches moved: {hints} (docs/compatibility.md)')
    compat = test_cfg.get('compat')
    moved = [key for key in MOVED_SWITCHES if isinstance(compat, Mapping) and key in compat]
    if moved:
        hints = '; '.join(f'test_cfg.compat.{key} -> test_cfg.{MOVED_SWITCHES[key]}'
                          for key in moved)
        raise KeyError(f'this switch is an option of its own now: {hints} '
                       '(docs/compatibility.md)')


def compat_switches(test_cfg: Mapping[str, Any]) -> Dict[str, bool]:
    """Every switch of :data:`COMPAT_SWITCHES` with its value in ``test_cfg['compat']``.

    Raises:
        KeyError: for a former key or switch (:func:`check_renamed_keys`) or an unknown switch
            name.
        TypeError: for a ``compat`` that is neither None, ``'original'`` nor a mapping, or a
            switch value that is not a bool.
    """
    check_renamed_keys(test_cfg)
    compat = test_cfg.get('compat')
    if compat is None:
        return dict.fromkeys(COMPAT_SWITCHES, False)
    if compat == ORIGINAL:
        return dict.fromkeys(COMPAT_SWITCHES, True)
    if not isinstance(compat, Mapping):
        raise TypeError(f'test_cfg.compat must be None, {ORIGINAL!r} or a dict of switches, '
                        f'got {compat!r}')
    check_keys(compat, COMPAT_SWITCHES, 'test_cfg.compat')
    return {name: check_bool(compat.get(name, False), f'test_cfg.compat.{name}')
            for name in COMPAT_SWITCHES}


def compat_enabled(test_cfg: Mapping[str, Any], name: str) -> bool:
    """The value of switch ``name`` in ``test_cfg`` (validated by :func:`compat_switches`)."""
    if name not in COMPAT_SWITCHES:
        raise KeyError(f'unknown compatibility switch {name!r}; known: {sorted(COMPAT_SWITCHES)}')
    return compat_switches(test_cfg)[name]
