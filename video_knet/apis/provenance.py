"""Provenance of a results folder: the manifest that says what produced its predictions.

:func:`results_manifest` describes a run (the keys of :mod:`vseg.manifest`):

* ``config_sha256``: SHA-256 of ``Config.fromfile(config).pretty_text``, the config as loaded
  (its ``_base_`` files merged; comments and formatting ignored), before ``--cfg-options``,
  which are recorded apart as ``cfg_options``. The environment variables the config reads
  (``{{$KNET_DATA_ROOT:datasets}}``) are taken at their defaults, so the hash does not depend on
  where the data lies (``tools/*.sh`` set ``KNET_DATA_ROOT`` to the repository's ``datasets/``,
  ``python tools/...`` leaves it relative);
* ``weights_sha256``: :func:`weights_sha256` of the checkpoint's state dict, so a checkpoint
  saved again (other file, path, time or pickling; ``module.`` prefixes) with the same weights
  has the same hash; ``checkpoint``, ``checkpoint_size`` and ``checkpoint_mtime`` describe the
  file;
* ``version`` (the package), ``commit`` (``git rev-parse HEAD`` when the package is a git
  checkout, else None), ``created`` (ISO 8601, UTC) and ``tool``.

:func:`check_resume` refuses to add predictions to a folder whose manifest differs
(:func:`vseg.manifest.manifest_diff`) or whose complete sequences have no manifest.
"""
import datetime
import hashlib
import json
import os
import os.path as osp
import re
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from mmengine.config import Config

import knet
from knet.engine.checkpoint import read_checkpoint
from vseg.manifest import manifest_diff, read_manifest, summary_line

#: The folder holding the packages (a git checkout's root for an editable install).
SOURCE_ROOT = osp.dirname(osp.dirname(osp.abspath(knet.__file__)))
#: An environment variable in a config file, ``{{$NAME:default}}`` (mmengine's syntax).
ENV_VARIABLE = re.compile(r'\{\{[\'"]?\s*\$(\w+)\s*:')


class StaleResultsError(ValueError):
    """A results folder holds predictions of another run; the message says how they differ."""


def weights_sha256(state_dict: Mapping[str, Any]) -> str:
    """SHA-256 over the tensors of a state dict in sorted key order: for each, its name, dtype
    and shape (one JSON line) and its bytes. Non-tensor entries are ignored."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            continue
        tensor = value.detach().to('cpu').contiguous()
        header = [key, str(tensor.dtype).replace('torch.', ''), list(tensor.shape)]
        digest.update(json.dumps(header).encode() + b'\n')
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)  # no copy
    return digest.hexdigest()


def config_sha256(config: str) -> str:
    """SHA-256 of the config file as loaded, its environment variables at their defaults
    (module docstring)."""
    cfg = Config.fromfile(config)
    names = sorted(set(ENV_VARIABLE.findall(cfg.text)) & set(os.environ))
    if names:  # load it again without them (restored afterwards)
        saved = {name: os.environ.pop(name) for name in names}
        try:
            cfg = Config.fromfile(config)
        finally:
            os.environ.update(saved)
    return hashlib.sha256(cfg.pretty_text.encode()).hexdigest()


def git_commit(root: str = SOURCE_ROOT) -> Optional[str]:
    """The commit checked out at ``root`` when ``root`` is the top of a git checkout, else None
    (no git, not a checkout, or the packages installed inside another repository)."""
    try:
        result = subprocess.run(['git', '-C', root, 'rev-parse', '--show-toplevel', 'HEAD'],
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2:
        return None
    top, commit = lines
    return commit if osp.realpath(top) == osp.realpath(root) else None


def results_manifest(config: str, checkpoint: Optional[str],
                     cfg_options: Optional[Mapping[str, Any]], tool: str) -> Dict[str, Any]:
    """The manifest of predictions made with ``config``, ``checkpoint`` and ``cfg_options``.

    Args:
        config: the config file.
        checkpoint: the checkpoint file (None: the model's initialisation; no weights hash).
        cfg_options: ``--cfg-options`` overrides (JSON-serialisable values).
        tool: the tool writing the results, e.g. ``'tools/inference.py'``.
    """
    manifest: Dict[str, Any] = dict(config=config, config_sha256=config_sha256(config),
                                    checkpoint=checkpoint, checkpoint_size=None,
                                    checkpoint_mtime=None, weights_sha256=None)
    if checkpoint is not None:
        state = read_checkpoint(checkpoint)[1]
        stat = os.stat(checkpoint)
        manifest.update(checkpoint_size=stat.st_size, checkpoint_mtime=stat.st_mtime,
                        weights_sha256=weights_sha256(state))
    manifest.update(cfg_options=json.loads(json.dumps(dict(cfg_options or {}), default=str)),
                    version=knet.__version__, commit=git_commit(),
                    created=datetime.datetime.now(datetime.timezone.utc).isoformat(
                        timespec='seconds'), tool=tool)
    return manifest


def check_resume(results_dir: str, manifest: Mapping[str, Any],
                 complete: Sequence[int] = ()) -> None:
    """Refuse to resume into ``results_dir`` unless its predictions are this run's.

    Args:
        results_dir: the results folder.
        manifest: this run's :func:`results_manifest`.
        complete: the sequences already complete in ``results_dir`` (they would be kept).

    Raises:
        StaleResultsError: the folder's manifest differs from ``manifest`` (the message lists
            how), or it has none while ``complete`` is not empty.
    """
    old = read_manifest(results_dir)
    if old is None:
        if complete:
            raise StaleResultsError(
                f'{results_dir}: refusing to resume: it holds {len(complete)} complete '
                f'sequence(s) (e.g. {list(complete)[:3]}) but no manifest.json, so what '
                'produced them is unknown; re-run with --overwrite to redo them, or choose '
                'another results folder')
        return
    lines: List[str] = manifest_diff(old, dict(manifest))
    if lines:
        diff = '\n'.join(f'  {line}' for line in lines)
        raise StaleResultsError(
            f'{results_dir}: refusing to resume: its predictions were made by another run '
            f'(manifest.json):\n{diff}\nthose: {summary_line(old)}\nre-run with --overwrite '
            'to redo every sequence, or choose another results folder')

