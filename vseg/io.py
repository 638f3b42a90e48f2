"""Image reading and atomic writing with errors that name the file (NumPy + OpenCV only)."""
import os
import os.path as osp

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


def write_png_atomic(path: str, image: np.ndarray) -> None:
    """Encode ``image`` as PNG (OpenCV channel order: BGR) and move it into place atomically.

    The bytes go to a temporary file beside ``path`` that replaces ``path`` only once complete;
    on any failure (encoding, full disk) the temporary file is removed and the error names
    ``path``.
    """
    ok, data = cv2.imencode('.png', image)
    if not ok:
        raise RuntimeError(f'could not encode {path} (shape {image.shape}, dtype {image.dtype})')
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp, 'wb') as file:
            file.write(data.tobytes())
        os.replace(tmp, path)
    except OSError as error:
        if osp.exists(tmp):
            os.remove(tmp)
        raise OSError(error.errno, f'cannot write {path}: {error.strerror}') from error
