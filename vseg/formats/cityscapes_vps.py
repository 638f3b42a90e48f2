"""Cityscapes-VPS: the shipped ``cls`` / ``inst`` maps, the official conversion, ground truth,
submissions and the 6-frame chunks of the official VPQ.

This module follows VPSNet's ``tools/eval_vpq.py`` (loading, pairing, chunking) and
``prepare_data/create_panoptic_labels.py`` + ``prepare_data/create_panoptic_video_labels.py``
(the ground-truth conversion), repository mcahny/vps; the category table is the one of
``prepare_data/city_default.py``.

**Shipped ground truth** (``ROOT/val/``): ``cls/<image_id>_final_mask.png`` (or
``_gtFine_color.png`` for the 20th frame of a clip, the original Cityscapes annotation) is a
Cityscapes colour map, the class of a pixel being the category whose colour it has (channels 0-2;
any other colour is void); ``inst/<image_id>_*.png`` holds 16-bit Cityscapes instance ids
(``labelId * 1000 + k`` on things, the ``labelId`` on stuff and crowd, 0 void). ``image_id`` is
``VVVV_FFFF_<city>_<seq>_<frame>``: the clip, the frame inside the 30-frame clip, the Cityscapes
name; every 5th frame of a clip is labelled.

**The official conversion** (:func:`panoptic_values` then :class:`VideoLabeler`):

1. stuff pixels get their trainId (0..10) from the colour; then every instance value i >= 1000,
   in increasing order, takes the class of the most frequent colour code (R + 256 G + 65536 B)
   among its pixels, the smallest code winning a tie; an instance whose colour is a stuff colour
   or no category colour is skipped, the others paint ``trainId * 1000 + i % 1000`` over their
   pixels. Everything else stays 255 (void): thing-coloured pixels that no instance covers, i.e.
   **crowd regions, become void**;
2. one panopticapi ``IdGenerator`` for the whole split, the map from value to segment id reset
   at the first frame of every clip (``image_id[:4]``): a stuff category has the same id in every
   frame of the split, a thing value a new id in every clip. Segments are listed in increasing
   value, ``iscrowd`` 0, ``area`` = the pixel count.

The evaluator reads the converted ground truth (``val/panoptic_video/`` +
``panoptic_gt_val_city_vps.json``, :func:`gt_videos`) or converts the shipped maps in memory
(chunk by chunk, with ids of its own that give the same segments: stuff ``trainId + 1``, things
``(clip rank in the chunk + 1) * 100000 + value``). Frames are in sorted name order and, as in
the official script, cut by position into ``len // 6`` chunks (NumPy ``array_split`` sizes), each
chunk being one video of the VPQ windows whatever clips it holds; a chunk with more than one clip
is reported as a warning. Unlike the official script, the raw maps are paired by image id (not by
sorted position), and a ground-truth JSON out of order, a ``pred.json`` with the wrong number of
entries and fewer than 6 frames are errors that name the file.

**Annotation format** ``'cityscapes-vps'`` (:class:`CityscapesVPSFormat`, the training data and
the online metric): ``seg_path`` = the ``cls`` map, ``ins_path`` = the ``inst`` map of one frame.
A frame decodes to the values of step 1: semantic = trainId (255 void; crowd is void),
instance = ``k % 1000 + 1`` on things (so the object number 0 is an ordinary instance), 0
elsewhere. Its segments (:meth:`CityscapesVPSFormat.read_segments`) need no state across
frames: stuff ``trainId + 1``, things ``100000 + value``, i.e. the ids of
:func:`partition_ids` for a chunk of one clip. Frames are keyed ``(seq_id, frame_id)`` =
(the clip as a number, the rank of the labelled frame in its clip, from 0; :func:`frame_keys`):
a video of the online metric is one clip, which is the official chunk whenever every clip has
its 6 labelled frames (as in the released data).
"""
import functools
import json
import os
import os.path as osp
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..io import write_png_atomic, write_text_atomic
from ..layouts import get_layout
from .base import AnnotationFormat, FrameKey, register_format
from .panoptic_video import (
    IdGenerator,
    PredVideo,
    Segment,
    SegmentFrame,
    color2id,
    id2rgb,
    load_json,
    parse_segments,
    prediction_segments,
    read_segment_png,
    rgb2id,
)
from .vipseg import frame_segments

