"""The manifest of a results folder (video_knet.apis.provenance): the weights hash identifies the
weights, not the file; the config hash the config as loaded; the resume check refuses a folder
of another run and says why."""
import os
import subprocess
from pathlib import Path

import pytest
import torch
from helpers import REPO

from video_knet.apis import StaleResultsError, check_resume, results_manifest, weights_sha256
from video_knet.apis.provenance import config_sha256, git_commit
from vseg.manifest import write_manifest

TINY = str(REPO / 'configs' / 'tiny' / 'video-knet_tiny.py')


def _state(seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {'b.weight': torch.randn(3, 2, generator=gen), 'a.bias': torch.randn(3, generator=gen),
            'a.num_batches_tracked': torch.tensor(7)}


def test_weights_hash_depends_on_the_weights_only(tmp_path: Path) -> None:
    state = _state(0)
    digest = weights_sha256(state)
    assert digest == weights_sha256(dict(reversed(list(state.items()))))  # key order
    assert digest == weights_sha256({k: v.clone() for k, v in state.items()})
    assert digest != weights_sha256(_state(1))
    changed = dict(state, **{'a.bias': state['a.bias'].clone()})
    changed['a.bias'][0] += 1e-6
    assert digest != weights_sha256(changed)
    assert digest != weights_sha256(dict(state, **{'b.weight': state['b.weight'].reshape(2, 3)}))
    assert digest != weights_sha256(dict(state, **{'b.weight': state['b.weight'].double()}))
    assert digest != weights_sha256({f'x.{k}': v for k, v in state.items()})

    # The same weights saved in two files (other pickling, meta, DDP prefixes): the same hash.
    first, second = tmp_path / 'a.pth', tmp_path / 'b.pth'
    torch.save(dict(state_dict=state, meta=dict(iter=1)), first)
    torch.save(dict(state_dict={f'module.{k}': v for k, v in state.items()},
                    meta=dict(iter=2, note='saved again'), optimizer={}), second)
    manifests = [results_manifest(TINY, str(path), None, 'test') for path in (first, second)]
    assert manifests[0]['weights_sha256'] == manifests[1]['weights_sha256'] == digest
    assert manifests[0]['checkpoint_size'] == first.stat().st_size
    assert manifests[0]['checkpoint_mtime'] == first.stat().st_mtime


def test_config_hash_does_not_depend_on_the_data_root(monkeypatch) -> None:
    monkeypatch.delenv('KNET_DATA_ROOT', raising=False)
    relative = config_sha256(TINY)
    monkeypatch.setenv('KNET_DATA_ROOT', '/elsewhere/datasets')  # as tools/*.sh set it
    assert config_sha256(TINY) == relative
    assert os.environ['KNET_DATA_ROOT'] == '/elsewhere/datasets'  # restored


def test_manifest_fields(tmp_path: Path) -> None:
    manifest = results_manifest(TINY, None, {'model.test_cfg.x': (1, 2)}, 'tools/x.py')
    assert manifest['config'] == TINY and len(manifest['config_sha256']) == 64
    assert manifest['weights_sha256'] is None and manifest['checkpoint'] is None
    assert manifest['cfg_options'] == {'model.test_cfg.x': [1, 2]}  # as JSON reads it back
    assert manifest['tool'] == 'tools/x.py' and manifest['version'] == '0.1.0'
    assert manifest['created'].endswith('+00:00')
    head = subprocess.run(['git', '-C', str(REPO), 'rev-parse', 'HEAD'], capture_output=True,
                          text=True)
    assert manifest['commit'] == (head.stdout.strip() if head.returncode == 0 else None)
    assert git_commit(str(tmp_path)) is None  # not a checkout

    # The config as loaded: its bases included, comments not.
    child = tmp_path / 'child.py'
    child.write_text(f'_base_ = [{TINY!r}]\n')
    commented = tmp_path / 'commented.py'
    commented.write_text(f'# a comment\n_base_ = [{TINY!r}]\n')
    changed = tmp_path / 'changed.py'
    changed.write_text(f'_base_ = [{TINY!r}]\nmodel = dict(test_cfg=dict(max_per_img=7))\n')
    assert config_sha256(str(child)) == config_sha256(str(commented)) == config_sha256(TINY)
    assert config_sha256(str(changed)) != config_sha256(TINY)


def test_check_resume(tmp_path: Path) -> None:
    ours = dict(config_sha256='c' * 64, weights_sha256='a' * 64, cfg_options={})
    check_resume(str(tmp_path / 'new'), ours)  # no folder yet
    check_resume(str(tmp_path), ours, complete=[])  # no manifest, nothing kept
    with pytest.raises(StaleResultsError, match=r'2 complete sequence\(s\).*no manifest.json'):
        check_resume(str(tmp_path), ours, complete=[3, 4])
    write_manifest(str(tmp_path), dict(ours, checkpoint='old/path.pth', created='yesterday'))
    check_resume(str(tmp_path), dict(ours, checkpoint='new/path.pth'), complete=[3, 4])
    other = dict(ours, weights_sha256='b' * 64, cfg_options={'model.test_cfg.thr': 0.5})
    with pytest.raises(StaleResultsError) as error:
        check_resume(str(tmp_path), other, complete=[3])
    message = str(error.value)
    assert 'checkpoint sha256 aaaaaaaa.. != bbbbbbbb..' in message
    assert 'cfg-options model.test_cfg.thr: (absent) != 0.5' in message
    assert '--overwrite' in message and 'path.pth' in message  # what made the old results
