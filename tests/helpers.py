"""Helpers shared by the tool tests (importable as ``helpers``: pytest puts ``tests/`` on the path).

* :func:`load_tool`: import a ``tools/*.py`` script as a module, to call its ``main(argv)``.
* :func:`random_checkpoint`, :func:`run_inference`, :func:`run_test`: a checkpoint of a
  config's model with seeded random weights, and ``tools/inference.py`` / ``tools/test.py`` on
  CPU over a dataset root (one process, no workers).
* :func:`converted_cityscapes_vps`: a Cityscapes-VPS root with the converted ground truth
  (``datasets/prepare_cityscapes_vps.py``) instead of the shipped maps.
* :func:`stub_repo`: a throw-away copy of the ``tools/*.sh`` entry points whose
  ``.venv/bin/python`` (and ``srun``) only print what they were given, to check what the shell
  wrappers forward without running anything.
"""
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Dict, List, NamedTuple, Optional

REPO = Path(__file__).resolve().parents[1]

#: Prints ``PYTHONPATH=...``, its own path and its arguments, one per line.
_ECHO_ARGV = '#!/usr/bin/env bash\nprintf \'%s\\n\' "PYTHONPATH=${PYTHONPATH:-}" "$0" "$@"\n'


def load_tool(name: str) -> ModuleType:
    """Import ``tools/{name}.py`` (e.g. ``'train'``) without running its ``__main__`` block."""
    path = REPO / 'tools' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'knet_tools_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_checkpoint(config: str, path: str, seed: int = 0) -> str:
    """Save the config's model with seeded random weights (``init_weights``) to ``path``."""
    import logging

    import torch
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    from knet.registry import MODELS
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    init_default_scope('knet')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), path)
    return path


def run_inference(config: str, ckpt: str, root: str, out: str, *extra: str) -> dict:
    """``tools/inference.py CONFIG CKPT OUT --data-root ROOT`` on CPU; its summary."""
    import torch
    return load_tool('inference').main([config, ckpt, str(out), '--data-root', root, '--device',
                                        'cpu', '--num-workers', '0', '--no-progress',
                                        '--threads', str(torch.get_num_threads()), *extra])


def run_test(config: str, ckpt: str, root: str, work_dir: str) -> dict:
    """``tools/test.py`` on the test split of ``root``: the online metrics."""
    return load_tool('test').main([
        config, ckpt, '--work-dir', str(work_dir), '--cfg-options',
        f'test_dataloader.dataset.data_root={root}', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'])


def converted_cityscapes_vps(raw_root: str, folder: Path, split: str = 'val') -> str:
    """``folder/root``: ``{split}/img_all`` of ``raw_root`` beside the converted ground truth
    that ``datasets/prepare_cityscapes_vps.py`` writes to ``folder/gt`` (symlinks), without
    the ``cls/`` and ``inst/`` maps, as users have it after VPSNet's preparation."""
    spec = importlib.util.spec_from_file_location(
        'prepare_cityscapes_vps', REPO / 'datasets' / 'prepare_cityscapes_vps.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gt = folder / 'gt'
    module.prepare(raw_root, str(gt), split)
    root = folder / 'root'
    (root / split).mkdir(parents=True)
    os.symlink(gt / split / 'panoptic_video', root / split / 'panoptic_video')
    os.symlink(Path(raw_root) / split / 'img_all', root / split / 'img_all')
    name = f'panoptic_gt_{split}_city_vps.json'
    os.symlink(gt / name, root / name)
    return str(root)


class Echo(NamedTuple):
    """What a stub executable printed: its ``PYTHONPATH``, its path and its arguments."""

    pythonpath: str
    program: str
    argv: List[str]


def stub_repo(root: Path) -> Path:
    """``root/tools/*.sh`` (copies of the real ones), ``root/.venv/bin/python`` and
    ``root/bin/srun`` (stubs that print an :class:`Echo`); returns ``root``."""
    (root / 'tools').mkdir(parents=True)
    for script in (REPO / 'tools').glob('*.sh'):
        shutil.copy(script, root / 'tools')
    for stub in (root / '.venv' / 'bin' / 'python', root / 'bin' / 'srun'):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(_ECHO_ARGV)
        stub.chmod(0o755)
    return root


def run_stub_script(root: Path, script: str, *args: str,
                    env: Optional[Dict[str, str]] = None) -> Echo:
    """Run ``bash root/tools/{script}`` of a :func:`stub_repo` (``root/bin`` first on PATH,
    ``PYTHONPATH`` unset, ``env`` added) and parse what the stub it ends in printed."""
    full_env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    full_env.update(env or {}, PATH=f'{root / "bin"}{os.pathsep}{os.environ["PATH"]}')
    proc = subprocess.run(['bash', str(root / 'tools' / script), *args], env=full_env,
                          capture_output=True, text=True, check=True)
    pythonpath, program, *argv = proc.stdout.splitlines()
    return Echo(pythonpath.split('=', 1)[1], program, argv)
