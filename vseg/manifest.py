"""The provenance manifest of a results folder: what produced the predictions in it.

``RESULTS/manifest.json`` is written by the tools that write a results folder (inference, the
video demo) and read by the evaluators and the visualizer, which print its :func:`summary_line`
with their figures. Keys:

* ``config``: the config file; ``config_sha256``: hash of its text;
* ``checkpoint``: the checkpoint file, ``checkpoint_size`` (bytes), ``checkpoint_mtime``
  (seconds since the epoch); ``weights_sha256``: hash of the state-dict tensors;
* ``cfg_options``: the ``--cfg-options`` overrides (a dict);
* ``version``: the package version; ``commit``: the git commit of the code, or null;
* ``created``: ISO 8601 time of writing; ``tool``: the tool that wrote it.

Only the standard library is used (JSON), so the torch-free evaluators can read it.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .io import read_json_object, write_text_atomic

MANIFEST_NAME = 'manifest.json'
#: The keys whose difference means other predictions (compared by :func:`manifest_diff`).
RESULT_KEYS = ('config_sha256', 'weights_sha256', 'cfg_options')
#: How :func:`manifest_diff` names a key.
LABELS: Dict[str, str] = {
    'config_sha256': 'config sha256', 'weights_sha256': 'checkpoint sha256',
    'cfg_options': 'cfg-options', 'checkpoint_size': 'checkpoint size',
    'checkpoint_mtime': 'checkpoint mtime'}
_HASH_PREFIX = 8


def manifest_path(results_dir: str) -> str:
    """``results_dir/manifest.json``."""
    return osp.join(results_dir, MANIFEST_NAME)


def write_manifest(results_dir: str, manifest: dict) -> str:
    """Write ``manifest`` as ``results_dir/manifest.json`` atomically; returns the path.

    Raises:
        TypeError: a value is not JSON-serialisable (nothing is written).
        OSError: the write failed (naming the file).
    """
    path = manifest_path(results_dir)
    write_text_atomic(path, json.dumps(manifest, indent=2, sort_keys=True) + '\n')
    return path


def read_manifest(results_dir: str) -> Optional[dict]:
    """The manifest of ``results_dir``, or None when it has none.

    Raises:
        ValueError: the file exists but is not a JSON object (naming it).
    """
    return read_json_object(manifest_path(results_dir), 'manifest')


def _short(key: str, value: object) -> str:
    """A value as printed in a diff: hashes shortened, ``(absent)`` for None."""
    if value is None:
        return '(absent)'
    if key.endswith('sha256') and isinstance(value, str):
        return f'{value[:_HASH_PREFIX]}..'
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def _options_diff(old: object, new: object) -> List[str]:
    """One line per ``--cfg-options`` key that differs (both dicts), else one line."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [f"cfg-options {_short('cfg_options', old)} != {_short('cfg_options', new)}"]
    return [f'cfg-options {key}: {_short(key, old.get(key))} != {_short(key, new.get(key))}'
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def manifest_diff(old: dict, new: dict, keys: Sequence[str] = RESULT_KEYS) -> List[str]:
    """Human-readable lines of the ``keys`` whose values differ, e.g.
    ``checkpoint sha256 3fa2c1d0.. != 9b1c22aa..``; empty when they agree.

    Args:
        old: the manifest found (e.g. of an earlier run).
        new: the manifest of this run.
        keys: the keys compared (default :data:`RESULT_KEYS`); a key absent from one side
            differs from a present one.
    """
    lines: List[str] = []
    for key in keys:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key == 'cfg_options':
            lines += _options_diff(before or {}, after or {})
        else:
            label = LABELS.get(key, key)
            lines.append(f'{label} {_short(key, before)} != {_short(key, after)}')
    return lines


def _options_text(options: object) -> str:
    if not options:
        return 'none'
    if isinstance(options, dict):
        return ' '.join(f'{key}={json.dumps(value)}' for key, value in sorted(options.items()))
    return str(options)


def summary_line(manifest: Optional[dict]) -> str:
    """One line saying what produced a results folder (``'no manifest'`` for None), e.g.
    ``config configs/toy/x.py (3fa2c1d0), checkpoint iter_400.pth (weights 9b1c22aa),
    cfg-options none, video-knet 0.1.0 commit 1a2b3c4d, created 2025-01-02T10:11:12``."""
    if manifest is None:
        return 'no manifest'

    def prefix(key: str) -> str:
        value = manifest.get(key)
        return str(value)[:_HASH_PREFIX] if value else '?'

    checkpoint = manifest.get('checkpoint')
    commit = manifest.get('commit')
    return (f"config {manifest.get('config', '?')} ({prefix('config_sha256')}), "
            f"checkpoint {osp.basename(str(checkpoint)) if checkpoint else '?'} "
            f"(weights {prefix('weights_sha256')}), "
            f"cfg-options {_options_text(manifest.get('cfg_options'))}, "
            f"video-knet {manifest.get('version', '?')}"
            f"{f' commit {str(commit)[:_HASH_PREFIX]}' if commit else ''}, "
            f"created {manifest.get('created', '?')}")


def results_summary(results_dir: str) -> str:
    """``results: `` + :func:`summary_line` of the folder's manifest (an unreadable manifest
    is reported in the line rather than raised, so figures are never withheld)."""
    try:
        return f'results: {summary_line(read_manifest(results_dir))}'
    except ValueError as error:
        return f'results: {error}'
