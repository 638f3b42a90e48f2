"""Helpers shared by the tool tests (importable as ``helpers``: pytest puts ``tests/`` on the path).

* :func:`load_tool`: import a ``tools/*.py`` script as a module, to call its ``main(argv)``.
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