#: ``(name, supercategory, isthing, ori_id, (R, G, B))`` per trainId 0..18, as
#: ``city_default.py`` has them (its spelling "vegitation", and traffic sign with ``ori_id`` 21
#: where Cityscapes has 20; no figure depends on names or ``ori_id``).
CATEGORIES = (
    ('road', 'flat', 0, 7, (128, 64, 128)),
    ('sidewalk', 'flat', 0, 8, (244, 35, 232)),
    ('building', 'construction', 0, 11, (70, 70, 70)),
    ('wall', 'construction', 0, 12, (102, 102, 156)),
    ('fence', 'construction', 0, 13, (190, 153, 153)),
    ('pole', 'object', 0, 17, (153, 153, 153)),
    ('traffic light', 'object', 0, 19, (250, 170, 30)),
    ('traffic sign', 'object', 0, 21, (220, 220, 0)),
    ('vegitation', 'nature', 0, 21, (107, 142, 35)),
    ('terrain', 'nature', 0, 22, (152, 251, 152)),
    ('sky', 'sky', 0, 23, (70, 130, 180)),
    ('person', 'human', 1, 24, (220, 20, 60)),
    ('rider', 'human', 1, 25, (255, 0, 0)),
    ('car', 'vehicle', 1, 26, (0, 0, 142)),
    ('truck', 'vehicle', 1, 27, (0, 0, 70)),
    ('bus', 'vehicle', 1, 28, (0, 60, 100)),
    ('train', 'vehicle', 1, 31, (0, 80, 100)),
    ('motorcycle', 'vehicle', 1, 32, (0, 0, 230)),
    ('bicycle', 'vehicle', 1, 33, (119, 11, 32)),
)
#: The Cityscapes ``labelId`` of every trainId (what the ``inst`` maps hold; traffic sign 20).
LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
#: Void of the intermediate panoptic values.
VOID = 255
#: Instance values from this one on are things (``labelId * 1000 + k``).
INSTANCE_OFFSET = 1000
#: Frames per video of the official evaluator (hard-coded there).
FRAMES_PER_VIDEO = 6
#: Raw frames between two labelled frames.
FRAME_STEP = 5
#: Id stride of the clips in the in-memory conversion (things: ``(rank + 1) * stride + value``).
CLIP_ID_STRIDE = 100000
CLS_DIR, INST_DIR, PANOPTIC_INST_DIR, LABELMAP_DIR, CONVERTED_DIR = (
    'cls', 'inst', 'panoptic_inst', 'labelmap', 'panoptic_video')
#: Image-name suffixes and the ground-truth PNG suffixes the evaluator maps them to.
NEW_SUFFIX, ORIG_SUFFIX = '_newImg8bit.png', '_leftImg8bit.png'
NEW_MASK, ORIG_MASK = '_final_mask.png', '_gtFine_color.png'


def gt_json_name(split: str = 'val') -> str:
    """``panoptic_gt_{split}_city_vps.json``."""
    return f'panoptic_gt_{split}_city_vps.json'


def categories_table() -> Dict[int, dict]:
    """``{trainId: {'id', 'name', 'supercategory', 'isthing', 'instance_eval', 'trainid',
    'ori_id', 'color'}}`` of the 19 categories."""
    return {i: dict(id=i, name=name, supercategory=sup, isthing=isthing, instance_eval=isthing,
                    trainid=i, ori_id=ori_id, color=list(color))
            for i, (name, sup, isthing, ori_id, color) in enumerate(CATEGORIES)}


def image_id_of(name: str) -> str:
    """The image id of a file name: its first five '_'-separated fields
    (``VVVV_FFFF_<city>_<seq>_<frame>``)."""
    fields = name.split('_')
    if len(fields) < 6:
        raise ValueError(f'{name}: not a Cityscapes-VPS file name (expected VVVV_FFFF_<city>_'
                         '<seq>_<frame>_<suffix>.png)')
    return '_'.join(fields[:5])


def clip_of(image_id: str) -> str:
    """The clip of an image id (its first 4 characters, as the official conversion has it)."""
    return image_id[:4]


# ------------------------------------------------------------------ step 1: cls + inst -> values

def _read_array(path: str) -> Tuple[str, np.ndarray]:
    try:
        with Image.open(path) as image:
            return image.mode, np.array(image)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: file does not exist') from None
    except Exception as error:  # PIL raises many types for corrupt files
        raise ValueError(f'{path}: unreadable or corrupt PNG ({error})') from error


def read_cls(path: str) -> np.ndarray:
    """(H, W, 3) uint8 colours of a ``cls`` colour map (RGB or RGBA; alpha ignored)."""
    mode, array = _read_array(path)
    if mode not in ('RGB', 'RGBA') or array.ndim != 3:
        raise ValueError(f'{path}: expected an RGB (or RGBA) Cityscapes colour map, got PIL '
                         f'mode {mode!r}')
    return array[..., :3]


def read_inst(path: str) -> np.ndarray:
    """(H, W) int64 values of an ``inst`` map (single channel, 8 to 32 bit)."""
    mode, array = _read_array(path)
    if array.ndim != 2 or array.dtype.kind not in 'iu':
        raise ValueError(f'{path}: expected a single-channel 16-bit instance-id PNG, got PIL '
                         f'mode {mode!r}')
    return array.astype(np.int64)


def _class_of_codes(codes: np.ndarray,
                    categories: Mapping[int, Mapping[str, object]]) -> np.ndarray:
    """trainId of colour codes (-1 for a code that is no category colour)."""
    out = np.full(codes.shape, -1, dtype=np.int64)
    for cat_id, info in categories.items():
        out[codes == color2id(info['color'])] = cat_id  # type: ignore[arg-type]
    return out


