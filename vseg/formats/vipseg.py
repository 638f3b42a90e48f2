"""VIPSeg: the raw ``panomasks`` encoding, the official conversion, ground truth and submissions.

Raw masks (``panomasks/<video>/<frame>.png``, single channel, 16-bit) hold one value v per pixel:

* ``0``: void ("others");
* ``v < 125``: category ``v - 1`` (the stuff encoding);
* ``v >= 125``: category ``v // 100 - 1``, instance ``v % 100`` (the thing encoding; the smallest
  real thing value is 300, door instance 0). Values >= 12 500 name no category (an error).

Category ids are the dataset's 0-based ids (``vseg.metainfo`` ``'vipseg'``). As the annotation
format ``'vipseg'`` (training, the STEP-style tools) a frame decodes to ``(semantic, instance)``
with semantic = category (255 = void) and instance = ``v % 100 + 1`` for a thing category written
with the thing encoding (so instance 0 of the raw file is an ordinary instance, never crowd), 0
otherwise. The original Video K-Net loader also maps the value 200 to void; the official
conversion reads it as the stuff class ceiling (``200 // 100 - 1 = 1``), and so do we.

The **official conversion** (VIPSeg's ``change2_720p.py``, ``create_panoptic_video_labels.py``
and ``splitjson.py``) turns raw masks into what the official evaluators read:
``panomasksRGB/<video>/<frame>.png`` (segment colours, :mod:`vseg.formats.panoptic_video`) and
``panoptic_gt_VIPSeg_val.json``. :func:`convert_video` does it for one video (one
``IdGenerator`` per video: every raw value of a stuff category shares the category's colour, each
thing value gets a colour of its own; segments are listed in increasing raw value), and
:func:`gt_videos` reads either form of the ground truth for the evaluators, converting raw
masks in memory.
"""
import json
import os
import os.path as osp
from typing import Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..io import write_png_atomic, write_text_atomic
from ..layouts import get_layout
from ..metainfo import VIPSEG_CATEGORIES
from .base import AnnotationFormat, FrameKey, register_format
from .panoptic_video import (
    IdGenerator,
    PredVideo,
    Segment,
    SegmentFrame,
    id2rgb,
    load_json,
    parse_segments,
    prediction_segments,
    read_segment_png,
)

#: Smallest raw value in the thing encoding.
THING_VALUE_MIN = 125
#: Number of categories.
NUM_CATEGORIES = len(VIPSEG_CATEGORIES)
#: Raw values from this one on name no category (12 500).
MAX_RAW_VALUE = (NUM_CATEGORIES + 1) * 100
#: Frame height of the 720p version (``change2_720p.py``).
HEIGHT_720P = 720
#: Names of the converted ground truth (in the ``VIPSeg_720P`` folder).
CONVERTED_DIR = 'panomasksRGB'
VAL_JSON = 'panoptic_gt_VIPSeg_val.json'
ALL_JSON = 'panoptic_gt_VIPSeg.json'
RAW_DIR = 'panomasks'
IMAGE_DIR = 'images'


def categories_table() -> Dict[int, dict]:
    """``{id: {'id', 'name', 'isthing', 'color'}}`` of the 124 VIPSeg categories."""
    return {i: dict(id=i, name=name, isthing=isthing, color=list(color))
            for i, (name, isthing, color) in enumerate(VIPSEG_CATEGORIES)}


