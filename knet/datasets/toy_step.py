"""Synthetic KITTI-STEP: deterministic toy road scenes in the exact KITTI-STEP layout/encoding.

The layout ``video_sequence/{split}/{seq:06d}_{frame:06d}_{leftImg8bit,panoptic}.png`` and the
panoptic PNG encoding R = trainId, G*256+B = instance id of docs/data_formats.md, the 19 STEP
classes (person and car are things). Written for the CPU demo: a tiny K-Net must learn it in
minutes, so every class has its own strong colour and texture, regions are large and clean, and
train and val share one generation process. Each frame holds 2-4 thing instances (an anchor car and
an anchor person that stay in view, plus passing cars/persons that enter and leave the view); they
move smoothly, keep their ids for the whole sequence and occlude each other.

Scene (fractions of the default 128x416 frame, scaled with ``size``): sky on top; a facade band
with one segment of each of building, wall, fence, vegetation, terrain, truck, bus and train;
two poles carrying a traffic light and a traffic sign; a sidewalk; the road; a rider on a
motorcycle and a bicycle (all stuff in STEP); cars and persons; a void "ego hood" at the bottom.
The camera pans slowly. Visible thing fragments smaller than 15x15 px (scaled) are labelled
void. Same arguments -> byte-identical files. The generator owns its output folder (a marker
with its arguments; DATASET.md, "Synthetic KITTI-STEP").
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from knet.structures import IGNORE_LABEL, encode_step_png
from vseg.folders import claim_folder, folder_complete
from vseg.formats import cityscapes_vps as vps
from vseg.io import write_bytes_atomic, write_png_atomic, write_text_atomic
from vseg.metainfo import VIPSEG_CATEGORIES
from .step_metainfo import STEP_CLASSES, STEP_THING_IDS

BASE_SIZE = (128, 416)
#: name -> (RGB colour, texture kind, texture amplitude, texture period in base pixels).
APPEARANCE: Dict[str, Tuple[Tuple[int, int, int], str, float, float]] = {
    'road': ((128, 128, 128), 'speckle', 12, 1), 'sidewalk': ((205, 175, 125), 'checker', 18, 10),
    'building': ((125, 65, 35), 'windows', 40, 12), 'wall': ((235, 150, 185), 'hstripes', 22, 6),
    'fence': ((105, 75, 170), 'vstripes', 35, 6), 'pole': ((245, 245, 245), 'flat', 0, 1),
    'traffic light': ((250, 135, 0), 'hstripes', 35, 8),
    'traffic sign': ((0, 90, 210), 'flat', 0, 1),
    'vegetation': ((25, 135, 55), 'blobs', 30, 9), 'terrain': ((155, 195, 10), 'speckle', 25, 1),
    'sky': ((165, 205, 245), 'gradient', 15, 60), 'person': ((255, 215, 0), 'flat', 0, 1),
    'rider': ((205, 40, 125), 'vstripes', 20, 4), 'car': ((215, 10, 25), 'flat', 0, 1),
    'truck': ((35, 65, 35), 'hstripes', 25, 10), 'bus': ((0, 200, 200), 'windows', 40, 14),
    'train': ((90, 40, 95), 'diagonal', 30, 10), 'motorcycle': ((15, 15, 95), 'flat', 0, 1),
    'bicycle': ((0, 230, 125), 'vstripes', 25, 3)}
#: Facade classes with the range of their top edge (fraction of the height).
FACADE = (('building', 0.08, 0.22), ('wall', 0.35, 0.42), ('fence', 0.38, 0.45),
          ('vegetation', 0.15, 0.30), ('terrain', 0.42, 0.48), ('truck', 0.28, 0.36),
          ('bus', 0.26, 0.34), ('train', 0.30, 0.36))
VOID_RGB = (20, 20, 20)


def _cls(name: str) -> int:
    """Dataset class id of a class name (from the STEP metainfo)."""
    return STEP_CLASSES.index(name)


def texture(kind: str, yy: np.ndarray, xx: np.ndarray, period: float) -> np.ndarray:
    """Pattern in [-1, 1] evaluated at integer pixel coordinates ``yy``, ``xx`` (same shape)."""
    period = max(period, 2.0)
    if kind == 'flat':
        return np.zeros(np.broadcast(yy, xx).shape, np.float32)
    if kind == 'speckle':
        value = np.sin(xx * 12.9898 + yy * 78.233) * 43758.5453
        return (2 * (value - np.floor(value)) - 1).astype(np.float32)
    if kind == 'checker':
        return (2 * ((xx // period + yy // period) % 2) - 1).astype(np.float32)
    if kind == 'hstripes':
        return np.sign(np.sin(2 * np.pi * (yy + 0.5) / period) + 0 * xx).astype(np.float32)
    if kind == 'vstripes':
        return np.sign(np.sin(2 * np.pi * (xx + 0.5) / period) + 0 * yy).astype(np.float32)
    if kind == 'diagonal':
        return np.sign(np.sin(2 * np.pi * (xx + yy + 0.5) / period)).astype(np.float32)
    if kind == 'windows':
        inside = ((xx % period) < period / 2) & ((yy % period) < period / 2)
        return np.where(inside, -1.0, 0.3).astype(np.float32)
    if kind == 'blobs':
        value = np.sin(xx / period + 2 * np.sin(yy / period)) * np.cos(yy / period * 1.3)
        return value.astype(np.float32)
    if kind == 'gradient':
        return np.clip(1 - 2 * yy / period + 0 * xx, -1, 1).astype(np.float32)
    raise ValueError(f'unknown texture kind {kind!r}')


def paint(name: str, yy: np.ndarray, xx: np.ndarray, scale: float) -> np.ndarray:
    """(..., 3) float32 RGB of class ``name`` at pixel coordinates ``yy``, ``xx``."""
    rgb, kind, amplitude, period = APPEARANCE[name]
    pattern = texture(kind, yy, xx, period * scale)
    return np.asarray(rgb, np.float32) + amplitude * pattern[..., None]


def _border(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels of ``mask`` within ``width`` px of its outside (4-neighbourhood erosion)."""
    inner = mask.copy()
    for _ in range(width):
        padded = np.pad(inner, 1)
        inner = (inner & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2]
                 & padded[1:-1, 2:])
    return mask & ~inner


