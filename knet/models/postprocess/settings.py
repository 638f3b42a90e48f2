"""The settings of the panoptic merge: one default per setting, defined here only.

A detector's ``test_cfg`` holds these keys (plus the detector's own options, such as
``legacy``); :meth:`MergeSettings.from_test_cfg` reads them and rejects any other key by name, so
that a typo such as ``instance_score_thrr`` fails instead of silently keeping the default.

The defaults are those of the K-Net configs of the original code. The KITTI-STEP Video K-Net
config sets ``instance_score_thr=0.25`` explicitly; the Cityscapes-STEP K-Net config uses 0.3.
"""
import difflib
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping, Tuple

#: Visiting orders of the merge: the reference joint argmax and two paste-style alternatives.
ORDERS = ('joint', 'things_first', 'stuff_first')


@dataclass(frozen=True)
class MergeSettings:
    """Thresholds and choices of the panoptic merge (the ``test_cfg`` keys of the same names).

    Attributes:
        instance_score_thr: thing candidates scoring below are dropped (their won pixels stay
            unassigned).
        overlap_thr: minimum visible fraction ``area / orig_area`` of a kept segment.
        mask_thr: a mask covers a pixel in ``orig_area`` iff its probability is >= this.
        max_per_img: number of thing candidates (top-k of the thing scores).
        merge_order: ``'joint'`` (the reference), ``'things_first'`` or ``'stuff_first'``.
        merge_backend: ``'dense'`` (the definition, default) or ``'blocked'`` (the same merge
            by cache-sized row blocks, faster on CPU).
    """

    instance_score_thr: float = 0.3
    overlap_thr: float = 0.6
    mask_thr: float = 0.5
    max_per_img: int = 100
    merge_order: str = 'joint'
    merge_backend: str = 'dense'

    def __post_init__(self) -> None:
        if self.merge_order not in ORDERS:
            raise ValueError(f'merge_order must be one of {ORDERS}, got {self.merge_order!r}')
        if self.max_per_img < 0:
            raise ValueError(f'max_per_img must be >= 0, got {self.max_per_img}')

    @classmethod
    def keys(cls) -> Tuple[str, ...]:
        """The ``test_cfg`` keys of the merge, in declaration order."""
        return tuple(field.name for field in fields(cls))

    @classmethod
    def from_test_cfg(cls, test_cfg: Mapping[str, Any],
                      other_keys: Iterable[str] = ()) -> 'MergeSettings':
        """The merge settings of a ``test_cfg``; missing keys take the defaults.

        Args:
            test_cfg: a detector's test options.
            other_keys: the detector's own options, accepted and ignored here.

        Raises:
            KeyError: naming every key that is neither a merge setting nor in ``other_keys``
                (with the closest known key, if any).
        """
        known = cls.keys() + tuple(other_keys)
        unknown = [key for key in test_cfg if key not in known]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), known, n=1)
                hints.append(f'{key!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
            raise KeyError(f'unknown test_cfg key(s) {", ".join(hints)}; known keys: '
                           f'{", ".join(known)}')
        return cls(**{key: test_cfg[key] for key in cls.keys() if key in test_cfg})
