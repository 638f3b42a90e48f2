"""Softmax / sigmoid cross-entropy loss: ``loss_mask``, ``loss_rpn_seg`` and ``loss_rpn_rank``
(docs/model.md).

Semantics of mmdet 2.18 ``mmdet/models/losses/cross_entropy_loss.py`` (which K-Net re-registered
with ``force=True``; we register it once in the ``knet`` scope):

* **softmax mode** (``use_sigmoid=False``): ``F.cross_entropy`` per element; pixels whose label
  equals ``ignore_index`` contribute 0 **but still count** in the ``'mean'`` denominator when no
  ``avg_factor`` is given. This reproduces the reference. Set
  ``avg_non_ignore=True`` to average over the non-ignored elements instead (a fix, not the
  reference behaviour).
* **sigmoid mode** (``use_sigmoid=True``): ``binary_cross_entropy_with_logits`` against float
  targets of the *same shape* as the logits, mean over all elements (void and padding pixels are
  not ignored, as in the reference).
"""
from typing import List, Optional, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn

from knet.registry import MODELS
from .utils import check_reduction, weight_reduce_loss

#: ``ignore_index`` of :func:`torch.nn.functional.cross_entropy` when none is configured.
TORCH_DEFAULT_IGNORE_INDEX = -100


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss, softmax or sigmoid (see module docstring).

    Args:
        use_sigmoid: sigmoid (binary, per element) instead of softmax over the class axis.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
        ignore_index: softmax mode only; label value that contributes 0.
        class_weight: optional per-class weights (softmax: ``weight`` of ``F.cross_entropy``;
            sigmoid: ``pos_weight`` of ``F.binary_cross_entropy_with_logits``).
        avg_non_ignore: softmax mode only; average over non-ignored elements when no
            ``avg_factor`` is given (False reproduces the reference).
    """

    def __init__(self, use_sigmoid: bool = False, reduction: str = 'mean',
                 loss_weight: float = 1.0, ignore_index: Optional[int] = None,
                 class_weight: Optional[List[float]] = None,
                 avg_non_ignore: bool = False) -> None:
        super().__init__()
        if use_sigmoid and (ignore_index is not None or avg_non_ignore):
            raise ValueError('CrossEntropyLoss: ignore_index / avg_non_ignore apply to the '
                             'softmax mode only (use_sigmoid=False); sigmoid targets are floats '
                             'of the logits shape')
        self.use_sigmoid = use_sigmoid
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self.class_weight = class_weight
        self.avg_non_ignore = avg_non_ignore

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = None) -> Tensor:
        """Compute the loss.

        Args:
            cls_score: softmax: (N, C, ...) logits; sigmoid: logits of any shape.
            label: softmax: (N, ...) long class indices; sigmoid: float targets in [0, 1] of the
                same shape as ``cls_score``.
            weight: element-wise weights, broadcastable to the per-element loss ((N, ...) in
                softmax mode, the logits shape in sigmoid mode).
            avg_factor: denominator of the mean (see :func:`weight_reduce_loss`).
            reduction_override: overrides ``self.reduction``.
            ignore_index: overrides ``self.ignore_index`` (softmax mode).

        Returns:
            The weighted loss, a scalar unless the reduction is ``'none'``.
        """
        reduction = check_reduction(reduction_override or self.reduction)
        class_weight = None
        if self.class_weight is not None:
            class_weight = cls_score.new_tensor(self.class_weight)
        if self.use_sigmoid:
            if label.shape != cls_score.shape:
                raise ValueError(f'CrossEntropyLoss(use_sigmoid=True) expects targets of the '
                                 f'logits shape {tuple(cls_score.shape)}, got '
                                 f'{tuple(label.shape)}')
            loss = F.binary_cross_entropy_with_logits(cls_score, label.to(cls_score.dtype),
                                                      pos_weight=class_weight, reduction='none')
        else:
            loss, avg_factor = self._softmax_loss(cls_score, label, class_weight, reduction,
                                                  avg_factor, ignore_index)
        if weight is not None:
            weight = weight.to(loss.dtype)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)

    def _softmax_loss(self, cls_score: Tensor, label: Tensor, class_weight: Optional[Tensor],
                      reduction: str, avg_factor: Optional[Union[float, Tensor]],
                      ignore_index: Optional[int]
                      ) -> Tuple[Tensor, Optional[Union[float, Tensor]]]:
        """Per-element softmax CE (N, ...) and the (possibly non-ignore) averaging factor."""
        if cls_score.dim() < 2 or label.shape != cls_score.shape[:1] + cls_score.shape[2:]:
            raise ValueError(f'CrossEntropyLoss(use_sigmoid=False) expects logits (N, C, ...) and '
                             f'labels (N, ...); got {tuple(cls_score.shape)} and '
                             f'{tuple(label.shape)}')
        if ignore_index is None:
            ignore_index = self.ignore_index
        if ignore_index is None:
            ignore_index = TORCH_DEFAULT_IGNORE_INDEX
        loss = F.cross_entropy(cls_score, label.long(), weight=class_weight, reduction='none',
                               ignore_index=ignore_index)
        if self.avg_non_ignore and avg_factor is None and reduction == 'mean':
            avg_factor = (label != ignore_index).sum().to(loss.dtype)
        return loss, avg_factor
