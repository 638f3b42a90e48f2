"""Video panoptic dataset: single frames in order, or training clips (key + references).

Follows the original Video K-Net's ``KITTISTEPDVPSDataset`` with ``ref_seq_index``: for every key
frame ONE offset is drawn uniformly from ``ref_seq_index`` with a seeded RNG when the dataset is
built; keys whose reference lies outside the sequence are
dropped and the pairs stay fixed for the whole training. ``resample_each_epoch=True`` is the
"modern" behavioural change: a key is kept when at least ``num_ref_frames`` offsets are valid and
the reference is drawn among those valid offsets every time the sample is fetched.

An offset that finds no reference for any key of the split (e.g. ``ref_seq_index=[100]`` on
sequences of 20 frames), or a split of which no clip remains, is an error when the dataset is
built, naming ``ref_seq_index`` and the longest sequence (:func:`check_reachable_offsets`).

A clip data info is ``dict(frames=[key_info, ref_info, ...], seq_id, seq_name, frame_id (the
key's), ref_offsets, **label_info)``; see :class:`knet.datasets.PanopticFrameDataset` for the
frame info.
"""
import random
import warnings
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from knet.datasets import PanopticFrameDataset
from knet.datasets.panoptic_frame_dataset import png_size

_FrameKey = Tuple[str, int]


def check_ref_seq_index(ref_seq_index: Any) -> Tuple[int, ...]:
    """Validate a ``ref_seq_index`` list of signed, non-zero, distinct integer offsets.

    Returns:
        The offsets as a tuple of ints; raises ValueError naming ``ref_seq_index`` otherwise.
    """
    if not isinstance(ref_seq_index, (list, tuple)) or len(ref_seq_index) == 0:
        raise ValueError(f'ref_seq_index must be a non-empty list of non-zero ints, got '
                         f'{ref_seq_index!r}')
    for offset in ref_seq_index:
        if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset == 0:
            raise ValueError(f'ref_seq_index entries must be non-zero ints (not bool), got '
                             f'{offset!r} in {list(ref_seq_index)!r}')
    if len(set(ref_seq_index)) != len(ref_seq_index):
        raise ValueError(f'ref_seq_index has duplicate offsets: {list(ref_seq_index)!r}')
    return tuple(int(offset) for offset in ref_seq_index)


def warn_frame_gaps(frames: Sequence[dict]) -> None:
    """Warn (``UserWarning``) for each sequence whose frame numbers have gaps."""
    by_seq: Dict[str, List[int]] = defaultdict(list)
    for frame in frames:
        by_seq[frame['seq_name']].append(frame['frame_id'])
    for seq_name, ids in by_seq.items():
        missing = sorted(set(range(min(ids), max(ids) + 1)) - set(ids))
        if missing:
            warnings.warn(f'sequence {seq_name}: {len(missing)} missing frame number(s), first '
                          f'{missing[:5]}; references across a gap are treated as absent',
                          stacklevel=2)


def sort_and_check_sizes(frames: Sequence[dict], unit: str = 'video',
                          check: bool = True) -> List[dict]:
    """The frames in (``seq_id``, ``frame_id``) order; with ``check``, a sequence whose images
    differ in size is a ValueError naming the first odd frame and the first of its ``unit``."""
    ordered = sorted(frames, key=lambda f: (f['seq_id'], f['frame_id']))
    if check:
        first: Dict[int, Tuple[str, tuple]] = {}
        for frame in ordered:
            size = png_size(frame['img_path'])
            path, expected = first.setdefault(frame['seq_id'], (frame['img_path'], size))
            if size != expected:
                raise ValueError(f"{frame['img_path']}: size {size} (h, w) differs from "
                                 f'{path} {expected}: the frames of {unit} '
                                 f"{frame['seq_name']} must have one size")
    return ordered


def _longest_sequence(frames: Sequence[dict]) -> str:
    """``sequence NAME (N frames)`` of the sequence with the most frames."""
    counts = Counter(frame['seq_name'] for frame in frames)
    name, count = max(counts.items(), key=lambda item: (item[1], item[0]))
    return f'sequence {name} ({count} frames, {len(counts)} sequence(s) in all)'


def check_reachable_offsets(offsets: Sequence[int], frames: Sequence[dict],
                            where: str) -> None:
    """Raise a ValueError naming ``ref_seq_index`` when an offset finds no reference frame for
    any key of ``frames`` (the reference must be a frame of the key's sequence).

    Args:
        offsets: the ``ref_seq_index`` offsets.
        frames: the frame infos of the split (``seq_name``, ``frame_id``), not empty.
        where: the split, as named in the error (e.g. ``'split train of data/kitti-step'``).
    """
    present = {(frame['seq_name'], frame['frame_id']) for frame in frames}
    unreachable = [offset for offset in offsets
                   if not any((seq, frame + offset) in present for seq, frame in present)]
    if unreachable:
        raise ValueError(f'ref_seq_index={list(offsets)}: offset(s) {unreachable} can never '
                         f'find a reference frame in {where}: its longest sequence is '
                         f'{_longest_sequence(frames)}; use offsets the sequences can hold')


