"""Failing writes for the write-safety tests (importable as ``write_faults``, like ``helpers``).

:func:`simulate_full_disk` makes every write through :mod:`vseg.io` (the one place all our
writers open files) fail as on a full disk, ``OSError(errno.ENOSPC)``;
:func:`leftovers` lists what a failed write must not leave behind.
"""
import errno
import os
from pathlib import Path
from typing import Any, List

import pytest

import vseg.io


class FullDiskFile:
    """Wraps an open file: every ``write`` fails with ``ENOSPC`` (nothing is written)."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> 'FullDiskFile':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def simulate_full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the test ends, files opened by :mod:`vseg.io` cannot be written (disk full)."""
    real_open = open

    def full_open(path: str, mode: str = 'r', **kwargs: Any) -> FullDiskFile:
        return FullDiskFile(real_open(path, mode, **kwargs))

    monkeypatch.setattr(vseg.io, 'open', full_open, raising=False)


def leftovers(root: Path) -> List[Path]:
    """Temporary files (``*.tmp*``) and 0-byte files under ``root``."""
    return [p for p in root.rglob('*')
            if p.is_file() and ('.tmp' in p.name or p.stat().st_size == 0)]
