"""Full checkpoint unpickling is an explicit call (knet.engine.enable_full_checkpoint_loading).

Run in a fresh interpreter (this test process may have enabled it already): importing the
packages and the API leaves mmengine's loader as it is, so a checkpoint holding a config (as
ours do) fails to load on torch >= 2.6; after the call it loads.
"""
import subprocess
import sys
from pathlib import Path

import torch
from helpers import REPO
from mmengine.config import ConfigDict

SCRIPT = r'''
import sys
import knet, video_knet, video_knet.apis  # noqa: F401  (imports alone change nothing)
from mmengine.runner import CheckpointLoader
from knet.engine import enable_full_checkpoint_loading, full_checkpoint_loading_enabled
print('enabled', full_checkpoint_loading_enabled())
try:
    CheckpointLoader.load_checkpoint(sys.argv[1], map_location='cpu')
    print('before', 'loaded')
except Exception as error:
    print('before', type(error).__name__)
enable_full_checkpoint_loading()
enable_full_checkpoint_loading()  # idempotent
print('enabled', full_checkpoint_loading_enabled())
ckpt = CheckpointLoader.load_checkpoint(sys.argv[1], map_location='cpu')
print('after', ckpt['meta']['cfg'].lr)
'''


def test_full_loading_is_enabled_by_the_call_only(tmp_path: Path) -> None:
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict={}, meta=dict(cfg=ConfigDict(lr=0.5))), path)
    proc = subprocess.run([sys.executable, '-c', SCRIPT, str(path)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    lines = [line for line in proc.stdout.splitlines()
             if line.split(' ')[0] in ('enabled', 'before', 'after')]
    assert lines == ['enabled False', 'before UnpicklingError', 'enabled True', 'after 0.5']
