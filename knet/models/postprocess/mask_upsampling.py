"""Mask probabilities at the output size, computed lazily by row blocks (DESIGN.md §3.3, §5.5).

K-Net's test path (``KernelIterHead.rescale_masks`` of the original ``knet/det/kernel_iter_head.py``)
takes the sigmoid of the final mask logits (N, h, w), resizes them bilinearly
(``align_corners=False``) to the padded batch shape, crops the image and resizes to the original
size. At KITTI-STEP size this is 117 x 375 x 1242 probabilities (~220 MB) that the merge reads
once. :class:`UpsampledMasks` keeps the low-resolution probabilities and produces any block of
output rows on demand, with the values of the full computation bit for bit:

* the resize factor ``r = H_pad / h`` is a power of two on both axes, so the source coordinate
  ``(y + 0.5) / r - 0.5`` of an output row, and its bilinear weights, are exact in floating
  point; a block of input rows with a one-row margin reproduces its output rows exactly
  (checked by the tests against the full ``F.interpolate``);
* the sigmoid is taken once on the whole (N, h, w) tensor (the vectorized sigmoid may round an
  element differently depending on its position in the tensor);
* every block is gathered into a new contiguous tensor, so ``F.interpolate`` always takes its
  NCHW kernel, also when the logits come with the mask index innermost (as the last stage
  gives them), where a whole-tensor resize would take the channels-last kernel, which rounds
  differently (and made one pixel of 60 toy frames differ from the previous implementation).

When the factor is not a power of two or the image was resized at test time
(``img_shape != ori_shape``), :meth:`UpsampledMasks.from_logits` computes the full tensor
instead (factor 1: blocks are slices).

Measured on a 2-core CPU (117 masks of 192x624 to 375x1242, one thread): resize + merge 560 –
710 ms with the full tensor, 330 – 350 ms by row blocks. Skipping masks that cannot win a block
(bounds from tile-wise max pooling) was tried and dropped: computing the bounds cost more than
it saved, even on confident masks.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def _power_of_two_factor(size: int, out: int) -> int:
    """``out // size`` if it is an exact power of two (1, 2, 4, ...), else 0."""
    if size <= 0 or out % size:
        return 0
    factor = out // size
    return factor if factor & (factor - 1) == 0 else 0


@dataclass
class UpsampledMasks:
    """(N, H, W) mask probabilities = ``bilinear_x{factor}(probs)[:, :H, :W]``, by row blocks.

    Attributes:
        probs: (N, h, w) low-resolution probabilities.
        factor: integer upsampling factor r (a power of two; 1 = no resize).
        size: output (H, W), at most (r * h, r * w).
    """

    probs: Tensor
    factor: int
    size: Tuple[int, int]

    def __post_init__(self) -> None:
        if self.probs.dim() != 3:
            raise ValueError(f'UpsampledMasks expects probs (N, h, w), got '
                             f'{tuple(self.probs.shape)}')
        h, w = self.probs.shape[-2:]
        height, width = self.size
        if _power_of_two_factor(1, self.factor) == 0 or \
                not (0 < height <= self.factor * h and 0 < width <= self.factor * w):
            raise ValueError(f'UpsampledMasks: probs {tuple(self.probs.shape)} (N, h, w) cannot '
                             f'be upsampled x{self.factor} and cropped to {self.size}')

    @classmethod
    def from_logits(cls, mask_logits: Tensor, img_meta: Dict[str, Any]) -> 'UpsampledMasks':
        """sigmoid -> resize to ``batch_input_shape`` -> crop ``img_shape`` -> ``ori_shape``.

        Args:
            mask_logits: (N, h, w) mask logits.
            img_meta: metainfo with ``batch_input_shape``, ``img_shape`` and ``ori_shape``.
        """
        for key in ('batch_input_shape', 'img_shape', 'ori_shape'):
            if key not in img_meta:
                raise KeyError(f'data_sample metainfo lacks {key!r}, needed to rescale masks')
        probs = mask_logits.sigmoid()
        pad_hw = tuple(img_meta['batch_input_shape'][:2])
        img_hw = tuple(img_meta['img_shape'][:2])
        ori_hw = tuple(img_meta['ori_shape'][:2])
        factors = {_power_of_two_factor(n, out) for n, out in zip(probs.shape[-2:], pad_hw)}
        if img_hw == ori_hw and len(factors) == 1 and 0 not in factors:
            return cls(probs, factors.pop(), img_hw)
        dense = F.interpolate(probs[None], size=pad_hw, mode='bilinear', align_corners=False)
        dense = dense[..., :img_hw[0], :img_hw[1]]
        if img_hw != ori_hw:
            dense = F.interpolate(dense, size=ori_hw, mode='bilinear', align_corners=False)
        return cls.from_dense(dense[0])

    @classmethod
    def from_dense(cls, probs: Tensor) -> 'UpsampledMasks':
        """Wrap full-size (N, H, W) probabilities (factor 1)."""
        return cls(probs, 1, tuple(probs.shape[-2:]))

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(N, H, W) of the output."""
        return (self.probs.size(0), ) + tuple(self.size)

    def _input_rows(self, top: int, bottom: int) -> Tuple[int, int]:
        """Input rows [i0, i1) whose values enter output rows [top, bottom) (2-row support)."""
        def source(row: int) -> int:  # the upper source row is source(row) + 1
            return max(math.floor((row + 0.5) / self.factor - 0.5), 0)
        return source(top), min(source(bottom - 1) + 2, self.probs.size(1))

    def rows(self, index: Tensor, top: int, bottom: int) -> Tensor:
        """Output rows [top, bottom) of the masks ``index`` (clipped to H): a new
        (len(index), rows, W) tensor."""
        bottom = min(bottom, self.size[0])
        width = self.size[1]
        if self.factor == 1:
            return self.probs[:, top:bottom, :width].index_select(0, index)
        i0, i1 = self._input_rows(top, bottom)
        block = self.probs[:, i0:i1].index_select(0, index)
        block = F.interpolate(block[None], size=(self.factor * (i1 - i0),
                                                 self.factor * self.probs.size(2)),
                              mode='bilinear', align_corners=False)[0]
        offset = self.factor * i0
        return block[:, top - offset:bottom - offset, :width]

    def dense(self) -> Tensor:
        """All (N, H, W) probabilities (by :meth:`rows`: the same values as every block)."""
        index = torch.arange(self.probs.size(0), device=self.probs.device)
        return self.rows(index, 0, self.size[0]).contiguous()