class VideoPanopticDataset(PanopticFrameDataset):
    """Frames of video sequences, or clips of a key frame and reference frame(s).

    Args:
        ref_seq_index: signed reference offsets (e.g. ``[-2, -1, 1, 2]``); None for single frames
            in (sequence, frame) order (validation / test).
        num_ref_frames: references per key, drawn without replacement from ``ref_seq_index``.
        seed: seed of the reference draw at construction (the original uses 0).
        resample_each_epoch: draw the references at fetch time instead of once.
        **kwargs: arguments of :class:`knet.datasets.PanopticFrameDataset`.
    """

    def __init__(self, ref_seq_index: Optional[Sequence[int]] = None, num_ref_frames: int = 1,
                 seed: int = 0, resample_each_epoch: bool = False, **kwargs: Any) -> None:
        self.ref_seq_index = None if ref_seq_index is None else check_ref_seq_index(ref_seq_index)
        if isinstance(num_ref_frames, bool) or not isinstance(num_ref_frames, int) or not (
                1 <= num_ref_frames <= len(self.ref_seq_index or (0, ))):
            raise ValueError(f'num_ref_frames must be an int in [1, len(ref_seq_index)], got '
                             f'{num_ref_frames!r}')
        self.num_ref_frames = num_ref_frames
        self.seed = seed
        self.resample_each_epoch = resample_each_epoch
        super().__init__(**kwargs)

    @property
    def ref_pool(self) -> Tuple[int, ...]:
        """``ref_seq_index`` of a clip dataset (a frame dataset draws no references)."""
        if self.ref_seq_index is None:
            raise RuntimeError(f'{type(self).__name__}: ref_seq_index=None (frames, not clips) '
                               f'has no reference offsets')
        return self.ref_seq_index

    def load_data_list(self) -> List[dict]:
        """Frame infos (``ref_seq_index=None``) or clip infos, each with the label info."""
        frames = self.sorted_frames()
        warn_frame_gaps(frames)
        info = self.label_info()
        if self.ref_seq_index is None:
            return [dict(frame, **info) for frame in frames]
        where = f'split {self.split} of {self.data_root}'
        if frames:
            check_reachable_offsets(self.ref_pool, frames, where)
        index = {(frame['seq_name'], frame['frame_id']): frame for frame in frames}
        build = self._candidate_clip if self.resample_each_epoch else self._fixed_clip
        rng = random.Random(self.seed)
        clips = [clip for clip in (build(frame, index, rng) for frame in frames)
                 if clip is not None]
        if frames and not clips:
            raise ValueError(f'ref_seq_index={list(self.ref_pool)} with num_ref_frames='
                             f'{self.num_ref_frames}: no key frame of {where} has its '
                             f'reference frame(s); its longest sequence is '
                             f'{_longest_sequence(frames)}')
        return [dict(clip, **info) for clip in clips]

    def _fixed_clip(self, key: dict, index: Dict[_FrameKey, dict],
                    rng: random.Random) -> Optional[dict]:
        """Clip with references drawn now; None when a drawn reference is missing."""
        if self.num_ref_frames == 1:
            offsets = rng.choices(self.ref_pool, k=1)
        else:
            offsets = rng.sample(self.ref_pool, self.num_ref_frames)
        refs = [index.get((key['seq_name'], key['frame_id'] + off)) for off in offsets]
        if any(ref is None for ref in refs):
            return None
        return dict(frames=[key] + refs, seq_id=key['seq_id'], seq_name=key['seq_name'],
                    frame_id=key['frame_id'], ref_offsets=offsets)

    def _candidate_clip(self, key: dict, index: Dict[_FrameKey, dict],
                        rng: random.Random) -> Optional[dict]:
        """Key with all valid references (drawn at fetch time); None when too few are valid."""
        offsets = [off for off in self.ref_pool
                   if (key['seq_name'], key['frame_id'] + off) in index]
        if len(offsets) < self.num_ref_frames:
            return None
        return dict(frames=[key], seq_id=key['seq_id'], seq_name=key['seq_name'],
                    frame_id=key['frame_id'], ref_offsets=offsets,
                    ref_candidates=[index[(key['seq_name'], key['frame_id'] + off)]
                                    for off in offsets])

    def get_data_info(self, idx: int) -> dict:
        """Data info of sample ``idx``; in resample mode the references are drawn here."""
        info = super().get_data_info(idx)
        candidates = info.pop('ref_candidates', None)
        if candidates is not None:
            chosen = np.random.choice(len(candidates), self.num_ref_frames, replace=False)
            info['frames'] = info['frames'] + [candidates[i] for i in chosen]
            info['ref_offsets'] = [info['ref_offsets'][i] for i in chosen]
        return info
