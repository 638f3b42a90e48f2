"""Prediction layouts on disk: one writer and one reader per layout, in a registry.

Inference writes with :meth:`ResultsLayout.write_frame`; the evaluators and the visualizer read
with :meth:`ResultsLayout.find_frames` and :meth:`ResultsLayout.read_frame`, so a layout is
spelled out in exactly one place. Entries (docs/data_formats.md, "Results on disk"):

``'knet'`` (the default), under a results folder ``RESULTS``:

* ``RESULTS/panoptic/{seq}/{seq:06d}_{frame:06d}_cat.png``: uint16 dataset class id per pixel
  (the ignore label, 255, where nothing is predicted);
* ``RESULTS/panoptic/{seq}/{seq:06d}_{frame:06d}_ins.png``: uint16 track id (0 = none);
* ``RESULTS/final/{seq:04d}/{frame:06d}.png``: the KITTI-STEP submission encoding (R = class,
  G * 256 + B = track id), RGB on disk.

Frames are identified by the (sequence, frame) numbers parsed from the names, never by listing
order; a frame with only one of its files is an error naming it.
"""
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Tuple

import cv2
import numpy as np

from .io import write_png_atomic
from .panoptic import encode_step_png
from .registry import NamedRegistry

#: (sequence id, frame id) of a frame.
FrameKey = Tuple[int, int]


def read_label_png(path: str) -> np.ndarray:
    """Read a single-channel 8- or 16-bit label PNG unchanged ((H, W) uint8 / uint16)."""
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise ValueError(f'cannot read {path} (missing, unreadable or not a PNG)')
    if label.ndim != 2 or label.dtype.kind != 'u':
        raise ValueError(f'{path}: expected a single-channel 8/16-bit label PNG, got shape '
                         f'{label.shape} dtype {label.dtype}')
    return label


class ResultsLayout:
    """Base class of a prediction layout (subclasses define the files of a frame)."""

    #: Registry name.
    name = ''

    def frame_paths(self, root: str, seq_id: int, frame_id: int) -> Dict[str, str]:
        """The files of one frame, by role."""
        raise NotImplementedError

    def write_frame(self, root: str, seq_id: int, frame_id: int, semantic: np.ndarray,
                    instance: np.ndarray) -> Dict[str, str]:
        """Write the files of one frame atomically; returns :meth:`frame_paths`."""
        raise NotImplementedError

    def find_frames(self, root: str) -> Dict[FrameKey, Dict[str, str]]:
        """Every complete frame under ``root``, sorted by (sequence, frame)."""
        raise NotImplementedError

    def read_frame(self, paths: Dict[str, str]) -> Tuple[np.ndarray, np.ndarray]:
        """``(semantic, instance)`` (H, W) int64 maps of one frame found by :meth:`find_frames`."""
        raise NotImplementedError

    def frame_complete(self, root: str, seq_id: int, frame_id: int) -> bool:
        """True when every file of the frame exists."""
        return all(osp.isfile(p) for p in self.frame_paths(root, seq_id, frame_id).values())

    def read_panoptic(self, paths: Dict[str, str], label_divisor: int) -> np.ndarray:
        """(H, W) int64 panoptic ids ``class * label_divisor + track id`` of one frame."""
        semantic, instance = self.read_frame(paths)
        if instance.size and int(instance.max()) >= label_divisor:
            raise ValueError(f'{_first(paths)}: track id {int(instance.max())} >= label '
                             f'divisor {label_divisor}')
        return semantic * label_divisor + instance


def _first(paths: Dict[str, str]) -> str:
    return next(iter(paths.values()))