def read_raw_mask(path: str) -> np.ndarray:
    """(H, W) int64 raw values of a ``panomasks`` PNG (single channel, 8 or 16 bit)."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            raw = np.array(image)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: file does not exist') from None
    except Exception as error:
        raise ValueError(f'{path}: unreadable or corrupt PNG ({error})') from error
    if raw.ndim != 2 or raw.dtype.kind not in 'iu':
        raise ValueError(f'{path}: expected a single-channel 16-bit VIPSeg mask, got PIL mode '
                         f'{mode!r}')
    return raw.astype(np.int64)


def raw_category(values: np.ndarray) -> np.ndarray:
    """Category of raw values (int64; -1 for void 0): ``v - 1`` below 125, ``v // 100 - 1``
    from 125 on."""
    values = np.asarray(values, dtype=np.int64)
    return np.where(values < THING_VALUE_MIN, values, values // 100) - 1


def check_raw_values(values: np.ndarray, path: str) -> None:
    """Raise a ValueError naming ``path`` for a negative value or one naming no category."""
    bad = values[(values < 0) | (values >= MAX_RAW_VALUE)]
    if bad.size:
        raise ValueError(f'{path}: raw mask value {int(bad[0])} names no VIPSeg category (values '
                         f'are 0, category + 1 < 125, or (category + 1) * 100 + instance with '
                         f'category < {NUM_CATEGORIES})')


def decode_raw(raw: np.ndarray, thing_ids: Sequence[int],
               path: str = '') -> Tuple[np.ndarray, np.ndarray]:
    """Raw values -> ``(semantic, instance)`` (module docstring): (H, W) uint8 category ids
    (255 = void) and (H, W) int32 instance ids."""
    check_raw_values(np.unique(raw), path)
    category = raw_category(raw)
    semantic = np.where(category < 0, 255, category).astype(np.uint8)
    is_thing = np.isin(category, np.asarray(list(thing_ids), dtype=np.int64))
    instance = np.where(is_thing & (raw >= THING_VALUE_MIN), raw % 100 + 1, 0)
    return semantic, instance.astype(np.int32)


def read_split_list(path: str) -> List[str]:
    """Video names of a split list, one per line; only the line terminator is stripped (the
    official ``line[:-1]`` drops the last video of a file without a final newline)."""
    try:
        with open(path, encoding='utf-8', newline='') as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: missing split list (one video name per line)') from None
    return [line for line in lines if line.strip()]


def find_split_list(root: str, split: str = 'val') -> str:
    """``ROOT/{split}.txt``, else ``ROOT/../{split}.txt`` (the official layout keeps the lists
    beside ``VIPSeg_720P``)."""
    for folder in (root, osp.dirname(osp.abspath(root))):
        path = osp.join(folder, f'{split}.txt')
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'no {split}.txt in {root} or its parent (the VIPSeg split list, one '
                            'video name per line)')


def list_pngs(folder: str) -> List[str]:
    """Sorted ``*.png`` names of a folder (names starting with '.' skipped)."""
    return sorted(n for n in os.listdir(folder) if n.endswith('.png') and not n.startswith('.'))


#: Extensions of the frame images (``images/<video>/``).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def list_images(folder: str) -> List[str]:
    """Sorted frame images of a video folder (names starting with '.' skipped): frame ``f`` of
    a video is its ``f``-th image."""
    return sorted(n for n in os.listdir(folder)
                  if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith('.'))


def convert_video(masks: Sequence[Tuple[str, np.ndarray]],
                  categories: Optional[Mapping[int, Mapping[str, object]]] = None,
                  rng: Optional[np.random.Generator] = None
                  ) -> List[Tuple[np.ndarray, Dict[int, Segment]]]:
    """The official conversion of one video's raw masks (``create_panoptic_video_labels.py``).

    Args:
        masks: ``(path, raw)`` per frame in frame order (the path names errors).
        categories: the category table (default: :func:`categories_table`).
        rng: random generator of the thing colours (see :class:`IdGenerator`).

    Returns:
        Per frame ``(ids, segments)``: (H, W) int64 segment ids (0 = void) and ``{id:
        Segment}`` in the official order (first occurrence of the smallest raw value), areas
        counted in the painted frame.
    """
    categories = categories if categories is not None else categories_table()
    generator = IdGenerator(categories, rng)
    seen: Dict[int, int] = {}
    frames = []
    for path, raw in masks:
        values, inverse = np.unique(raw, return_inverse=True)
        check_raw_values(values, path)
        lut = np.zeros(len(values), dtype=np.int64)
        segments: Dict[int, Segment] = {}
        for index, value in enumerate(values.tolist()):
            if value == 0:
                continue
            category = int(raw_category(np.array(value)))
            if value not in seen:
                seen[value] = generator.get_id(category)
            lut[index] = seg_id = seen[value]
            segments[seg_id] = Segment(category, 0, 0)
        ids = lut[inverse.reshape(raw.shape)]
        present, counts = np.unique(ids, return_counts=True)
        area = dict(zip(present.tolist(), counts.tolist()))
        frames.append((ids, {i: s._replace(area=int(area[i])) for i, s in segments.items()}))
    return frames


def raw_segments(raw: np.ndarray, path: str = '') -> Tuple[np.ndarray, Dict[int, Segment]]:
    """The segments of one raw frame as the official conversion forms them, with ids that need
    no state across frames: a thing-category value is its own segment (id = the raw value),
    every value of a stuff category joins the category's segment (id = category + 1). Thing
    values (>= 300, or < 125 for a thing category written with the stuff encoding) never equal a
    stuff id, so the partition, the identity across the frames of a video and the listing order
    (smallest raw value first) are those of :func:`convert_video`, and so are all figures.

    Returns:
        (H, W) int64 ids (0 = void) and ``{id: Segment}`` with the pixel counts as areas.
    """
    values, inverse, counts = np.unique(raw, return_inverse=True, return_counts=True)
    check_raw_values(values, path)
    category = raw_category(values)
    is_thing = np.array([c >= 0 and VIPSEG_CATEGORIES[c][1] for c in category.tolist()], bool)
    lut = np.where(values == 0, 0, np.where(is_thing, values, category + 1))
    segments: Dict[int, Segment] = {}
    for seg_id, cat, count in zip(lut.tolist(), category.tolist(), counts.tolist()):
        if seg_id == 0:
            continue
        area = segments[seg_id].area if seg_id in segments else 0
        segments[seg_id] = Segment(int(cat), 0, area + int(count))
    return lut[inverse.reshape(raw.shape)].astype(np.int64), segments


class GTVideo(NamedTuple):
    """One ground-truth video of the evaluators (picklable; frames are read by :func:`load`).

    Attributes:
        video_id: the video's name.
        file_names: the frames' PNG names, in order (the submission's PNGs have these names).
        pngs: the ground-truth files: ``panomasksRGB`` PNGs or raw ``panomasks`` PNGs.
        segments: per frame ``segments_info`` of the converted JSON; None for raw masks.
        json: the GT JSON (error messages); '' for raw masks.
    """

    video_id: str
    file_names: List[str]
    pngs: List[str]
    segments: Optional[List[list]]
    json: str

    def load(self) -> List[SegmentFrame]:
        """The frames, converted in memory from raw masks when needed."""
        if self.segments is None:
            return [SegmentFrame(*raw_segments(read_raw_mask(path), path), path, path)
                    for path in self.pngs]
        frames = []
        for path, entries, name in zip(self.pngs, self.segments, self.file_names):
            where = f'{self.json}: video {self.video_id} frame {name}'
            frames.append(SegmentFrame(read_segment_png(path), parse_segments(entries, where),
                                       path, self.json))
        return frames


def gt_categories(root: str) -> Dict[int, dict]:
    """The categories of the ground truth under ``root`` (converted JSON, else the table)."""
    path = osp.join(root, VAL_JSON)
    if osp.isdir(osp.join(root, CONVERTED_DIR)) and osp.isfile(path):
        data = load_json(path, 'VIPSeg ground-truth JSON')
        try:
            return {int(c['id']): dict(c) for c in data['categories']}
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f'{path}: "categories" must list {{"id", "isthing", ...}} '
                             f'({error})') from error
    return categories_table()


def gt_videos(root: str) -> Tuple[List[GTVideo], str]:
    """The val ground truth under ``root``, in the official video order.

    ``root`` holds the converted ground truth (``panomasksRGB/`` + ``panoptic_gt_VIPSeg_val.json``,
    preferred) or the raw ``panomasks/`` with ``val.txt`` in ``root`` or its parent. Raw masks
    are converted at their own size: give the 720p masks (``VIPSeg_720P/panomasks``, what the
    official evaluators are run on; ``datasets/prepare_vipseg.py`` makes them).

    Returns:
        ``(videos, kind)`` with kind ``'converted'`` or ``'raw'``.
    """
    converted, json_path = osp.join(root, CONVERTED_DIR), osp.join(root, VAL_JSON)
    if osp.isdir(converted) and osp.isfile(json_path):
        return _converted_videos(converted, json_path), 'converted'
    raw_dir = osp.join(root, RAW_DIR)
    if not osp.isdir(raw_dir):
        raise FileNotFoundError(f'{root}: no VIPSeg ground truth (expected {CONVERTED_DIR}/ + '
                                f'{VAL_JSON}, or {RAW_DIR}/ + val.txt)')
    names = read_split_list(find_split_list(root))
    videos = []
    for name in sorted(names):
        folder = osp.join(raw_dir, name)
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder}: video {name} of val.txt has no masks')
        files = list_pngs(folder)
        if not files:
            raise FileNotFoundError(f'{folder}: no *.png mask')
        videos.append(GTVideo(name, files, [osp.join(folder, f) for f in files], None, ''))
    return videos, 'raw'


def _converted_videos(folder: str, json_path: str) -> List[GTVideo]:
    data = load_json(json_path, 'VIPSeg ground-truth JSON')
    try:
        annotations = {a['video_id']: a['annotations'] for a in data['annotations']}
        videos = []
        for video in data['videos']:
            name = str(video['video_id'])
            file_names = [str(image['file_name']) for image in video['images']]
            entries = annotations.get(name)
            if entries is None or len(entries) != len(file_names):
                raise ValueError(f'{json_path}: video {name} lists {len(file_names)} images but '
                                 f'{0 if entries is None else len(entries)} annotations')
            videos.append(GTVideo(name, file_names,
                                  [osp.join(folder, name, f) for f in file_names],
                                  [e['segments_info'] for e in entries], json_path))
    except (KeyError, TypeError) as error:
        raise ValueError(f'{json_path}: not a VIPSeg panoptic video JSON (missing {error})') \
            from error
    return videos


def read_submission(submit_dir: str) -> Dict[str, list]:
    """``{video_id: per-frame annotations}`` of ``SUBMIT/pred.json`` (duplicates are errors)."""
    path = osp.join(submit_dir, 'pred.json')
    data = load_json(path, 'submission JSON (pred.json)')
    videos: Dict[str, list] = {}
    try:
        for entry in data['annotations']:
            name = str(entry['video_id'])
            if name in videos:
                raise ValueError(f'{path}: video {name} is listed twice (the official code '
                                 'silently keeps the last entry)')
            videos[name] = list(entry['annotations'])
    except (KeyError, TypeError) as error:
        raise ValueError(f'{path}: expected {{"annotations": [{{"video_id", "annotations": '
                         f'[{{"segments_info": [...]}}, ...]}}, ...]}} (missing {error})') \
            from error
    return videos


def pair_submission(submit_dir: str, videos: Sequence[GTVideo]) -> List[PredVideo]:
    """The submitted video of every ground-truth video (frames paired by position, each PNG
    named as the ground truth's ``file_name``)."""
    submitted = read_submission(submit_dir)
    json_path = osp.join(submit_dir, 'pred.json')
    paired = []
    for video in videos:
        entries = submitted.get(video.video_id)
        if entries is None:
            raise ValueError(f'{json_path}: video {video.video_id} of the ground truth is '
                             'missing')
        if len(entries) != len(video.file_names):
            raise ValueError(f'{json_path}: video {video.video_id} has {len(entries)} frame '
                             f'entries, the ground truth {len(video.file_names)}')
        try:
            segments = [e['segments_info'] for e in entries]
        except (KeyError, TypeError) as error:
            raise ValueError(f'{json_path}: video {video.video_id}: a frame entry lacks '
                             f'"segments_info"') from error
        pngs = [osp.join(submit_dir, 'pan_pred', video.video_id, name)
                for name in video.file_names]
        paired.append(PredVideo(video.video_id, pngs, segments, json_path))
    return paired


class VIPSegFormat(AnnotationFormat):
    """Raw VIPSeg masks (``seg_path``); listing: ``ROOT/panomasks/<video>/*.png`` of the videos
    in ``val.txt`` (``ROOT`` or its parent), keyed (video index in the list, frame index)."""

    name = 'vipseg'
    file_keys = ('seg_path', )

    def decode(self, files: Mapping[str, str],
               thing_ids: Sequence[int] = ()) -> Tuple[np.ndarray, np.ndarray]:
        """``(semantic, instance)``: (H, W) uint8 category ids, (H, W) int32 instance ids."""
        path = files['seg_path']
        return decode_raw(read_raw_mask(path), thing_ids, path)

    def read_segments(self, files: Mapping[str, str]) -> Tuple[np.ndarray, Dict[int, Segment]]:
        """Segment ids and listed segments of one frame, as the official evaluators see them
        (:func:`raw_segments`); the online benchmark metric reads the ground truth with it."""
        path = files['seg_path']
        return raw_segments(read_raw_mask(path), path)

    def find_frames(self, gt_dir: str) -> Dict[FrameKey, Dict[str, str]]:
        found: Dict[FrameKey, Dict[str, str]] = {}
        names = read_split_list(find_split_list(gt_dir))
        for seq, name in enumerate(names):
            folder = osp.join(gt_dir, RAW_DIR, name)
            if not osp.isdir(folder):
                raise FileNotFoundError(f'{folder}: video {name} of val.txt has no masks')
            for frame, file_name in enumerate(list_pngs(folder)):
                found[(seq, frame)] = dict(seg_path=osp.join(folder, file_name))
        if not found:
            raise FileNotFoundError(f'no VIPSeg masks under {gt_dir}/{RAW_DIR}')
        return found


register_format(VIPSegFormat())


def submission_ids(semantic: np.ndarray, track: np.ndarray,
                   ignore_label: int = 255) -> np.ndarray:
    """Segment ids of one predicted frame: ``(category + 1) << 16 | track id``, 0 where the
    semantic map holds ``ignore_label`` (see :func:`prediction_segments`)."""
    return prediction_segments(semantic, track, NUM_CATEGORIES, ignore_label)[0]


def frame_segments(ids: np.ndarray) -> List[dict]:
    """``segments_info`` of a frame of :func:`submission_ids` (increasing id; COCO ``bbox``
    ``[x, y, w, h]``)."""
    segments = []
    present, counts = np.unique(ids, return_counts=True)
    for seg_id, area in zip(present.tolist(), counts.tolist()):
        if seg_id == 0:
            continue
        rows, cols = np.nonzero(np.any(ids == seg_id, axis=1))[0], \
            np.nonzero(np.any(ids == seg_id, axis=0))[0]
        bbox = [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
                int(rows[-1] - rows[0] + 1)]
        segments.append(dict(id=int(seg_id), category_id=int((seg_id >> 16) - 1), iscrowd=0,
                             bbox=bbox, area=int(area)))
    return segments


def write_submission(submit_dir: str,
                     videos: Sequence[Tuple[str, Iterable[Tuple[str, np.ndarray, np.ndarray]]]],
                     ignore_label: int = 255, progress: bool = False) -> str:
    """Write an official VIPSeg submission: ``pan_pred/<video>/<frame>.png`` + ``pred.json``.

    Args:
        submit_dir: the submission folder (created; files are written atomically, pred.json
            last).
        videos: ``(video_id, frames)`` with frames ``(png name, semantic, track ids)``:
            (H, W) category ids (``ignore_label`` = no prediction) and track ids.
        ignore_label: the "no prediction" class of the semantic maps.
        progress: show a progress bar.

    Returns:
        the path of ``pred.json``.
    """
    entries = []
    iterator = videos
    if progress:
        from tqdm import tqdm
        iterator = tqdm(videos, desc='writing the VIPSeg submission', unit='video')
    for video_id, frames in iterator:
        annotations = []
        for name, semantic, track in frames:
            ids = submission_ids(semantic, track, ignore_label)
            write_png_atomic(osp.join(submit_dir, 'pan_pred', video_id, name),
                             np.ascontiguousarray(id2rgb(ids)[..., ::-1]))
            annotations.append(dict(segments_info=frame_segments(ids), file_name=name))
        entries.append(dict(video_id=video_id, annotations=annotations))
    path = osp.join(submit_dir, 'pred.json')
    write_text_atomic(path, json.dumps(dict(annotations=entries)))
    return path


def submission_from_results(results_dir: str, gt_root: str, submit_dir: str,
                            layout: str = 'knet', progress: bool = False,
                            split: str = 'val') -> str:
    """Turn a results folder of our layout (keys: video index in ``{split}.txt``, frame index
    in the sorted masks or images, as :class:`VIPSegFormat` and ``VIPSegDataset`` number them)
    into the official submission.

    Returns:
        the path of the written ``pred.json``.
    """
    results = get_layout(layout).find_frames(results_dir)
    names = read_split_list(find_split_list(gt_root, split))
    frame_names: Dict[int, List[str]] = {}
    for seq, frame in results:
        if seq >= len(names):
            raise ValueError(f'{results_dir}: sequence {seq} has no video in the split list of '
                             f'{gt_root} ({len(names)} videos)')
        if seq not in frame_names:
            images = osp.join(gt_root, IMAGE_DIR, names[seq])
            if osp.isdir(images):
                listed = list_images(images)
            else:  # a ground-truth-only copy (panomasks/ without images/)
                listed = list_pngs(osp.join(gt_root, RAW_DIR, names[seq]))
            frame_names[seq] = [osp.splitext(n)[0] + '.png' for n in listed]
        if frame >= len(frame_names[seq]):
            raise ValueError(f'{results_dir}: sequence {seq} frame {frame} has no frame in '
                             f'video {names[seq]}')
    reader = get_layout(layout)

    def frames_of(seq: int) -> Iterator[Tuple[str, np.ndarray, np.ndarray]]:
        for (s, frame), paths in results.items():
            if s == seq:
                semantic, track = reader.read_frame(paths)
                yield frame_names[seq][frame], semantic, track

    videos = [(names[seq], frames_of(seq)) for seq in sorted(frame_names)]  # read lazily
    return write_submission(submit_dir, videos, progress=progress)
