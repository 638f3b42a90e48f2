"""Helpers of the evaluation tests.

* Slow pixel-by-pixel reference implementations of STQ and VPQ, written straight from the
  definitions of docs/metrics.md (dicts and explicit frame concatenation), used to check
  the table-based metrics of :mod:`vseg.metrics` on small random sequences.
* Writers of tiny STEP-format PNGs (with PIL, independently of the cv2 readers under test),
  the sequences the CLI / metric tests write and a provenance manifest.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pytest
from PIL import Image

Frames = Dict[int, List[Tuple[np.ndarray, np.ndarray]]]

DIV = 65536
V = 255 * DIV
#: A provenance manifest (vseg.manifest) as inference writes it.
MANIFEST = dict(config='configs/toy/video-knet_r18_toy.py', config_sha256='3fa2c1d0' + '0' * 56,
                checkpoint='work/iter_400.pth', weights_sha256='9b1c22aa' + '1' * 56,
                cfg_options={}, version='0.1.0', commit=None, created='2025-01-02T10:11:12',
                tool='tools/inference.py')


def P(c: int, i: int = 0) -> int:  # noqa: N802
    return c * DIV + i


def write_gt_png(path: Path, ids: np.ndarray) -> None:
    """KITTI-STEP panoptic PNG: R = class, G = instance // 256, B = instance % 256."""
    sem, inst = ids // DIV, ids % DIV
    rgb = np.stack([sem, inst // 256, inst % 256], axis=-1).astype(np.uint8)
    Image.fromarray(rgb, mode='RGB').save(path)


def write_result_pngs(folder: Path, seq: int, frame: int, ids: np.ndarray) -> None:
    """``{seq:06d}_{frame:06d}_cat.png`` / ``_ins.png`` as 16-bit single-channel PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, values in (('cat', ids // DIV), ('ins', ids % DIV)):
        Image.fromarray(values.astype(np.uint16)).save(folder / f'{seq:06d}_{frame:06d}_{kind}.png')


# Two sequences of 2x4 frames with crowd, void, predicted void, 16-bit track ids and an id switch.
SEQUENCES: Dict[int, List[Tuple[np.ndarray, np.ndarray]]] = {
    2: [(np.array([[P(0), P(0), P(2, 1), P(2, 1)], [P(1), P(2, 0), P(2, 300), V]]),
         np.array([[P(0), P(1), P(2, 700), P(2, 700)], [P(1), P(2, 700), P(2, 300), P(2, 300)]])),
        (np.array([[P(0), P(0), P(2, 1), P(2, 1)], [P(1), P(1), P(2, 300), P(2, 300)]]),
         np.array([[P(0), P(0), P(2, 700), P(2, 701)], [P(1), V, P(2, 300), P(2, 300)]])),
        (np.array([[P(0), P(0), P(0), P(2, 1)], [P(1), P(1), P(2, 300), P(2, 300)]]),
         np.array([[P(0), P(0), P(0), P(2, 701)], [P(1), P(1), P(2, 300), P(0)]]))],
    13: [(np.array([[P(1), P(1), P(2, 7), P(2, 7)], [V, V, P(0), P(0)]]),
          np.array([[P(1), V, P(2, 9), P(0)], [P(1), P(1), P(0), P(0)]]))],
}


def naive_stq(sequences: Frames, num_classes: int, things: Sequence[int], ignore: int = 255,
              div: int = 65536, drop_gt_void: bool = False) -> dict:
    """STQ by looping over pixels (deeplab2 STQuality semantics, void = index C)."""
    total = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    aq_sum, tubes = 0.0, 0
    for frames in sequences.values():
        gt_size, pred_size, inter = Counter(), Counter(), Counter()
        for gt, pred in frames:
            for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
                gs, ps = g // div, p // div
                if drop_gt_void and gs == ignore:
                    continue
                row = num_classes if gs == ignore else gs
                col = num_classes if ps == ignore else ps
                if row != num_classes:
                    total[row, col] += 1
                crowd = gs in things and g % div == 0
                if gs in things and not crowd:
                    gt_size[g] += 1
                if ps in things and not crowd:
                    pred_size[p] += 1
                if gs in things and not crowd and ps in things:
                    inter[(g, p)] += 1
        for g, size in gt_size.items():
            inner = sum(t * t / (size + pred_size[p] - t)
                        for (gg, p), t in inter.items() if gg == g)
            aq_sum += inner / size
        tubes += len(gt_size)
    ious = []
    for c in range(num_classes + 1):
        union = total[c].sum() + total[:, c].sum() - total[c, c]
        if union > 0:
            ious.append(total[c, c] / union)
    sq = float(np.mean(ious)) if ious else float('nan')
    aq = aq_sum / tubes if tubes else 0.0
    return dict(STQ=float(np.sqrt(aq * sq)), AQ=aq, SQ=sq)


def _segments(ids: np.ndarray) -> Counter:
    return Counter(ids.ravel().tolist())


def naive_vpq(sequences: Frames, num_classes: int, things: Sequence[int], window: int,
              ignore: int = 255, div: int = 65536) -> dict:
    """VPQ_k by concatenating each window's frames side by side, as the original tool does."""
    tp, fp, fn = np.zeros(num_classes), np.zeros(num_classes), np.zeros(num_classes)
    iou_sum = np.zeros(num_classes)
    void = ignore * div
    for frames in sequences.values():
        for start in range(len(frames) - window + 1):
            gt = np.concatenate([f[0] for f in frames[start:start + window]], axis=1)
            pred = np.concatenate([f[1] for f in frames[start:start + window]], axis=1)
            gt_area, pred_area = _segments(gt), _segments(pred)
            inter = Counter(zip(gt.ravel().tolist(), pred.ravel().tolist()))
            gt_matched, pred_matched = set(), set()
            for (g, p), n in inter.items():
                if g // div != p // div or p // div == ignore:
                    continue
                iou = n / (gt_area[g] + pred_area[p] - n - inter.get((void, p), 0))
                if iou > 0.5:
                    tp[g // div] += 1
                    iou_sum[g // div] += iou
                    gt_matched.add(g)
                    pred_matched.add(p)
            for g in gt_area:
                if g // div != ignore and g not in gt_matched:
                    fn[g // div] += 1
            for p, area in pred_area.items():
                if p // div == ignore or p in pred_matched:
                    continue
                on_void = sum(n for (g, pp), n in inter.items() if pp == p and g // div == ignore)
                if on_void / area <= 0.5:
                    fp[p // div] += 1
    sq = iou_sum / (tp + 1e-10)
    pq = sq * tp / (tp + 0.5 * fn + 0.5 * fp + 1e-10)
    stuff = [c for c in range(num_classes) if c not in things]
    return dict(VPQ=float(pq.mean()), VPQ_th=float(pq[list(things)].mean()),
                VPQ_st=float(pq[stuff].mean()), TP=tp, FP=fp, FN=fn, IoU=iou_sum)


def random_sequences(seed: int, num_seqs: int = 2, num_frames: int = 4, shape=(5, 6),
                     num_classes: int = 4, things=(1, 3), div: int = 65536) -> Frames:
    """Small random sequences: blocky GT with instances, crowd and void; noisy predictions with
    relabelled track ids, predicted void and a few wrong classes."""
    rng = np.random.default_rng(seed)
    sequences = {}
    for s in range(num_seqs):
        frames = []
        for _ in range(num_frames if s == 0 else max(1, num_frames - 1 - s)):
            sem = rng.integers(0, num_classes, size=(shape[0], shape[1] // 2)).repeat(2, axis=1)
            sem[rng.random(shape) < 0.1] = 255
            inst = np.where(np.isin(sem, things), rng.integers(0, 3, size=shape), 0)
            gt = sem * div + inst
            pred = np.where(np.isin(sem, things), sem * div + (inst * 7 + 1) % 3, sem * div)
            noise = rng.random(shape)
            pred[noise < 0.15] = rng.integers(0, num_classes, size=(noise < 0.15).sum()) * div
            pred[noise > 0.92] = 255 * div
            frames.append((gt.astype(np.int64), pred.astype(np.int64)))
        sequences[10 + s] = frames
    return sequences


def assert_same_vpq(a: dict, b: dict) -> None:
    """Two official-VPQ results agree: the same TP/FP/FN per class and window, and VPQ,
    VPQ_th, VPQ_st equal up to the last bits (IoUs of one class may be summed in another
    order when the segment ids differ)."""

    for length, window in a['per_window'].items():
        other = b['per_window'][length]
        for c, stat in window['per_class'].items():
            assert [stat[k] for k in ('TP', 'FP', 'FN')] == \
                [other['per_class'][c][k] for k in ('TP', 'FP', 'FN')]
        for key in ('VPQ', 'VPQ_th', 'VPQ_st'):
            assert window[key] == pytest.approx(other[key], rel=1e-12, abs=0)