@dataclass
class _Object:
    """A moving object: class, instance id (0 for stuff), local mask/colours, motion.

    The left edge moves as ``x0 + speed * t``; bouncing objects reflect inside
    ``[0, image_w - span_w]`` (``span_w`` defaults to the object width), then shift by ``dx``
    (a rider follows its motorcycle with the motorcycle's span and an offset).
    """
    name: str
    inst: int
    mask: np.ndarray
    patch: np.ndarray
    x0: float = 0.0
    speed: float = 0.0
    bottom: int = 0
    bounce: bool = False
    dx: float = 0.0
    span_w: Optional[int] = None

    def left(self, t: int, width: int) -> int:
        """Left x at frame ``t`` in an image ``width`` pixels wide."""
        x = self.x0 + self.speed * t
        if self.bounce:
            span = max(width - (self.span_w or self.mask.shape[1]), 1)
            x = span - abs(x % (2 * span) - span)
        return int(round(x + self.dx))


def _shape(kind: str, h: int, w: int) -> np.ndarray:
    """Local (h, w) bool mask of an object shape."""
    yy, xx = np.mgrid[:h, :w]
    if kind == 'car':
        return (yy >= 0.38 * h) | ((xx >= 0.2 * w) & (xx < 0.8 * w))
    if kind == 'human':
        radius = 0.33 * w
        head = (yy - radius) ** 2 + (xx - w / 2) ** 2 <= radius ** 2
        return head | ((yy >= 1.6 * radius) & (xx >= 0.12 * w) & (xx < 0.88 * w))
    cy, cx = (h - 1) / 2, (w - 1) / 2
    return ((yy - cy) / (h / 2)) ** 2 + ((xx - cx) / (w / 2)) ** 2 <= 1.0


def _make_object(name: str, inst: int, size: Tuple[int, int], scale: float) -> _Object:
    """Object ``name`` of size (h, w) with its mask and texture patch (motion set later)."""
    h, w = max(size[0], 3), max(size[1], 3)
    kind = {'car': 'car', 'person': 'human', 'rider': 'human'}.get(name, 'ellipse')
    mask = _shape(kind, h, w)
    yy, xx = np.mgrid[:h, :w]
    patch = paint(name, yy, xx, scale)
    if name == 'car':
        patch[(yy < 0.38 * h) & mask] *= 0.55
    elif name == 'person':
        patch[yy >= 0.62 * h] *= 0.8
    patch[_border(mask, max(1, int(round(1.5 * scale))))] *= 0.45
    return _Object(name, inst, mask, patch)


