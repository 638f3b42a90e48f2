"""The settings of the panoptic merge: one default per setting, defined here only.

A detector's ``test_cfg`` holds these keys (plus the detector's own options, such as
``compat``); :meth:`MergeSettings.from_test_cfg` reads them and rejects any other key by name, so
that a typo such as ``instance_score_thrr`` fails instead of silently keeping the default, and
every value is checked for its type and range (:mod:`knet.models.options`).

The defaults are those of the K-Net configs of the original code, but for
``unassigned_fill='argmax'``, chosen among the three fills by measurement (docs/compatibility.md;
the original fills with class 0, ``'legacy'``).
The KITTI-STEP Video K-Net config sets ``instance_score_thr=0.25`` explicitly; the
Cityscapes-STEP K-Net config uses 0.3.
"""
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping, Tuple

from knet.models.options import check_choice, check_keys, check_number

#: Visiting orders of the merge: the reference joint argmax and two paste-style alternatives.
ORDERS = ('joint', 'things_first', 'stuff_first')
#: What the pixels that no kept segment wins become (:attr:`MergeSettings.unassigned_fill`).
FILLS = ('argmax', 'legacy', 'void')


@dataclass(frozen=True)
class MergeSettings:
    """Thresholds and choices of the panoptic merge (the ``test_cfg`` keys of the same names).

    Attributes:
        instance_score_thr: thing candidates scoring below are dropped (their won pixels stay
            unassigned); a number in [0, 1].
        overlap_thr: minimum visible fraction ``area / orig_area`` of a kept segment, in [0, 1].
        mask_thr: a mask covers a pixel in ``orig_area`` iff its probability is >= this, in
            [0, 1].
        max_per_img: number of thing candidates (top-k of the thing scores), an integer >= 0.
        merge_order: ``'joint'`` (the reference), ``'things_first'`` or ``'stuff_first'``.
        merge_backend: ``'dense'`` (the definition, default) or ``'blocked'`` (the same merge
            by cache-sized row blocks, faster on CPU); checked by ``build_merge_backend``.
        unassigned_fill: the pixels that no kept segment wins: ``'argmax'`` (default): the
            class of the candidate with the largest ``score * prob`` at the pixel (the merge's
            own winner there, although it was rejected; in no segment, instance / track id 0);
            ``'legacy'``: dataset class 0, as the original; ``'void'``: the ignore label 255
            ("no prediction"). The merge applies ``'argmax'``; the detector maps the others.
            The default was chosen by the measured STQ / VPQ of the three (docs/compatibility.md).
    """

    instance_score_thr: float = 0.3
    overlap_thr: float = 0.6
    mask_thr: float = 0.5
    max_per_img: int = 100
    merge_order: str = 'joint'
    merge_backend: str = 'dense'
    unassigned_fill: str = 'argmax'

    def __post_init__(self) -> None:
        for name in ('instance_score_thr', 'overlap_thr', 'mask_thr'):
            check_number(getattr(self, name), f'test_cfg.{name}', 0, 1)
        check_number(self.max_per_img, 'test_cfg.max_per_img', 0, integer=True)
        check_choice(self.merge_order, 'test_cfg.merge_order', ORDERS)
        check_choice(self.unassigned_fill, 'test_cfg.unassigned_fill', FILLS)

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
            TypeError, ValueError: for a value of the wrong type or out of its range.
        """
        check_keys(test_cfg, cls.keys() + tuple(other_keys), 'test_cfg')
        return cls(**{key: test_cfg[key] for key in cls.keys() if key in test_cfg})
