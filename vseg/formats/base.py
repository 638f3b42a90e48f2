"""The annotation-format interface and its registry (see :mod:`vseg.formats`)."""
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..registry import NamedRegistry

#: (sequence id, frame id) of a frame.
FrameKey = Tuple[int, int]


class AnnotationFormat:
    """How one on-disk ground-truth format is listed and decoded.

    Subclasses set :attr:`name` and :attr:`file_keys` and implement :meth:`decode`; formats
    that offline evaluators can read also implement :meth:`find_frames`.
    """

    #: Registry name (also the ``seg_format`` value of data infos).
    name = ''
    #: Data-info keys of the files of one frame, e.g. ``('seg_path',)``.
    file_keys: Tuple[str, ...] = ('seg_path', )

    def files_of(self, info: Mapping[str, object], where: str = '') -> Dict[str, str]:
        """The annotation files of a data info / data sample, by key.

        Raises:
            KeyError: naming the missing key and ``where`` (e.g. the image path).
        """
        files = {}
        for key in self.file_keys:
            path = info.get(key)
            if not path:
                raise KeyError(f"{where or info.get('img_path')}: annotation format "
                               f"'{self.name}' needs the data info key '{key}'")
            files[key] = str(path)
        return files

    def decode(self, files: Mapping[str, str],
               thing_ids: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Decode one frame.

        Args:
            files: the frame's annotation files by key (:attr:`file_keys`).
            thing_ids: dataset ids of the thing classes (formats whose encoding depends on them,
                such as Cityscapes instance ids, need them).

        Returns:
            ``(semantic, instance)``: (H, W) integer dataset class ids and (H, W) int32
            instance ids.
        """
        raise NotImplementedError

    def read_panoptic(self, files: Mapping[str, str], thing_ids: Sequence[int],
                      label_divisor: int) -> np.ndarray:
        """(H, W) int64 panoptic ids ``class * label_divisor + instance`` of one frame."""
        semantic, instance = self.decode(files, thing_ids)
        if instance.size and int(instance.max()) >= label_divisor:
            raise ValueError(f'{_first(files)}: instance id {int(instance.max())} >= label '
                             f'divisor {label_divisor}')
        return semantic.astype(np.int64) * label_divisor + instance

    def read_segments(self, files: Mapping[str, str]) -> Tuple[np.ndarray, Dict[int, Any]]:
        """One frame as an official segment-listing benchmark sees it: (H, W) int64 segment ids
        (0 = void) and ``{id: Segment(category_id, iscrowd, area)}``; ids are stable across
        the frames of a video (the same tube has the same id). Formats of such benchmarks
        implement it; the online benchmark metric reads the ground truth with it."""
        raise NotImplementedError(f"annotation format '{self.name}' has no segment listing of "
                                  'an official benchmark (read_segments)')

    def find_frames(self, gt_dir: str) -> Dict[FrameKey, Dict[str, str]]:
        """The annotated frames of a ground-truth folder, for the offline evaluators.

        Returns:
            ``{(seq, frame): files}`` sorted by (sequence, frame).
        """
        raise NotImplementedError(f"annotation format '{self.name}' cannot be listed from a "
                                  'folder for offline evaluation; evaluate it online '
                                  '(tools/test.py)')

    def find_all_frames(self, gt_dir: str) -> Dict[FrameKey, Dict[str, str]]:
        """The annotated frames keyed as results over every raw frame number them (for
        datasets that label a subset of the frames, e.g. Cityscapes-VPS ``frames='all'``);
        results of the other frames are tracked, not scored. A format whose frames are all
        annotated has no such numbering."""
        raise NotImplementedError(f"annotation format '{self.name}' numbers its frames one way "
                                  '(no --frames all)')


def _first(files: Mapping[str, str]) -> str:
    return next(iter(files.values()))


def check_semantic(path: str, semantic: np.ndarray, num_classes: int, ignore_label: int) -> None:
    """Raise a ValueError naming ``path`` if a class id is neither in ``0..C-1`` nor void.

    Works for any number of classes and any integer type of ``semantic``.
    """
    ids = np.unique(semantic)
    bad = ids[((ids < 0) | (ids >= num_classes)) & (ids != ignore_label)]
    if bad.size:
        raise ValueError(f'{path}: semantic ids {bad.tolist()} outside 0..{num_classes - 1} and '
                         f'{ignore_label}')


FORMATS: NamedRegistry[AnnotationFormat] = NamedRegistry('annotation format')


def register_format(fmt: AnnotationFormat) -> AnnotationFormat:
    """Add ``fmt`` to the registry under ``fmt.name`` (names are unique)."""
    return FORMATS.register(fmt.name, fmt)


def get_format(name: str) -> AnnotationFormat:
    """The registered format ``name``."""
    return FORMATS.get(name)


def format_names() -> List[str]:
    """Names of the registered formats."""
    return FORMATS.names()
