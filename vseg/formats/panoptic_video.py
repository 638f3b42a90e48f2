"""Panoptic video ground truth and submissions in the COCO-panoptic style (VIPSeg, Cityscapes-VPS).

The official VIPSeg and Cityscapes-VPS evaluators read the same kind of files, in the panopticapi
conventions:

* a **segment PNG** per frame, 8-bit RGB, segment id = R + 256 * G + 65536 * B (0 = void / no
  prediction); the alpha channel of an RGBA file is ignored, any other mode is an error;
* a **JSON** listing each frame's segments (``segments_info``: ``id``, ``category_id``,
  ``iscrowd``, ``area``), in order.

This module holds what both benchmarks share: the id <-> colour encoding, panopticapi's
``IdGenerator`` (how the official conversions pick segment colours), the reader of segment PNGs
and :class:`SegmentFrame`, one frame as the evaluators need it. The benchmark-specific layouts
live in :mod:`vseg.formats.vipseg` (and the Cityscapes-VPS module).
"""
import json
import os.path as osp
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np
from PIL import Image

Color = Tuple[int, int, int]


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) int64 ids ``R + 256 * G + 65536 * B``."""
    rgb = np.asarray(rgb)
    return (rgb[..., 0].astype(np.int64) + 256 * rgb[..., 1].astype(np.int64)
            + 65536 * rgb[..., 2].astype(np.int64))


def color2id(color: Sequence[int]) -> int:
    """The id of one colour ``(R, G, B)``."""
    return int(color[0]) + 256 * int(color[1]) + 65536 * int(color[2])


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) ids in ``0 .. 2**24 - 1`` -> (H, W, 3) uint8 colours (inverse of :func:`rgb2id`)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= 1 << 24):
        raise ValueError(f'segment ids must lie in 0..{(1 << 24) - 1}, got {ids.min()}..'
                         f'{ids.max()}')
    rgb = np.empty(ids.shape + (3,), dtype=np.uint8)
    rgb[..., 0] = ids % 256
    rgb[..., 1] = ids // 256 % 256
    rgb[..., 2] = ids // 65536
    return rgb


def _color(value: object) -> Color:
    """An ``[r, g, b]`` list as a tuple of ints."""
    r, g, b = (int(v) for v in value)  # type: ignore[attr-defined]
    return (r, g, b)


class IdGenerator:
    """Segment colours as panopticapi's ``IdGenerator`` picks them (panopticapi ``utils.py``).

    A stuff category always gets its category colour. A thing category gets its colour the
    first time it is free, otherwise a random colour within +-30 per channel of it (clipped to
    0..255) that no segment has yet. The original draws from NumPy's unseeded global generator,
    so two runs of the official conversion give different thing ids; no figure depends on them
    (only the partition into segments does). Here the draws come from ``rng``, so conversions
    are reproducible.

    Args:
        categories: ``{category id: {'isthing': 0/1, 'color': [r, g, b]}}``.
        rng: random generator of the thing colours (default: seeded with 0).
    """

    def __init__(self, categories: Mapping[int, Mapping[str, object]],
                 rng: Optional[np.random.Generator] = None) -> None:
        self.categories = categories
        self.rng = rng if rng is not None else np.random.default_rng(0)
        # panopticapi seeds this set with the stuff colours (and the integer 0, which never
        # equals a colour tuple: black is not reserved).
        self.taken: Set[Color] = {_color(c['color']) for c in categories.values()
                                  if not c['isthing']}

    def get_color(self, category_id: int) -> Color:
        """The colour of a new segment of ``category_id``."""
        category = self.categories[category_id]
        base = tuple(int(v) for v in category['color'])  # type: ignore[attr-defined]
        if not category['isthing']:
            return base  # type: ignore[return-value]
        color = base
        while color in self.taken:
            shift = self.rng.integers(-30, 31, size=3)
            color = tuple(int(v) for v in np.clip(np.array(base) + shift, 0, 255))
        self.taken.add(color)  # type: ignore[arg-type]
        return color  # type: ignore[return-value]

    def get_id(self, category_id: int) -> int:
        """The segment id (:func:`color2id`) of a new segment of ``category_id``."""
        return color2id(self.get_color(category_id))


class Segment(NamedTuple):
    """One listed segment of a frame (``segments_info`` entry)."""

    category_id: int
    iscrowd: int = 0
    area: int = 0


class SegmentFrame(NamedTuple):
    """One frame as the panoptic video evaluators read it.

    Attributes:
        ids: (H, W) int64 segment ids (0 = void / no prediction).
        segments: ``{id: Segment}`` in ``segments_info`` order.
        png: the file the ids come from (for error messages).
        json: the JSON file that lists the segments (for error messages).
    """

    ids: np.ndarray
    segments: Dict[int, Segment]
    png: str
    json: str


class PredVideo(NamedTuple):
    """The submitted frames of one video (or chunk), paired with its ground truth (picklable):
    the PNGs and the per-frame ``segments_info`` lists of the submission JSON."""

    video_id: str
    pngs: List[str]
    segments: List[list]
    json: str

    def load(self) -> List[SegmentFrame]:
        """The predicted frames (PNG ids and listed segments)."""
        frames = []
        for path, entries in zip(self.pngs, self.segments):
            where = f'{self.json}: video {self.video_id} frame {osp.basename(path)}'
            frames.append(SegmentFrame(read_segment_png(path), parse_segments(entries, where),
                                       path, self.json))
        return frames


def read_segment_png(path: str) -> np.ndarray:
    """(H, W) int64 segment ids of an RGB(A) segment PNG, read as the official evaluators do
    (``numpy.array(PIL.Image.open(path))``, channels 0-2).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it cannot be decoded, or it is not an RGB / RGBA image (a palette or grey
            PNG would crash the official code).
    """
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.array(image)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: file does not exist') from None
    except Exception as error:  # PIL raises many types for corrupt files
        raise ValueError(f'{path}: unreadable or corrupt PNG ({error})') from error
    if mode not in ('RGB', 'RGBA') or array.ndim != 3:
        raise ValueError(f'{path}: expected an 8-bit RGB (or RGBA) segment PNG, got PIL mode '
                         f'{mode!r}')
    return rgb2id(array[..., :3])


def parse_segments(entries: object, where: str) -> Dict[int, Segment]:
    """``segments_info`` -> ``{id: Segment}``; raises a ValueError naming ``where``.

    A repeated id keeps its first position and its last values (as a dict update does in the
    official code).
    """
    if not isinstance(entries, list):
        raise ValueError(f'{where}: segments_info must be a list, got {type(entries).__name__}')
    segments: Dict[int, Segment] = {}
    for entry in entries:
        try:
            seg_id = int(entry['id'])
            segment = Segment(int(entry['category_id']), int(entry.get('iscrowd', 0)),
                              int(entry.get('area', 0)))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f'{where}: malformed segments_info entry {entry!r} (needs integer '
                             f'"id" and "category_id")') from error
        segments[seg_id] = segment
    return segments


def load_json(path: str, what: str) -> dict:
    """The JSON object in ``path``; raises errors naming the file and ``what`` it should be."""
    try:
        with open(path, encoding='utf-8') as file:
            data = json.load(file)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: missing {what}') from None
    except (OSError, ValueError) as error:
        raise ValueError(f'{path}: unreadable {what} ({error})') from error
    if not isinstance(data, dict):
        raise ValueError(f'{path}: the {what} must be a JSON object')
    return data


def segments_json(segments: Mapping[int, Segment]) -> List[dict]:
    """``{id: Segment}`` -> a ``segments_info`` list (the official field order)."""
    return [dict(id=int(seg_id), category_id=s.category_id, iscrowd=s.iscrowd, area=s.area)
            for seg_id, s in segments.items()]


def prediction_segments(semantic: np.ndarray, track: np.ndarray, num_classes: int,
                        ignore_label: int = 255) -> Tuple[np.ndarray, Dict[int, Segment]]:
    """Segment ids of a predicted frame of class ids and track ids, and its listed segments.

    id = ``(class + 1) << 16 | track`` (0 where the class is ``ignore_label``: no prediction), so
    each stuff class is one segment per video (track 0) and each thing track one segment; the
    ids stay below 2 ** 24 for up to 255 classes.

    Returns:
        (H, W) int64 ids and ``{id: Segment(class, 0, pixel count)}`` in increasing id.
    """
    semantic = np.asarray(semantic).astype(np.int64)
    track = np.asarray(track).astype(np.int64)
    if semantic.shape != track.shape:
        raise ValueError(f'semantic {semantic.shape} and track ids {track.shape} differ')
    if track.size and (track.min() < 0 or track.max() >= 1 << 16):
        raise ValueError('track ids must lie in 0..65535')
    valid = semantic != ignore_label
    if valid.any() and (semantic[valid].min() < 0 or semantic[valid].max() >= num_classes):
        raise ValueError(f'semantic ids must lie in 0..{num_classes - 1} or be {ignore_label}')
    ids = np.where(valid, ((semantic + 1) << 16) | track, 0)
    present, counts = np.unique(ids, return_counts=True)
    segments = {int(i): Segment(int((i >> 16) - 1), 0, int(n))
                for i, n in zip(present.tolist(), counts.tolist()) if i != 0}
    return ids, segments
