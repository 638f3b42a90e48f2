"""Merge backends, chosen by ``test_cfg['merge_backend']`` (:class:`MergeSettings`).

A backend turns the final mask logits into full-size masks (``rescale``) and merges them with
the class scores (``merge``):

* ``'dense'`` (default, :class:`DenseMerge`): the definition, on the (N, H, W) probabilities;
* ``'blocked'`` (:class:`BlockedMerge`): the same merge by cache-sized row blocks, faster on
  CPU; its probabilities come from another bilinear kernel (within one float32 ulp).
"""
from typing import Any, Callable, Dict, Protocol

from torch import Tensor

from .blocked_merge import BlockedMerge
from .panoptic_fusion import DenseMerge, PanopticFusionResult
from .settings import MergeSettings


class MergeBackend(Protocol):
    """What a merge backend provides (see :class:`DenseMerge`)."""

    name: str

    def rescale(self, mask_logits: Tensor, img_meta: Dict[str, Any]) -> Any:
        """(N, h, w) mask logits -> (N, H_ori, W_ori) probabilities for :meth:`merge` (a tensor,
        or :class:`UpsampledMasks` for the blocked backend)."""

    def merge(self, cls_scores: Tensor, masks: Any, num_thing_kernels: int,
              num_thing_classes: int, settings: MergeSettings) -> PanopticFusionResult:
        """(N, C) class probabilities + rescaled masks -> the panoptic merge."""


MERGE_BACKENDS: Dict[str, Callable[[], MergeBackend]] = {'dense': DenseMerge,
                                                         'blocked': BlockedMerge}


def build_merge_backend(name: str) -> MergeBackend:
    """A new backend named ``name`` ('dense' or 'blocked')."""
    if name not in MERGE_BACKENDS:
        raise ValueError(f'test_cfg merge_backend must be one of {tuple(MERGE_BACKENDS)}, '
                         f'got {name!r}')
    return MERGE_BACKENDS[name]()