def panoptic_values(cls_rgb: np.ndarray, inst: np.ndarray, path: str = '',
                    categories: Optional[Mapping[int, Mapping[str, object]]] = None
                    ) -> np.ndarray:
    """Step 1 of the official conversion for one frame (module docstring).

    Args:
        cls_rgb: (H, W, 3) colours of the ``cls`` map.
        inst: (H, W) instance values of the ``inst`` map.
        path: the frame's files, for error messages.
        categories: the category table (default :func:`categories_table`).

    Returns:
        (H, W) int64 values: trainId on stuff, ``trainId * 1000 + i % 1000`` on things, 255 void.
    """
    categories = categories if categories is not None else categories_table()
    if cls_rgb.shape[:2] != inst.shape:
        raise ValueError(f'{path}: cls map {cls_rgb.shape[1]}x{cls_rgb.shape[0]} and inst map '
                         f'{inst.shape[1]}x{inst.shape[0]} differ in size')
    codes = rgb2id(cls_rgb)
    unique, inverse = np.unique(codes, return_inverse=True)
    inverse = inverse.reshape(codes.shape)
    unique_class = _class_of_codes(unique, categories)
    is_thing = np.array([bool(categories[c]['isthing']) if c >= 0 else False
                         for c in unique_class.tolist()], dtype=bool)
    stuff_lut = np.where((unique_class >= 0) & ~is_thing, unique_class, VOID)
    pan = stuff_lut[inverse]
    things = inst >= INSTANCE_OFFSET
    if things.any():
        values = inst[things]
        code_index = inverse[things]
        keys, counts = np.unique(values * len(unique) + code_index, return_counts=True)
        key_inst, key_code = np.divmod(keys, len(unique))
        # per instance value: the largest count, the smallest code on a tie
        order = np.lexsort((key_code, -counts, key_inst))
        first = np.ones(len(order), dtype=bool)
        first[1:] = key_inst[order][1:] != key_inst[order][:-1]
        winners = order[first]
        win_inst, win_code = key_inst[winners], key_code[winners]
        win_class = unique_class[win_code]
        keep = (win_class >= 0) & is_thing[win_code]
        table = dict(zip(win_inst[keep].tolist(),
                         (win_class[keep] * INSTANCE_OFFSET + win_inst[keep] % INSTANCE_OFFSET)
                         .tolist()))
        inst_unique, inst_inverse = np.unique(values, return_inverse=True)
        lut = np.array([table.get(v, -1) for v in inst_unique.tolist()], dtype=np.int64)
        painted = lut[inst_inverse.reshape(-1)]
        thing_pan = pan[things]
        pan[things] = np.where(painted >= 0, painted, thing_pan)
    return pan


def labelmap(cls_rgb: np.ndarray,
             categories: Optional[Mapping[int, Mapping[str, object]]] = None) -> np.ndarray:
    """(H, W) uint8 trainIds of a colour map (255 void): the unused ``labelmap`` output."""
    categories = categories if categories is not None else categories_table()
    classes = _class_of_codes(rgb2id(cls_rgb), categories)
    return np.where(classes >= 0, classes, VOID).astype(np.uint8)


# ---------------------------------------------------------------- step 2: values -> segment ids

def _value_segment(value: int, categories: Mapping[int, Mapping[str, object]]
                   ) -> Optional[Tuple[int, int]]:
    """(category, iscrowd) of a panoptic value; None for a value that names no category."""
    category = value if value < INSTANCE_OFFSET else value // INSTANCE_OFFSET
    if category not in categories:
        return None
    crowd = int(value < INSTANCE_OFFSET and bool(categories[category]['isthing']))
    return category, crowd


def _frame_segments(pan: np.ndarray, categories: Mapping[int, Mapping[str, object]],
                    id_of) -> Tuple[np.ndarray, Dict[int, Segment]]:
    values, inverse, counts = np.unique(pan, return_inverse=True, return_counts=True)
    lut = np.zeros(len(values), dtype=np.int64)
    segments: Dict[int, Segment] = {}
    for index, (value, count) in enumerate(zip(values.tolist(), counts.tolist())):
        found = _value_segment(value, categories)
        if found is None:
            continue
        seg_id = id_of(value, found[0])
        lut[index] = seg_id
        segments[seg_id] = Segment(found[0], found[1], int(count))
    return lut[inverse.reshape(pan.shape)], segments


