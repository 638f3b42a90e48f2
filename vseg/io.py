"""Image reading and atomic writing with errors that name the file (NumPy + OpenCV only).

Every writer of this repository goes through :func:`atomic_path` (directly, or through
:func:`atomic_write`, :func:`write_bytes_atomic`, :func:`write_text_atomic` and
:func:`write_png_atomic`): the bytes go to a new temporary file in the target's folder, which
then replaces the target with ``os.replace``. Hence

* a target that is a hard link or a symbolic link to a user's file (``datasets/
  prepare_kitti_step.py`` makes hard links) is replaced by a new file: the user's file keeps its
  bytes, nothing is ever written *through* a link;
* a reader never sees a half-written file, and a failed write (full disk, encoder error,
  Ctrl-C) leaves neither the temporary file nor a partial or 0-byte target;
* an ``OSError`` names the target: ``cannot write PATH: No space left on device``.
"""
import json
import os
import os.path as osp
import secrets
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional, Sequence

import cv2
import numpy as np


def read_image(path: str, color: bool) -> np.ndarray:
    """Read an image file with OpenCV, raising a clear error naming the file.

    Args:
        path: image file.
        color: True to read a 3-channel 8-bit image (returned in **RGB** order, (H, W, 3)
            uint8); False to read the stored channels and depth unchanged (e.g. (H, W) uint16;
            a 3-channel file is returned in RGB order).

    Returns:
        The decoded array.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file does not exist')
    buffer = np.fromfile(path, dtype=np.uint8)
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED
    array = cv2.imdecode(buffer, flag) if buffer.size else None
    if array is None:
        raise ValueError(f'{path}: unreadable or corrupt image file (cannot be decoded)')
    if color or (array.ndim == 3 and array.shape[2] == 3):
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    return array


def read_json_object(path: str, what: str) -> Optional[dict]:
    """The JSON object in ``path``, or None when there is no such file.

    Args:
        path: the file.
        what: what it is, for the error (e.g. ``'manifest'``).

    Raises:
        ValueError: the file is unreadable, not JSON or not a JSON object (naming it).
    """
    if not osp.lexists(path):
        return None
    try:
        with open(path, encoding='utf-8') as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(f'{path}: unreadable or corrupt {what} ({error})') from error
    if not isinstance(data, dict):
        raise ValueError(f'{path}: corrupt {what} (a JSON object expected, got '
                         f'{type(data).__name__})')
    return data


def _renamed(error: OSError, message: str) -> OSError:
    """``error`` with another message, of the same class and errno."""
    try:
        named = type(error)(message)
    except TypeError:  # a subclass with another constructor
        named = OSError(message)
    named.errno = error.errno
    return named


def _named(error: OSError, path: str, tmp: str) -> OSError:
    """``error`` as ``cannot write PATH: reason``."""
    detail = error.strerror or str(error)
    if error.filename and error.filename != tmp:
        detail += f' ({error.filename})'
    return _renamed(error, f'cannot write {path}: {detail}')


def _about_target(error: BaseException, tmp: str) -> bool:
    """True for an OS error of writing the temporary file (not, e.g., of reading an input)."""
    return (isinstance(error, OSError) and error.errno is not None
            and error.filename in (None, tmp) and not str(error).startswith('cannot write '))


def _reserve(path: str) -> str:
    """Create a new, empty temporary file beside ``path`` (same extension) and return its name.

    The name contains ``.tmp``; it is created exclusively (an existing file or link of that
    name is never opened), with the permissions of an ordinary new file.
    """
    extension = osp.splitext(path)[1]
    while True:
        tmp = f'{path}.tmp{os.getpid()}-{secrets.token_hex(4)}{extension}'
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary file name to write; when the block succeeds it replaces ``path``.

    For writers that need a file name (e.g. ``cv2.VideoWriter``): the name has ``path``'s
    extension. Parent folders are created. On any failure the temporary file is removed and
    ``path`` is left as it was; an ``OSError`` of the write is raised again naming ``path``.

    Args:
        path: the target file (replaced, never opened for writing: a link there is replaced,
            its target untouched).
    """
    folder = osp.dirname(path)
    try:
        os.makedirs(folder or '.', exist_ok=True)
    except OSError as error:
        raise _renamed(error, f'cannot write {path}: cannot create the folder {folder} '
                              f'({error.strerror or error})') from error
    try:
        tmp = _reserve(path)
    except OSError as error:
        raise _named(error, path, error.filename) from error
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        if _about_target(error, tmp):
            raise _named(error, path, tmp) from error
        raise
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[IO[Any]]:
    """``with atomic_write(path) as file:``: a file object whose content replaces ``path`` once
    the block succeeds (see :func:`atomic_path`).

    Args:
        path: the target file.
        mode: ``'wb'`` (bytes) or ``'w'`` (UTF-8 text).
    """
    if mode not in ('wb', 'w'):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    with atomic_path(path) as tmp:
        encoding = None if 'b' in mode else 'utf-8'
        with open(tmp, mode, encoding=encoding) as file:
            yield file


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    with atomic_write(path, 'wb') as file:
        file.write(data)


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`)."""
    with atomic_write(path, 'w') as file:
        file.write(text)


def write_png_atomic(path: str, image: np.ndarray, params: Sequence[int] = ()) -> None:
    """Encode ``image`` as PNG (OpenCV channel order: BGR) and move it into place atomically.

    Args:
        path: the target ``.png``.
        image: (H, W) or (H, W, 3) array, uint8 or uint16.
        params: ``cv2.imencode`` parameters (e.g. the compression level).

    Raises:
        RuntimeError: the image cannot be encoded (nothing is written).
        OSError: the write failed (naming ``path``; nothing is left behind).
    """
    ok, data = cv2.imencode('.png', image, list(params))
    if not ok:
        raise RuntimeError(f'could not encode {path} (shape {image.shape}, dtype {image.dtype})')
    write_bytes_atomic(path, data.tobytes())