class _Sequence:
    """Random layout and objects of one sequence; renders its frames."""

    def __init__(self, rng: np.random.Generator, size: Tuple[int, int], frames: int) -> None:
        self.rng, self.frames = rng, frames
        self.h, self.w = size
        self.sx, self.sy = self.w / BASE_SIZE[1], self.h / BASE_SIZE[0]
        self.scale = min(self.sx, self.sy)
        speed = rng.uniform(0.0, 1.4) * self.sx
        self.pan = [int(round(speed * t)) for t in range(frames)]
        if rng.random() < 0.5:
            self.pan = [self.pan[-1] - p for p in self.pan]
        self.world_w = self.w + max(self.pan) + 1
        self.facade_bottom = int(round((0.58 + rng.uniform(-0.03, 0.03)) * self.h))
        self.sidewalk_bottom = self.facade_bottom + int(round(0.10 * self.h))
        self.hood = max(1, int(round(0.05 * self.h)))
        self.world_sem, self.world_img = self._world()
        self.objects = self._stuff_movers() + self._things()

    def _world(self) -> Tuple[np.ndarray, np.ndarray]:
        """Static stuff over the panned world strip: (H, Ww) class ids and (H, Ww, 3) colours."""
        h, ww, rng = self.h, self.world_w, self.rng
        sem = np.full((h, ww), _cls('sky'), np.uint8)
        order = rng.permutation(len(FACADE))
        widths = rng.uniform(0.8, 1.2, len(order))
        edges = np.round(np.concatenate([[0], np.cumsum(widths) / widths.sum() * ww])).astype(int)
        for (start, stop), idx in zip(zip(edges[:-1], edges[1:]), order):
            name, low, high = FACADE[idx]
            sem[int(rng.uniform(low, high) * h):self.facade_bottom, start:stop] = _cls(name)
        sem[self.facade_bottom:self.sidewalk_bottom] = _cls('sidewalk')
        sem[self.sidewalk_bottom:] = _cls('road')
        for lo, hi, device in ((0.08, 0.40, 'traffic light'), (0.58, 0.88, 'traffic sign')):
            self._pole(sem, int(rng.uniform(lo, hi) * self.w), device)
        yy, xx = np.mgrid[:h, :ww]
        img = np.zeros((h, ww, 3), np.float32)
        for class_id in np.unique(sem):
            where = sem == class_id
            img[where] = paint(STEP_CLASSES[class_id], yy[where], xx[where], self.scale)
        return sem, img

    def _pole(self, sem: np.ndarray, x: int, device: str) -> None:
        """Draw a pole at world column ``x`` with a traffic light or sign on its top."""
        top = int(self.rng.uniform(0.18, 0.25) * self.h)
        half = max(1, int(round(0.0125 * self.w)))
        sem[top:self.facade_bottom + int(0.07 * self.h), x - half:x + half] = _cls('pole')
        box_w, box_h = ((0.042, 0.22) if device == 'traffic light' else (0.065, 0.18))
        bw, bh = max(2, int(box_w * self.w) // 2), max(2, int(box_h * self.h))
        sem[top:top + bh, x - bw:x + bw] = _cls(device)

    def _stuff_movers(self) -> List[_Object]:
        """A rider on a motorcycle and a bicycle, moving slowly (bouncing inside the view)."""
        rng, sx, sy = self.rng, self.sx, self.sy
        moto = _make_object('motorcycle', 0, (int(17 * sy), int(42 * sx)), self.scale)
        rider = _make_object('rider', 0, (int(28 * sy), int(19 * sx)), self.scale)
        bike = _make_object('bicycle', 0, (int(15 * sy), int(33 * sx)), self.scale)
        moto.bottom = int((0.74 + rng.uniform(0, 0.04)) * self.h)
        moto.x0, moto.speed, moto.bounce = rng.uniform(0, self.w), rng.choice([-1, 1]) * (
            rng.uniform(0.5, 1.5) * sx), True
        rider.bottom = moto.bottom - moto.mask.shape[0] + int(5 * sy)
        rider.x0, rider.speed, rider.bounce = moto.x0, moto.speed, True
        rider.dx = (moto.mask.shape[1] - rider.mask.shape[1]) / 2
        rider.span_w = moto.mask.shape[1]
        bike.bottom = self.facade_bottom + int(rng.uniform(0.07, 0.095) * self.h)
        bike.x0, bike.speed, bike.bounce = rng.uniform(0, self.w), rng.choice([-1, 1]) * (
            rng.uniform(0.3, 1.0) * sx), True
        return [moto, rider, bike]

    def _thing(self, name: str, inst: int, anchor: bool) -> _Object:
        """A car (on a lane) or a person (on the sidewalk) with its motion."""
        rng, sx, sy = self.rng, self.sx, self.sy
        if name == 'car':
            size = (int(rng.uniform(31, 38) * sy), int(rng.uniform(67, 92) * sx))
            lane = 0.93 if anchor or rng.random() < 0.5 else 0.80
            bottom = int((lane + rng.uniform(-0.01, 0.01)) * self.h)
            speed = rng.uniform(0.5, 1.5) if anchor else rng.uniform(2.5, 7.0)
        else:
            size = (int(rng.uniform(36, 44) * sy), int(rng.uniform(16, 21) * sx))
            bottom = self.facade_bottom + int(rng.uniform(0.04, 0.09) * self.h)
            speed = rng.uniform(0.4, 1.2) if anchor else rng.uniform(0.8, 2.2)
        obj = _make_object(name, inst, size, self.scale)
        obj.bottom, obj.speed, obj.bounce = bottom, rng.choice([-1, 1]) * speed * sx, anchor
        width = obj.mask.shape[1]
        if anchor:
            obj.x0 = rng.uniform(0.1, 0.8) * (self.w - width)
        else:
            obj.x0 = rng.uniform(-width - 0.3 * abs(obj.speed) * self.frames, self.w)
        return obj

    def _things(self) -> List[_Object]:
        """An anchor car and an anchor person that stay in view, plus 0-2 passing cars or
        persons (ids count per class from 1)."""
        names = ['car', 'person'] + ['car' if self.rng.random() < 0.5 else 'person'
                                     for _ in range(int(self.rng.integers(0, 3)))]
        counters = {'car': 0, 'person': 0}
        things = []
        for k, name in enumerate(names):
            counters[name] += 1
            things.append(self._thing(name, counters[name], anchor=k < 2))
        return things

    def render(self, t: int, noise: float = 3.0,
               min_area: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``t``: (H, W, 3) uint8 RGB image, (H, W) uint8 class ids, (H, W) int32 ids."""
        view = slice(self.pan[t], self.pan[t] + self.w)
        sem = self.world_sem[:, view].copy()
        img = self.world_img[:, view].copy()
        inst = np.zeros(sem.shape, np.int32)
        for obj in sorted(self.objects, key=lambda o: o.bottom):
            self._draw(obj, t, sem, inst, img)
        sem[-self.hood:], inst[-self.hood:], img[-self.hood:] = IGNORE_LABEL, 0, VOID_RGB
        img += self.rng.normal(0.0, noise, img.shape).astype(np.float32)
        min_area = 225 * self.sx * self.sy if min_area is None else min_area
        for class_id in STEP_THING_IDS:
            for inst_id in np.unique(inst[sem == class_id]):
                segment = (sem == class_id) & (inst == inst_id)
                if segment.sum() < min_area:
                    sem[segment], inst[segment] = IGNORE_LABEL, 0
        return np.clip(img + 0.5, 0, 255).astype(np.uint8), sem, inst

    def _draw(self, obj: _Object, t: int, sem: np.ndarray, inst: np.ndarray,
              img: np.ndarray) -> None:
        """Paste ``obj`` at its frame-``t`` position (clipped to the image)."""
        h, w = obj.mask.shape
        top, left = obj.bottom - h, obj.left(t, self.w)
        y0, y1 = max(top, 0), min(top + h, self.h)
        x0, x1 = max(left, 0), min(left + w, self.w)
        if y0 >= y1 or x0 >= x1:
            return
        local = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
        mask = obj.mask[local]
        region = (slice(y0, y1), slice(x0, x1))
        sem[region][mask] = _cls(obj.name)
        inst[region][mask] = obj.inst
        img[region][mask] = obj.patch[local][mask]


#: PNG parameters of the generated files (fixed: byte-reproducible).
PNG_PARAMS = (cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
              cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY)
#: Name of the generator in the folder marker (:mod:`vseg.folders`).
TOOL = 'tools/make_toy_step.py'
SUFFIXES = ('leftImg8bit', 'panoptic')
#: Output layouts: the KITTI-STEP one, the Cityscapes-STEP one (one city, ``CITY``), the
#: VIPSeg one (``VIPSeg_720P``: ``images/``, ``panomasks/``, split lists) or the Cityscapes-VPS
#: one (``{split}/img_all/``, ``{split}/cls/``, ``{split}/inst/``).
LAYOUTS = ('kitti-step', 'cityscapes', 'vipseg', 'cityscapes-vps')
#: The VIPSeg category of every toy class (the twin uses these 18 of VIPSeg's 124 categories;
#: truck, bus, train, motorcycle and bicycle are things in VIPSeg, so each of those toy segments
#: is an instance there, and the rider is a person).
TOY_TO_VIPSEG = {
    'road': 'road', 'sidewalk': 'path', 'building': 'building', 'wall': 'wall',
    'fence': 'handrail_or_fence', 'pole': 'pole', 'traffic light': 'traffic_light',
    'traffic sign': 'billboard_or_Bulletin_Board', 'vegetation': 'tree', 'terrain': 'grass',
    'sky': 'sky', 'person': 'person', 'rider': 'person', 'car': 'car', 'truck': 'truck',
    'bus': 'bus', 'train': 'train', 'motorcycle': 'motorcycle', 'bicycle': 'bicycle'}
#: VIPSeg instance number of the rider (a person; the toy persons are numbered from 0 up).
VIPSEG_RIDER_INSTANCE = 99
#: JPEG quality of the VIPSeg twin's images (fixed: byte-reproducible).
JPEG_QUALITY = 95
CITY = 'toycity'
#: Cityscapes-VPS twin: the labelled frames are those with ``t % 5 == 4`` (every 5th raw frame,
#: 6 of a 30-frame clip); the one with ``t == 19`` (the 20th) has the original Cityscapes names.
VPS_STEP, VPS_FIRST_LABELLED, VPS_ORIGINAL_FRAME = 5, 4, 19
#: Cityscapes-VPS twin: toy classes written as crowd (``labelId`` only, so they become void in the
#: converted ground truth) on every other labelled frame (:func:`vps_crowd_frame`), as instances
#: on the rest, so that the class is both crowd and labelled in each split; the other things are
#: always ``labelId * 1000 + k``.
VPS_CROWD = ('bicycle',)
#: Offset of the thing instances in Cityscapes ``instanceTrainIds`` (class * 1000 + index).
CITYSCAPES_INSTANCE_OFFSET = 1000


def _sequences(train_seqs: int, val_seqs: int) -> List[Tuple[int, str, int, int]]:
    """(split index, split, index in the split, sequence id) of every sequence."""
    plan = []
    for split_index, (split, num) in enumerate((('train', train_seqs), ('val', val_seqs))):
        plan += [(split_index, split, index, split_index * train_seqs + index)
                 for index in range(num)]
    return plan


def _stem(split: str, seq_id: int, frame: int) -> str:
    """``video_sequence/{split}/{seq:06d}_{frame:06d}``, relative to the dataset root."""
    return osp.join('video_sequence', split, f'{seq_id:06d}_{frame:06d}')


def _frame_files(layout: str, split: str, seq_id: int, frame: int) -> Dict[str, str]:
    """The files of one frame by role (``image``, ``panoptic`` or ``semantic`` + ``instance``),
    relative to the dataset root."""
    if layout == 'kitti-step':
        stem = _stem(split, seq_id, frame)
        return dict(image=stem + '_leftImg8bit.png', panoptic=stem + '_panoptic.png')
    if layout == 'vipseg':
        video = vipseg_video_name(seq_id)
        return dict(image=osp.join('images', video, f'{frame:05d}.jpg'),
                    vipseg=osp.join('panomasks', video, f'{frame:05d}.png'))
    if layout == 'cityscapes-vps':
        return _vps_frame_files(split, seq_id, frame)
    name = f'{CITY}_{seq_id:06d}_{frame:06d}'
    gt = osp.join('gtFine', split, CITY, name)
    return dict(image=osp.join('leftImg8bit', split, CITY, name + '_leftImg8bit.png'),
                semantic=gt + '_gtFine_labelTrainIds.png',
                instance=gt + '_gtFine_instanceTrainIds.png')


def vps_labelled(frame: int) -> bool:
    """Whether raw frame ``frame`` of a clip is labelled in the Cityscapes-VPS twin."""
    return frame % VPS_STEP == VPS_FIRST_LABELLED


def vps_image_id(seq_id: int, frame: int) -> str:
    """``VVVV_FFFF_toycity_<seq>_<frame>``: clip ``seq_id``, frame ``frame`` of the clip, then the
    Cityscapes-style name (sequence ``seq_id``, frame number ``frame``)."""
    return f'{seq_id:04d}_{frame:04d}_{CITY}_{seq_id:06d}_{frame:06d}'


def _vps_frame_files(split: str, seq_id: int, frame: int) -> Dict[str, str]:
    image_id = vps_image_id(seq_id, frame)
    original = frame == VPS_ORIGINAL_FRAME
    files = dict(image=osp.join(split, 'img_all', image_id + (
        vps.ORIG_SUFFIX if original else vps.NEW_SUFFIX)))
    if vps_labelled(frame):
        files['cls'] = osp.join(split, vps.CLS_DIR, image_id + (
            vps.ORIG_MASK if original else vps.NEW_MASK))
        files['inst'] = osp.join(split, vps.INST_DIR, image_id + (
            '_gtFine_instanceIds.png' if original else vps.NEW_MASK))
    return files


def encode_cityscapes_color(sem: np.ndarray, alpha: bool = False) -> np.ndarray:
    """(H, W, 3) (or, with ``alpha``, (H, W, 4)) uint8 Cityscapes colour map (RGB order) of toy
    class ids ``sem``; void is black."""
    palette = np.zeros((256, 3), np.uint8)
    for class_id, category in enumerate(vps.CATEGORIES):
        palette[class_id] = category[4]
    rgb = palette[sem]
    if alpha:
        rgb = np.concatenate([rgb, np.full(sem.shape + (1,), 255, np.uint8)], axis=-1)
    return rgb


def vps_crowd_frame(t: int) -> bool:
    """Whether the :data:`VPS_CROWD` classes are written as crowd on raw frame ``t``.

    True on the 1st, 3rd and 5th labelled frames of a clip (t = 4, 14, 24), False on the others.
    """
    return (t // VPS_STEP) % 2 == 0


def encode_vps_instances(sem: np.ndarray, inst: np.ndarray, crowd: bool = True) -> np.ndarray:
    """(H, W) uint16 Cityscapes instance ids of toy class ids ``sem`` and STEP ids ``inst``.

    Cars and persons hold ``labelId * 1000 + inst - 1``; the rider, truck, bus, train and
    motorcycle (things in Cityscapes-VPS, one segment each in the toy) ``labelId * 1000``; stuff
    their ``labelId``; void 0. The :data:`VPS_CROWD` classes hold their ``labelId`` (crowd) when
    ``crowd``, else ``labelId * 1000`` (one instance).
    """
    out = np.zeros(sem.shape, np.uint16)
    for class_id in np.unique(sem).tolist():
        if class_id == IGNORE_LABEL:
            continue
        where = sem == class_id
        label_id = vps.LABEL_IDS[class_id]
        if not vps.CATEGORIES[class_id][2] or (crowd and STEP_CLASSES[class_id] in VPS_CROWD):
            out[where] = label_id
        elif class_id in STEP_THING_IDS:
            out[where] = label_id * vps.INSTANCE_OFFSET + inst[where].astype(np.int64) - 1
        else:
            out[where] = label_id * vps.INSTANCE_OFFSET
    return out


def vipseg_video_name(seq_id: int) -> str:
    """Folder name of toy sequence ``seq_id`` in the VIPSeg layout."""
    return f'toy_{seq_id:04d}'


def encode_vipseg_raw(sem: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """(H, W) uint16 raw VIPSeg mask of toy class ids ``sem`` and STEP ids ``inst``.

    Stuff pixels hold category + 1; thing pixels (category + 1) * 100 + instance, the instance
    being the toy id - 1 for cars and persons, :data:`VIPSEG_RIDER_INSTANCE` for the rider and 0
    for the one segment of each other VIPSeg thing class (truck, bus, ...); void is 0.
    """
    vip_ids = {name: i for i, (name, _, _) in enumerate(VIPSEG_CATEGORIES)}
    out = np.zeros(sem.shape, np.uint16)
    for class_id in np.unique(sem).tolist():
        if class_id == IGNORE_LABEL:
            continue
        name = STEP_CLASSES[class_id]
        category = vip_ids[TOY_TO_VIPSEG[name]]
        where = sem == class_id
        if not VIPSEG_CATEGORIES[category][1]:
            out[where] = category + 1
            continue
        if class_id in STEP_THING_IDS:
            number = inst[where].astype(np.int64) - 1
            if number.min() < 0 or number.max() >= VIPSEG_RIDER_INSTANCE:
                raise ValueError(f'toy {name} instance ids must lie in 1..'
                                 f'{VIPSEG_RIDER_INSTANCE - 1} for the VIPSeg encoding')
        else:
            number = np.int64(VIPSEG_RIDER_INSTANCE if name == 'rider' else 0)
        out[where] = (category + 1) * 100 + number
    return out


def encode_cityscapes_instances(sem: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """(H, W) uint16 Cityscapes ``instanceTrainIds`` of class ids ``sem`` and STEP ids ``inst``.

    A thing pixel with instance ``i >= 1`` holds ``class * 1000 + i - 1`` (Cityscapes counts
    instances from 0); every other pixel holds its class id (255 for void), as
    cityscapesScripts' ``createTrainIdInstanceImgs`` writes them.
    """
    out = sem.astype(np.uint16)
    things = inst > 0
    out[things] = (sem[things].astype(np.uint16) * CITYSCAPES_INSTANCE_OFFSET
                   + (inst[things] - 1).astype(np.uint16))
    return out


def _arguments_and_files(seed: int, size: Tuple[int, int], train_seqs: int, val_seqs: int,
                         frames: int, layout: str, val_seed: Optional[int]
                         ) -> Tuple[Dict[str, object], List[str]]:
    """The folder-marker arguments of a run and the files it writes (relative to ``out``)."""
    files = [name for _, split, _, seq_id in _sequences(train_seqs, val_seqs)
             for t in range(frames) for name in _frame_files(layout, split, seq_id, t).values()]
    if layout == 'vipseg':
        files += ['train.txt', 'val.txt']
    arguments: Dict[str, object] = dict(seed=seed, size=size, train_seqs=train_seqs,
                                        val_seqs=val_seqs, frames=frames)
    if layout != 'kitti-step':  # markers of KITTI-STEP folders made before layouts existed
        arguments['layout'] = layout
    if val_seed is not None and val_seed != seed:  # likewise for folders made before val_seed
        arguments['val_seed'] = val_seed
    if layout == 'cityscapes-vps':  # twins made before the bicycle alternated crowd/instance
        arguments['vps_crowd'] = 'alternate'  # (all crowd) are remade, not reused
    return arguments, files


def toy_step_complete(out: str, seed: int = 0, size: Sequence[int] = BASE_SIZE,
                      train_seqs: int = 6, val_seqs: int = 3, frames: int = 20,
                      layout: str = 'kitti-step', val_seed: Optional[int] = None) -> bool:
    """True when ``out`` holds the complete output of :func:`make_toy_step` with these
    arguments (its marker records them and every file exists); a folder made with other
    arguments, or one a crashed run left incomplete, gives False."""
    arguments, files = _arguments_and_files(seed, (int(size[0]), int(size[1])), train_seqs,
                                            val_seqs, frames, layout, val_seed)
    return folder_complete(out, TOOL, arguments, files)


def make_toy_step(out: str, seed: int = 0, size: Sequence[int] = BASE_SIZE, train_seqs: int = 6,
                  val_seqs: int = 3, frames: int = 20, overwrite: bool = False,
                  layout: str = 'kitti-step', val_seed: Optional[int] = None) -> Dict[str, int]:
    """Write a synthetic KITTI-STEP dataset to ``out/video_sequence/{train,val}``.

    With ``layout='cityscapes'`` the same scenes are written in the Cityscapes-STEP layout
    instead (one city, ``toycity``): ``leftImg8bit/{split}/toycity/toycity_{seq:06d}_{frame:06d}
    _leftImg8bit.png`` and ``gtFine/{split}/toycity/..._gtFine_{labelTrainIds,instanceTrainIds}
    .png`` (:func:`encode_cityscapes_instances`). With ``layout='vipseg'`` they are written in
    the VIPSeg (720p) layout: ``images/toy_{seq:04d}/{frame:05d}.jpg``, ``panomasks/toy_{seq:04d}/
    {frame:05d}.png`` (raw 16-bit values, :func:`encode_vipseg_raw`), ``train.txt`` and
    ``val.txt``. With ``layout='cityscapes-vps'`` they are written in the Cityscapes-VPS layout
    (the shipped maps, before VPSNet's conversion): every sequence is a clip of ``frames`` raw
    frames (the dataset has 30), ``{split}/img_all/<image_id>_newImg8bit.png`` for every frame
    and, for every 5th frame (``t % 5 == 4``: t = 4, 9, .., 29),
    ``{split}/cls/<image_id>_final_mask.png`` (Cityscapes colours,
    :func:`encode_cityscapes_color`) and ``{split}/inst/<image_id>_final_mask.png`` (16-bit
    Cityscapes instance ids, :func:`encode_vps_instances`); the 20th frame (t = 19) has the
    original Cityscapes names ``_leftImg8bit``, ``_gtFine_color`` (RGBA) and
    ``_gtFine_instanceIds``. ``image_id`` is :func:`vps_image_id`.

    Sequences are numbered 0..train_seqs-1 (train) then train_seqs.. (val); frames 0..frames-1.
    ``out`` is claimed first (:func:`vseg.folders.claim_folder`): a marker with the arguments
    and the file names is written, a non-empty folder this generator did not make is refused,
    and so is one it made with other arguments unless ``overwrite``. Every file is written
    atomically (a hard link in its place is replaced, never written through).

    Args:
        out: dataset root (created).
        seed: base seed; every sequence has its own stream derived from (seed, split, index).
        val_seed: seed of the val sequences instead of ``seed`` (a held-out val split whose
            scenes come from a seed never used for training or tuning); default ``seed``.
        size: frame (h, w), default (128, 416).
        train_seqs: number of training sequences.
        val_seqs: number of validation sequences.
        frames: frames per sequence.
        overwrite: replace this generator's earlier output made with other arguments (its
            files only; see :func:`vseg.folders.claim_folder`).
        layout: ``'kitti-step'`` (default), ``'cityscapes'``, ``'vipseg'`` or
            ``'cityscapes-vps'``.

    Returns:
        Number of frames written per split, e.g. ``{'train': 120, 'val': 60}`` (cityscapes-vps:
        the labelled frames).

    Raises:
        ValueError: invalid arguments (nothing is written).
        FileExistsError: ``out`` is refused (nothing is written).
    """
    size = (int(size[0]), int(size[1]))
    if layout not in LAYOUTS:
        raise ValueError(f'make_toy_step: layout must be one of {LAYOUTS}, got {layout!r}')
    if layout == 'cityscapes-vps' and frames <= VPS_FIRST_LABELLED:
        raise ValueError(f'make_toy_step: the cityscapes-vps layout labels frames t % 5 == 4, so '
                         f'it needs frames >= 5, got {frames}')
    if min(size) < 32 or frames < 1 or train_seqs < 0 or val_seqs < 0:
        raise ValueError(f'make_toy_step: need size >= 32x32, frames >= 1 and non-negative '
                         f'sequence counts, got size={size}, frames={frames}, '
                         f'train_seqs={train_seqs}, val_seqs={val_seqs}')
    plan = _sequences(train_seqs, val_seqs)
    arguments, files = _arguments_and_files(seed, size, train_seqs, val_seqs, frames, layout,
                                            val_seed)
    claim_folder(out, TOOL, arguments, files, overwrite=overwrite)
    for folder in sorted({osp.dirname(osp.join(out, name)) for name in files}):
        os.makedirs(folder, exist_ok=True)
    for split_index, split, index, seq_id in plan:
        base = seed if split == 'train' or val_seed is None else val_seed
        rng = np.random.default_rng(np.random.SeedSequence([base, split_index, index]))
        sequence = _Sequence(rng, size, frames)
        for t in range(frames):
            img, sem, inst = sequence.render(t)
            paths = {role: osp.join(out, name)
                     for role, name in _frame_files(layout, split, seq_id, t).items()}
            if layout == 'vipseg':
                _, data = cv2.imencode('.jpg', img[..., ::-1],
                                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                write_bytes_atomic(paths['image'], data.tobytes())
            else:
                write_png_atomic(paths['image'], img[..., ::-1], PNG_PARAMS)
            if layout == 'kitti-step':
                write_png_atomic(paths['panoptic'], encode_step_png(sem, inst)[..., ::-1],
                                 PNG_PARAMS)
            elif layout == 'vipseg':
                write_png_atomic(paths['vipseg'], encode_vipseg_raw(sem, inst), PNG_PARAMS)
            elif layout == 'cityscapes-vps':
                if 'cls' in paths:
                    color = encode_cityscapes_color(sem, alpha=t == VPS_ORIGINAL_FRAME)
                    order = [2, 1, 0, 3][:color.shape[-1]]
                    write_png_atomic(paths['cls'], np.ascontiguousarray(color[..., order]),
                                     PNG_PARAMS)
                    write_png_atomic(paths['inst'],
                                     encode_vps_instances(sem, inst, vps_crowd_frame(t)),
                                     PNG_PARAMS)
            else:
                write_png_atomic(paths['semantic'], sem, PNG_PARAMS)
                write_png_atomic(paths['instance'], encode_cityscapes_instances(sem, inst),
                                 PNG_PARAMS)
    if layout == 'vipseg':
        for split in ('train', 'val'):
            names = [vipseg_video_name(seq_id) for _, name, _, seq_id in plan if name == split]
            write_text_atomic(osp.join(out, f'{split}.txt'), ''.join(n + '\n' for n in names))
    if layout == 'cityscapes-vps':
        labelled = sum(vps_labelled(t) for t in range(frames))
        return {'train': train_seqs * labelled, 'val': val_seqs * labelled}
    return {'train': train_seqs * frames, 'val': val_seqs * frames}