class VideoLabeler:
    """Step 2 of the official conversion: segment ids of a split's frames, fed in sorted order.

    Args:
        categories: the category table (default :func:`categories_table`).
        rng: generator of the thing colours (see :class:`IdGenerator`).
    """

    def __init__(self, categories: Optional[Mapping[int, Mapping[str, object]]] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        self.categories = categories if categories is not None else categories_table()
        self.generator = IdGenerator(self.categories, rng)
        self.clip: Optional[str] = None
        self.seen: Dict[int, int] = {}

    def label(self, image_id: str, pan: np.ndarray) -> Tuple[np.ndarray, Dict[int, Segment]]:
        """``(ids, segments)`` of one frame: (H, W) int64 segment ids (0 void) and ``{id:
        Segment}`` in increasing value."""
        if clip_of(image_id) != self.clip:
            self.clip, self.seen = clip_of(image_id), {}

        def id_of(value: int, category: int) -> int:
            if value not in self.seen:
                self.seen[value] = self.generator.get_id(category)
            return self.seen[value]

        return _frame_segments(pan, self.categories, id_of)


def partition_ids(pan: np.ndarray, clip_rank: int,
                  categories: Optional[Mapping[int, Mapping[str, object]]] = None
                  ) -> Tuple[np.ndarray, Dict[int, Segment]]:
    """The in-memory conversion of one frame: the segments of :class:`VideoLabeler` with ids of
    their own (stuff ``trainId + 1`` in every clip, other values ``(clip_rank + 1) * 100000 +
    value``)."""
    categories = categories if categories is not None else categories_table()

    def id_of(value: int, category: int) -> int:
        if not categories[category]['isthing'] and value < INSTANCE_OFFSET:
            return category + 1
        return (clip_rank + 1) * CLIP_ID_STRIDE + value

    return _frame_segments(pan, categories, id_of)


# ----------------------------------------------------------------------------- ground truth

class GTFrame(NamedTuple):
    """One labelled ground-truth frame (picklable).

    Attributes:
        image_id: ``VVVV_FFFF_<city>_<seq>_<frame>``.
        png: the ``panoptic_video`` PNG (converted) or the ``cls`` map (raw).
        inst: the ``inst`` map (raw); '' for converted ground truth.
        segments: the ``segments_info`` of the JSON (converted); None for raw maps.
        json: the ground-truth JSON; '' for raw maps.
    """

    image_id: str
    png: str
    inst: str
    segments: Optional[list]
    json: str


class GTVideo(NamedTuple):
    """One chunk of frames, a "video" of the official evaluator (picklable)."""

    video_id: str
    frames: List[GTFrame]

    @property
    def clips(self) -> List[str]:
        """The clips of the chunk, in order."""
        return list(dict.fromkeys(clip_of(f.image_id) for f in self.frames))

    def load(self) -> List[SegmentFrame]:
        """The frames, converted in memory from raw maps when needed."""
        out = []
        ranks = {clip: rank for rank, clip in enumerate(self.clips)}
        for frame in self.frames:
            if frame.segments is None:
                pan = panoptic_values(read_cls(frame.png), read_inst(frame.inst),
                                      f'{frame.png} + {frame.inst}')
                ids, segments = partition_ids(pan, ranks[clip_of(frame.image_id)])
                out.append(SegmentFrame(ids, segments, frame.png, ''))
            else:
                where = f'{frame.json}: image {frame.image_id}'
                out.append(SegmentFrame(read_segment_png(frame.png),
                                        parse_segments(frame.segments, where), frame.png,
                                        frame.json))
        return out


def mask_name(image_file: str) -> str:
    """The ground-truth PNG of an image file name, as the evaluator maps it
    (``_newImg8bit.png`` -> ``_final_mask.png``, ``_leftImg8bit.png`` -> ``_gtFine_color.png``)."""
    return image_file.replace(NEW_SUFFIX, NEW_MASK).replace(ORIG_SUFFIX, ORIG_MASK)


def image_name(mask_file: str) -> str:
    """The image file name of a ground-truth PNG name (inverse of :func:`mask_name`)."""
    image_id = mask_file.rsplit('_', 2)[0]
    return image_id + (ORIG_SUFFIX if mask_file.endswith(ORIG_MASK) else NEW_SUFFIX)


def chunk_bounds(num_frames: int, size: int = FRAMES_PER_VIDEO, where: str = ''
                 ) -> List[Tuple[int, int]]:
    """``(start, stop)`` of the official chunks: ``num_frames // size`` chunks, the first
    ``num_frames % chunks`` of them one frame longer (NumPy ``array_split``)."""
    chunks = num_frames // size
    if chunks == 0:
        raise ValueError(f'{where}: {num_frames} labelled frames in all, fewer than {size}; the '
                         f'official evaluator forms len // {size} = 0 videos and stops '
                         '(array_split ValueError)')
    base, extra = divmod(num_frames, chunks)
    bounds, start = [], 0
    for index in range(chunks):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def make_chunks(frames: Sequence[GTFrame], where: str) -> Tuple[List[GTVideo], List[str]]:
    """The chunks of :func:`chunk_bounds` as videos, and a warning per chunk with more than one
    clip."""
    videos, warnings = [], []
    for index, (start, stop) in enumerate(chunk_bounds(len(frames), where=where)):
        part = list(frames[start:stop])
        video = GTVideo(f'chunk {index} ({part[0].image_id} .. {part[-1].image_id})', part)
        clips = video.clips
        if len(clips) > 1:
            warnings.append(f'{where}: {video.video_id} holds frames {start}..{stop - 1} of '
                            f'clips {", ".join(clips)}; the official evaluator scores '
                            f'{FRAMES_PER_VIDEO}-frame chunks by position, so its windows span '
                            'those clips (stuff tubes run across the boundary, thing tubes '
                            'do not)')
        videos.append(video)
    return videos, warnings


def converted_frames(root: str, split: str) -> Tuple[List[GTFrame], Dict[int, dict]]:
    """The frames and categories of the converted ground truth of ``split`` (the JSON's
    images in order, each with its ``panoptic_video`` PNG and ``segments_info``); a JSON out
    of the official order is an error naming it."""
    json_path = osp.join(root, gt_json_name(split))
    folder = osp.join(root, split, CONVERTED_DIR)
    data = load_json(json_path, 'Cityscapes-VPS ground-truth JSON')
    try:
        images, annotations = list(data['images']), list(data['annotations'])
        categories = {int(c['id']): dict(c) for c in data['categories']}
        ids = [str(image['id']) for image in images]
        masks = [mask_name(str(image['file_name'])) for image in images]
        annotation_ids = [str(a['image_id']) for a in annotations]
        segments = [a['segments_info'] for a in annotations]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{json_path}: not a Cityscapes-VPS panoptic JSON ({{"images": [{{"id",'
                         f' "file_name"}}], "annotations": [{{"image_id", "segments_info"}}], '
                         f'"categories"}}; problem: {error!r})') from error
    if len(annotations) != len(images):
        raise ValueError(f'{json_path}: {len(images)} images but {len(annotations)} annotations '
                         '(the official evaluator pairs them by position and would silently '
                         'drop the extra ones)')
    for index, (image_id, annotation_id) in enumerate(zip(ids, annotation_ids)):
        if image_id != annotation_id:
            raise ValueError(f'{json_path}: annotation {index} is for image {annotation_id} but '
                             f'image {index} is {image_id}; the annotations must be in the order '
                             'of the images (the official evaluator pairs them by position)')
    for index in range(1, len(masks)):
        if masks[index] <= masks[index - 1]:
            raise ValueError(f'{json_path}: the images are not in sorted file-name order '
                             f'({masks[index - 1]} before {masks[index]}, image {index}); the '
                             'official evaluator sorts the ground-truth PNGs and would pair them '
                             'with the wrong annotations')
    frames = [GTFrame(i, osp.join(folder, m), '', s, json_path)
              for i, m, s in zip(ids, masks, segments)]
    return frames, categories


def _by_image_id(folder: str) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        if '.png' not in name or name.startswith('.'):
            continue
        image_id = image_id_of(name)
        if image_id in found:
            raise ValueError(f'{osp.join(folder, name)}: a second file of image {image_id} '
                             f'(also {found[image_id]})')
        found[image_id] = name
    return found


def raw_pairs(root: str, split: str = 'val') -> List[Tuple[str, str, str]]:
    """``(image_id, cls path, inst path)`` of the shipped maps, paired by image id, in sorted
    ``cls`` name order.

    Raises:
        ValueError: a file whose image id has no file in the other folder, naming it.
    """
    cls_dir, inst_dir = osp.join(root, split, CLS_DIR), osp.join(root, split, INST_DIR)
    for folder in (cls_dir, inst_dir):
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder}: missing folder of the Cityscapes-VPS maps')
    cls_files, inst_files = _by_image_id(cls_dir), _by_image_id(inst_dir)
    for folder, here, other, there in ((cls_dir, cls_files, inst_dir, inst_files),
                                       (inst_dir, inst_files, cls_dir, cls_files)):
        for image_id, name in here.items():
            if image_id not in there:
                raise ValueError(f'{osp.join(folder, name)}: no file of image {image_id} in '
                                 f'{other} (cls and inst maps are paired by image id; the '
                                 'official conversion pairs them by sorted position and would '
                                 'silently mis-pair them)')
    ordered = sorted(cls_files.items(), key=lambda item: item[1])
    return [(i, osp.join(cls_dir, n), osp.join(inst_dir, inst_files[i])) for i, n in ordered]


def gt_videos(root: str, split: str = 'val'
              ) -> Tuple[List[GTVideo], Dict[int, dict], str, List[str]]:
    """The ground truth under ``root`` as the official evaluator's videos.

    ``root`` holds the converted ground truth (``{split}/panoptic_video/`` +
    ``panoptic_gt_{split}_city_vps.json``; preferred) or the shipped ``{split}/cls/`` +
    ``{split}/inst/`` (converted in memory).

    Returns:
        ``(chunks, categories, kind, warnings)``; kind ``'converted'`` or ``'raw'``.
    """
    json_path = osp.join(root, gt_json_name(split))
    if osp.isdir(osp.join(root, split, CONVERTED_DIR)) and osp.isfile(json_path):
        frames, categories = converted_frames(root, split)
        kind, where = 'converted', json_path
    elif osp.isdir(osp.join(root, split, CLS_DIR)) or osp.isdir(osp.join(root, split, INST_DIR)):
        frames = [GTFrame(i, c, n, None, '') for i, c, n in raw_pairs(root, split)]
        categories, kind = categories_table(), 'raw'
        where = osp.join(root, split, CLS_DIR)
    else:
        raise FileNotFoundError(f'{root}: no Cityscapes-VPS ground truth (expected '
                                f'{split}/{CONVERTED_DIR}/ + {gt_json_name(split)}, or '
                                f'{split}/{CLS_DIR}/ + {split}/{INST_DIR}/)')
    videos, warnings = make_chunks(frames, where)
    return videos, categories, kind, warnings


# ------------------------------------------------------------------------------ submission

def pair_submission(submit_dir: str, videos: Sequence[GTVideo]) -> List[PredVideo]:
    """The submitted frames of every chunk: entry i of ``pred.json`` and
    ``pan_pred/<image_id>.png`` of ground-truth image i.

    Raises:
        ValueError: ``pred.json`` is malformed or has another number of entries than the ground
            truth has images (naming it and both counts).
    """
    path = osp.join(submit_dir, 'pred.json')
    data = load_json(path, 'submission JSON (pred.json)')
    try:
        segments = [entry['segments_info'] for entry in data['annotations']]
    except (KeyError, TypeError) as error:
        raise ValueError(f'{path}: expected {{"annotations": [{{"segments_info": [...]}}, ...]}}'
                         f', one entry per ground-truth image in order (missing {error})') \
            from error
    total = sum(len(v.frames) for v in videos)
    if len(segments) != total:
        raise ValueError(f'{path}: {len(segments)} entries, but the ground truth has {total} '
                         'images (one entry per image, in ground-truth order; the official '
                         'evaluator silently truncates or ignores the difference)')
    paired, start = [], 0
    for video in videos:
        stop = start + len(video.frames)
        pngs = [osp.join(submit_dir, 'pan_pred', f.image_id + '.png') for f in video.frames]
        paired.append(PredVideo(video.video_id, pngs, segments[start:stop], path))
        start = stop
    return paired


# ------------------------------------------------------------ frame keys, annotation format

#: How the frames of a clip are numbered and which are listed: ``'labelled'`` (the 6 labelled
#: frames, ``frame_id`` = rank 0..5) or ``'all'`` (every raw frame, ``frame_id`` = ``FFFF``).
FRAME_MODES = ('labelled', 'all')


def check_frame_mode(frames: str, where: str = 'frames') -> str:
    """``frames`` if it is one of :data:`FRAME_MODES`, else a ValueError naming ``where``."""
    if frames not in FRAME_MODES:
        raise ValueError(f'{where}={frames!r}: expected one of {list(FRAME_MODES)}')
    return frames


def frame_keys(frames: Sequence[Tuple[str, str]], numbering: str = 'labelled'
               ) -> Dict[str, FrameKey]:
    """``{image_id: (seq_id, frame_id)}``: ``seq_id`` = the clip (``VVVV``) as a number,
    ``frame_id`` = the frame's rank among the given frames of its clip (by ``FFFF``, from 0;
    ``numbering='labelled'``, for the labelled frames) or the frame number ``FFFF`` itself
    (``numbering='all'``, for every raw frame).

    Args:
        frames: ``(image_id, path)`` per frame (the path names errors).
        numbering: ``'labelled'`` or ``'all'`` (:data:`FRAME_MODES`).

    Raises:
        ValueError: an image id whose clip or frame field is not a number, or two files of one
            clip with the same frame number, naming the file(s).
    """
    check_frame_mode(numbering, 'numbering')
    by_clip: Dict[int, List[Tuple[int, str, str]]] = {}
    for image_id, path in frames:
        fields = image_id.split('_')
        clip_field, frame_field = fields[0], fields[1] if len(fields) > 1 else ''
        if len(clip_field) != 4 or not clip_field.isdigit() or not frame_field.isdigit():
            raise ValueError(f'{path}: image id {image_id!r} does not start with a 4-digit clip '
                             'and a frame number (VVVV_FFFF_<city>_<seq>_<frame>)')
        by_clip.setdefault(int(clip_field), []).append((int(frame_field), image_id, path))
    keys: Dict[str, FrameKey] = {}
    for clip, members in by_clip.items():
        members.sort()
        for rank, (frame, image_id, path) in enumerate(members):
            if rank and frame == members[rank - 1][0]:
                raise ValueError(f'{path} and {members[rank - 1][2]}: two labelled files of clip '
                                 f'{clip:04d} with frame number {frame}')
            keys[image_id] = (clip, rank if numbering == 'labelled' else frame)
    return keys


def frame_values(files: Mapping[str, str]) -> np.ndarray:
    """Step-1 values (:func:`panoptic_values`) of one frame's ``seg_path`` (``cls``) and
    ``ins_path`` (``inst``) files."""
    cls_path, inst_path = files['seg_path'], files['ins_path']
    return panoptic_values(read_cls(cls_path), read_inst(inst_path), f'{cls_path} + {inst_path}')


def decode_values(pan: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Step-1 values -> ``(semantic, instance)``: (H, W) uint8 trainIds (255 void) and (H, W)
    int32 instance ids ``k % 1000 + 1`` on things, 0 elsewhere."""
    things = pan >= INSTANCE_OFFSET
    semantic = np.where(things, pan // INSTANCE_OFFSET, pan).astype(np.uint8)
    instance = np.where(things, pan % INSTANCE_OFFSET + 1, 0).astype(np.int32)
    return semantic, instance


def split_folder(gt_dir: str, split: str = 'val') -> Tuple[str, str]:
    """``(root, split)`` of a ground-truth folder given as the dataset root (``gt_dir/{split}/
    cls``) or as the split folder itself (``gt_dir/cls``)."""
    if osp.isdir(osp.join(gt_dir, CLS_DIR)) or osp.isdir(osp.join(gt_dir, INST_DIR)):
        path = osp.abspath(gt_dir)
        return osp.dirname(path), osp.basename(path)
    if osp.isdir(osp.join(gt_dir, split, CLS_DIR)) or osp.isdir(osp.join(gt_dir, split, INST_DIR)):
        return gt_dir, split
    raise FileNotFoundError(f'{gt_dir}: no Cityscapes-VPS maps (expected {split}/{CLS_DIR}/ + '
                            f'{split}/{INST_DIR}/, or {CLS_DIR}/ + {INST_DIR}/ in a split folder)')


class CityscapesVPSFormat(AnnotationFormat):
    """The shipped ``cls`` colour map (``seg_path``) + ``inst`` map (``ins_path``) of a frame
    (module docstring); listing: ``ROOT/val/cls`` + ``ROOT/val/inst`` (or a split folder),
    keyed by :func:`frame_keys`."""

    name = 'cityscapes-vps'
    file_keys = ('seg_path', 'ins_path')
    #: The trainIds of the things in the official category table.
    thing_ids = tuple(i for i, c in enumerate(CATEGORIES) if c[2])

    def decode(self, files: Mapping[str, str],
               thing_ids: Sequence[int] = ()) -> Tuple[np.ndarray, np.ndarray]:
        """``(semantic, instance)`` of :func:`decode_values`; ``thing_ids`` (if given) must be
        the eight Cityscapes things, on which the official conversion's rules depend."""
        if len(thing_ids) and sorted(int(t) for t in thing_ids) != list(self.thing_ids):
            raise ValueError(f"{files['seg_path']}: the cityscapes-vps format has the things "
                             f'{list(self.thing_ids)} (trainIds of the official table), got '
                             f'thing_ids {list(thing_ids)}')
        return decode_values(frame_values(files))

    def read_segments(self, files: Mapping[str, str]) -> Tuple[np.ndarray, Dict[int, Segment]]:
        """Segment ids and listed segments of one frame, with ids that need no state: stuff
        ``trainId + 1``, things ``100000 + value`` (:func:`partition_ids`). Within one clip
        they are the official segments (partition, categories, areas, order)."""
        return partition_ids(frame_values(files), 0)

    def find_frames(self, gt_dir: str) -> Dict[FrameKey, Dict[str, str]]:
        return self._frames(gt_dir, 'labelled')

    def find_all_frames(self, gt_dir: str) -> Dict[FrameKey, Dict[str, str]]:
        """The labelled frames keyed ``(clip, FFFF)``: results of ``frames='all'``."""
        return self._frames(gt_dir, 'all')

    def _frames(self, gt_dir: str, numbering: str) -> Dict[FrameKey, Dict[str, str]]:
        root, split = split_folder(gt_dir)
        pairs = raw_pairs(root, split)
        if not pairs:
            raise FileNotFoundError(f'no Cityscapes-VPS maps in {osp.join(root, split, CLS_DIR)}')
        keys = frame_keys([(image_id, cls) for image_id, cls, _ in pairs], numbering)
        return dict(sorted((keys[image_id], dict(seg_path=cls, ins_path=inst))
                           for image_id, cls, inst in pairs))


register_format(CityscapesVPSFormat())


class _JsonIndex(NamedTuple):
    """A converted ground-truth JSON, indexed for per-frame decoding."""

    #: mask file name -> (image id, segments_info)
    frames: Dict[str, Tuple[str, list]]
    #: thing category ids of the JSON's table
    things: frozenset
    #: clip -> {thing segment id: instance number 1..N in order of first listing}
    instances: Dict[str, Dict[int, int]]


@functools.lru_cache(maxsize=8)
def _json_index(path: str, stamp: Tuple[int, int]) -> _JsonIndex:
    """Index of ``path`` (``stamp`` = mtime and size: a rewritten file is read again)."""
    data = load_json(path, 'Cityscapes-VPS ground-truth JSON')
    try:
        names = {str(image['id']): mask_name(str(image['file_name']))
                 for image in data['images']}
        things = frozenset(int(c['id']) for c in data['categories'] if c.get('isthing'))
        frames: Dict[str, Tuple[str, list]] = {}
        instances: Dict[str, Dict[int, int]] = {}
        for entry in data['annotations']:
            image_id = str(entry['image_id'])
            segments = list(entry['segments_info'])
            frames[names[image_id]] = (image_id, segments)
            numbers = instances.setdefault(clip_of(image_id), {})
            for segment in segments:
                if int(segment['category_id']) in things and not segment.get('iscrowd', 0):
                    numbers.setdefault(int(segment['id']), len(numbers) + 1)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{path}: not a Cityscapes-VPS panoptic JSON ({{"images": [{{"id", '
                         f'"file_name"}}], "annotations": [{{"image_id", "segments_info"}}], '
                         f'"categories"}}; problem: {error!r})') from error
    return _JsonIndex(frames, things, instances)


def converted_frame(files: Mapping[str, str]) -> Tuple[str, np.ndarray, Dict[int, Segment],
                                                       _JsonIndex]:
    """``(image_id, ids, segments, index)`` of one converted frame: ``seg_path`` = its
    ``panoptic_video`` PNG, ``ann_path`` = the ground-truth JSON listing it.

    Raises:
        ValueError: the JSON does not list the PNG, or the PNG holds an id that its entry does
            not list, naming the files.
    """
    png, ann = files['seg_path'], files['ann_path']
    try:
        stat = os.stat(ann)
    except FileNotFoundError:
        raise FileNotFoundError(f'{ann}: file does not exist (ground truth of {png})') from None
    index = _json_index(ann, (stat.st_mtime_ns, stat.st_size))
    name = osp.basename(png)
    if name not in index.frames:
        raise ValueError(f'{ann}: lists no image whose mask is {name} ({png})')
    image_id, entries = index.frames[name]
    segments = parse_segments(entries, f'{ann}: image {image_id}')
    ids = read_segment_png(png)
    unlisted = sorted(set(np.unique(ids).tolist()) - set(segments) - {0})
    if unlisted:
        raise ValueError(f'{png}: segment id(s) {unlisted[:5]} are not listed for image '
                         f'{image_id} in {ann}')
    return image_id, ids, segments, index


class CityscapesVPSPanopticFormat(AnnotationFormat):
    """The converted ground truth (``panoptic_video/`` PNG = ``seg_path`` + the split's JSON =
    ``ann_path``, what ``datasets/prepare_cityscapes_vps.py`` and VPSNet's scripts write).

    A frame decodes to semantic = the category (trainId) of each listed segment (255 where
    nothing is listed) and, on non-crowd thing segments, instance = the segment's number in its
    clip (1, 2, ... in order of first listing in the JSON, the same in every frame of the
    clip); its segments are those of the JSON, with the PNG's ids, which are stable within a
    clip (stuff: within the split), as the official evaluator reads them.
    """

    name = 'cityscapes-vps-panoptic'
    file_keys = ('seg_path', 'ann_path')

    def decode(self, files: Mapping[str, str],
               thing_ids: Sequence[int] = ()) -> Tuple[np.ndarray, np.ndarray]:
        image_id, ids, segments, index = converted_frame(files)
        if len(thing_ids) and set(int(t) for t in thing_ids) != index.things:
            raise ValueError(f"{files['ann_path']}: its things are {sorted(index.things)}, got "
                             f'thing_ids {list(thing_ids)}')
        numbers = index.instances.get(clip_of(image_id), {})
        values, inverse = np.unique(ids, return_inverse=True)
        semantic_lut = np.full(len(values), VOID, np.int64)
        instance_lut = np.zeros(len(values), np.int32)
        for k, seg_id in enumerate(values.tolist()):
            if seg_id in segments:
                semantic_lut[k] = segments[seg_id].category_id
                instance_lut[k] = numbers.get(seg_id, 0)
        inverse = inverse.reshape(ids.shape)
        return semantic_lut[inverse].astype(np.uint8), instance_lut[inverse]

    def read_segments(self, files: Mapping[str, str]) -> Tuple[np.ndarray, Dict[int, Segment]]:
        """The PNG's segment ids and the JSON's segments of the frame."""
        _, ids, segments, _ = converted_frame(files)
        return ids, segments


register_format(CityscapesVPSPanopticFormat())


# ------------------------------------------------------------------ submission from results

def submission_from_results(results_dir: str, gt_root: str, submit_dir: str,
                            layout: str = 'knet', progress: bool = False,
                            split: str = 'val', frames: str = 'labelled') -> str:
    """Write the official submission (``pan_pred/<image_id>.png`` + ``pred.json``, one entry
    per ground-truth image in ground-truth order) from a results folder of our layout.

    Result keys are the dataset's ``(seq_id, frame_id)`` (:func:`frame_keys` with numbering
    ``frames``); predicted segment ids are ``(class + 1) << 16 | track id``
    (:func:`prediction_segments`). With ``frames='all'`` the results hold every raw frame (the
    tracker saw the whole clip) and only the labelled ones are written.

    Args:
        results_dir: the results (layout ``layout``).
        gt_root: the dataset root: converted ground truth or the shipped ``cls`` / ``inst``
            maps of ``split`` (what :func:`gt_videos` reads).
        submit_dir: the submission folder (files written atomically, ``pred.json`` last).
        layout: the results layout.
        progress: show a progress bar.
        split: the split the results are of.
        frames: how the results number the frames (:data:`FRAME_MODES`, the dataset's
            ``frames``): ``'labelled'`` (frame = rank among the labelled frames of the clip)
            or ``'all'`` (frame = the raw frame number; unlabelled frames are skipped).

    Returns:
        the path of the written ``pred.json``.

    Raises:
        ValueError: a result that is no labelled frame of the split (``'labelled'``), or a
            labelled frame without its result, naming it and the other numbering if that fits.
    """
    check_frame_mode(frames)
    videos, _, _, _ = gt_videos(gt_root, split)
    labelled = [frame for video in videos for frame in video.frames]
    keys = frame_keys([(f.image_id, f.png) for f in labelled], frames)
    reader = get_layout(layout)
    results = reader.find_frames(results_dir)
    wanted = {keys[f.image_id]: f for f in labelled}
    other = 'all' if frames == 'labelled' else 'labelled'
    as_other = frame_keys([(f.image_id, f.png) for f in labelled], other).values()
    hint = (f"; the results look numbered as frames={other!r} (--frames {other})"
            if set(as_other) <= set(results) else '')
    extra = sorted(set(results) - set(wanted))
    if extra and frames == 'labelled':
        raise ValueError(f'{results_dir}: sequence {extra[0][0]} frame {extra[0][1]} is no '
                         f'labelled frame of split {split} of {gt_root} ({len(extra)} such '
                         'results; sequence = clip, frame = index among its labelled frames)'
                         + hint)
    missing = [key for key in wanted if key not in results]
    if missing:
        seq, frame_id = missing[0]
        numbering = ('index among its labelled frames' if frames == 'labelled'
                     else 'raw frame number')
        raise ValueError(f'{results_dir}: no result for sequence {seq} frame {frame_id} (image '
                         f'{wanted[missing[0]].image_id}, frame = {numbering}) and '
                         f'{len(missing) - 1} more; the official pred.json needs every labelled '
                         'frame of the split' + hint)
    iterator: Sequence[GTFrame] = labelled
    if progress:
        from tqdm import tqdm
        iterator = tqdm(labelled, desc='writing the Cityscapes-VPS submission', unit='frame')
    entries = []
    for frame in iterator:
        semantic, track = reader.read_frame(results[keys[frame.image_id]])
        ids = prediction_segments(semantic, track, len(CATEGORIES), VOID)[0]
        name = frame.image_id + '.png'
        write_png_atomic(osp.join(submit_dir, 'pan_pred', name),
                         np.ascontiguousarray(id2rgb(ids)[..., ::-1]))  # cv2 writes BGR
        entries.append(dict(image_id=frame.image_id, file_name=name,
                            segments_info=frame_segments(ids)))
    path = osp.join(submit_dir, 'pred.json')
    write_text_atomic(path, json.dumps(dict(annotations=entries)))
    return path