class KNetLayout(ResultsLayout):
    """``panoptic/{seq}/{seq:06d}_{frame:06d}_{cat,ins}.png`` + ``final/`` (module docstring)."""

    name = 'knet'
    _NAME = re.compile(r'^(\d+)_(\d+)_(cat|ins)\.png$')

    def frame_paths(self, root: str, seq_id: int, frame_id: int) -> Dict[str, str]:
        stem = osp.join(root, 'panoptic', str(seq_id), f'{seq_id:06d}_{frame_id:06d}')
        final = osp.join(root, 'final', f'{seq_id:04d}', f'{frame_id:06d}.png')
        return dict(cat=f'{stem}_cat.png', ins=f'{stem}_ins.png', final=final)

    def write_frame(self, root: str, seq_id: int, frame_id: int, semantic: np.ndarray,
                    instance: np.ndarray) -> Dict[str, str]:
        """Write one frame.

        Args:
            root: the results folder.
            seq_id: sequence number.
            frame_id: frame index in the sequence.
            semantic: (H, W) dataset class ids (the ignore label where nothing is predicted),
                < 256 (the submission PNG stores them in one byte).
            instance: (H, W) track ids (0 = none), < 65536.
        """
        semantic, instance = np.asarray(semantic), np.asarray(instance)
        if semantic.shape != instance.shape or semantic.ndim != 2:
            raise ValueError(f'semantic {semantic.shape} and track ids {instance.shape} must be '
                             'equal (H, W) maps')
        paths = self.frame_paths(root, seq_id, frame_id)
        rgb = encode_step_png(semantic, instance)  # checks the ranges before anything is written
        write_png_atomic(paths['cat'], semantic.astype(np.uint16))
        write_png_atomic(paths['ins'], instance.astype(np.uint16))
        write_png_atomic(paths['final'], np.ascontiguousarray(rgb[..., ::-1]))  # cv2 writes BGR
        return paths

    def find_frames(self, root: str) -> Dict[FrameKey, Dict[str, str]]:
        """Index ``root/panoptic/{seq}/*_{cat,ins}.png`` (the ``{seq}`` folder padded or not).

        Raises:
            FileNotFoundError: if ``root/panoptic`` does not exist or holds no result.
            ValueError: for a frame with only one of its two PNGs, or a file whose sequence
                differs from its folder's.
        """
        panoptic = osp.join(root, 'panoptic')
        if not osp.isdir(panoptic):
            raise FileNotFoundError(f'{panoptic} does not exist: expected '
                                    'RESULTS_DIR/panoptic/{seq}/{seq:06d}_{frame:06d}_cat.png '
                                    'and _ins.png')
        found: Dict[FrameKey, Dict[str, str]] = {}
        for folder in sorted(os.listdir(panoptic)):
            seq_dir = osp.join(panoptic, folder)
            if not osp.isdir(seq_dir):
                continue
            for name in sorted(os.listdir(seq_dir)):
                match = self._NAME.match(name)
                if match is None:
                    continue
                seq, frame = int(match.group(1)), int(match.group(2))
                if not folder.isdigit() or int(folder) != seq:
                    raise ValueError(f'{osp.join(seq_dir, name)}: sequence {seq} does not match '
                                     f'its folder {folder}')
                found.setdefault((seq, frame), {})[match.group(3)] = osp.join(seq_dir, name)
        if not found:
            raise FileNotFoundError(f'no *_cat.png / *_ins.png results under {panoptic}')
        for (seq, frame), kinds in found.items():
            for kind in ('cat', 'ins'):
                if kind not in kinds:
                    raise ValueError(f'{_first(kinds)} has no matching _{kind}.png (sequence '
                                     f'{seq}, frame {frame})')
        return {key: dict(cat=found[key]['cat'], ins=found[key]['ins']) for key in sorted(found)}

    def _read_pngs(self, paths: Dict[str, str]) -> Tuple[np.ndarray, np.ndarray]:
        cat, ins = read_label_png(paths['cat']), read_label_png(paths['ins'])
        if cat.shape != ins.shape:
            raise ValueError(f"{paths['cat']} {cat.shape} and {paths['ins']} {ins.shape} "
                             'differ in size')
        return cat, ins

    def read_frame(self, paths: Dict[str, str]) -> Tuple[np.ndarray, np.ndarray]:
        cat, ins = self._read_pngs(paths)
        return cat.astype(np.int64), ins.astype(np.int64)

    def read_panoptic(self, paths: Dict[str, str], label_divisor: int) -> np.ndarray:
        """As the base class, in three passes over the pixels (the evaluators' hot path)."""
        cat, ins = self._read_pngs(paths)
        if ins.size and int(ins.max()) >= label_divisor:
            raise ValueError(f"{paths['ins']}: track id {int(ins.max())} >= label divisor "
                             f'{label_divisor}')
        ids = cat.astype(np.int64)
        ids *= label_divisor
        ids += ins
        return ids


LAYOUTS: NamedRegistry[ResultsLayout] = NamedRegistry('results layout')


def register_layout(layout: ResultsLayout) -> ResultsLayout:
    """Add ``layout`` to the registry under ``layout.name`` (names are unique)."""
    return LAYOUTS.register(layout.name, layout)


def get_layout(name: str = 'knet') -> ResultsLayout:
    """The registered layout ``name``."""
    return LAYOUTS.get(name)


def layout_names() -> List[str]:
    """Names of the registered layouts."""
    return LAYOUTS.names()


def frames_by_sequence(frames: Iterable[FrameKey]) -> Dict[int, List[int]]:
    """``{seq: [frame, ...]}`` of (sequence, frame) keys, both sorted."""
    grouped: Dict[int, List[int]] = {}
    for seq, frame in sorted(frames):
        grouped.setdefault(seq, []).append(frame)
    return grouped


register_layout(KNetLayout())
