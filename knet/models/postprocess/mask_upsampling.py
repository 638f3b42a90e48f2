"""Mask probabilities at the output size, computed lazily by row blocks (``'blocked'`` backend).

K-Net's test path (:func:`.panoptic_fusion.rescale_masks`, after ``KernelIterHead.rescale_masks``
of the original ``knet/det/kernel_iter_head.py``) takes the sigmoid of the final mask logits
(N, h, w), resizes them bilinearly (``align_corners=False``) to the padded batch shape, crops the
image and resizes to the original size. At KITTI-STEP size this is 117 x 375 x 1242
probabilities (~220 MB) that the merge reads once. :class:`UpsampledMasks` keeps the
low-resolution probabilities and produces any block of output rows on demand, with the values
of the full computation of the same masks by the same kernel bit for bit:

* the resize factor ``r = H_pad / h`` is a power of two on both axes, so the source coordinate
  ``(y + 0.5) / r - 0.5`` of an output row (or column), and its bilinear weights, are exact in
  floating point; a block of input rows (and columns) with a one-sample margin reproduces its
  output rows exactly (checked by the tests against the full ``F.interpolate``);
* the sigmoid is taken once on the whole (N, h, w) tensor (the vectorized sigmoid may round an
  element differently depending on its position in the tensor);
* blocks are produced and returned pixel-major, (rows, W, K) with the masks innermost: the
  reductions of the merge (over the masks, per pixel) then run along contiguous memory, and
  ``F.interpolate`` takes its channels-last kernel, 3 - 5x faster on CPU than the NCHW kernel
  for ~100 masks. That kernel vectorizes over the masks and its vector lanes round the last
  bit differently from its scalar tail (the last ``K % 8`` masks with AVX2, ``K % 16`` with
  AVX-512; twice as many for 16-bit floats). The masks are therefore always interpolated in
  groups of a multiple of the SIMD width (padded by repeating one), so that a mask's values are
  the same whichever masks are asked with it: the merge counts ``orig_area`` on a few of the
  masks that entered its argmax. The values are those of one channels-last ``F.interpolate``
  of a padded group bit for bit, and within one float32 ulp of the NCHW kernel's.

When the factor is not a power of two or the image was resized at test time
(``img_shape != ori_shape``), :meth:`UpsampledMasks.from_logits` computes the full tensor
instead (factor 1: blocks are slices).

Skipping masks that cannot win a block
(bounds from tile-wise max pooling) was tried and dropped: computing the bounds cost more than
it saved, even on confident masks.
"""
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

#: Values per row block: 8 MB in float32 on CPU (cache-sized), 256 MB on accelerators (one or
#: two blocks a frame: fewer kernel launches).
BLOCK_VALUES = dict(cpu=1 << 21, accelerator=1 << 26)
#: Bytes of a SIMD vector of PyTorch's CPU kernels (32 with AVX2; 64 covers AVX-512 and others).
SIMD_BYTES = {'AVX2': 32}.get(torch.backends.cpu.get_cpu_capability(), 64)


def simd_group(dtype: torch.dtype) -> int:
    """Masks of ``dtype`` per SIMD vector: groups of a multiple of this take the vector path."""
    return max(1, SIMD_BYTES // dtype.itemsize)


#: An output position: an int or an integer tensor of them.
_Index = TypeVar('_Index', int, Tensor)


def _hw(shape: Sequence[int]) -> Tuple[int, int]:
    """(height, width) of a shape or metainfo entry such as ``img_shape`` (H, W[, C])."""
    return int(shape[0]), int(shape[1])


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
    def from_logits(cls, mask_logits: Tensor, img_meta: Dict[str, Any],
                    out: Optional[Tensor] = None) -> 'UpsampledMasks':
        """sigmoid -> resize to ``batch_input_shape`` -> crop ``img_shape`` -> ``ori_shape``.

        Args:
            mask_logits: (N, h, w) mask logits.
            img_meta: metainfo with ``batch_input_shape``, ``img_shape`` and ``ori_shape``.
            out: tensor like ``mask_logits`` to hold the low-resolution probabilities (the
                masks then live in it). A caller reusing one across frames saves a fresh
                ~56 MB allocation per KITTI-STEP frame, whose page faults cost ~3x the sigmoid
                itself on CPU.
        """
        if out is not None and (out.shape != mask_logits.shape or out.dtype != mask_logits.dtype):
            raise ValueError(f'from_logits: out {tuple(out.shape)} {out.dtype} does not match '
                             f'mask_logits {tuple(mask_logits.shape)} {mask_logits.dtype}')
        probs = mask_logits.sigmoid() if out is None else torch.sigmoid(mask_logits, out=out)
        return cls.resize(probs, img_meta)

    @classmethod
    def resize(cls, values: Tensor, img_meta: Dict[str, Any]) -> 'UpsampledMasks':
        """(N, h, w) maps of the padded input -> (N, H_ori, W_ori), as K-Net's test path.

        Resized bilinearly to ``batch_input_shape``, cropped to ``img_shape`` and resized to
        ``ori_shape`` (lazily when the first resize is a power-of-two factor and the image was
        not resized at test time; by the full tensor otherwise).
        """
        for key in ('batch_input_shape', 'img_shape', 'ori_shape'):
            if key not in img_meta:
                raise KeyError(f'data_sample metainfo lacks {key!r}, needed to rescale masks')
        pad_hw, img_hw, ori_hw = (_hw(img_meta[key]) for key in
                                  ('batch_input_shape', 'img_shape', 'ori_shape'))
        factors = {_power_of_two_factor(n, out) for n, out in zip(values.shape[-2:], pad_hw)}
        if img_hw == ori_hw and len(factors) == 1 and 0 not in factors:
            return cls(values, factors.pop(), img_hw)
        dense = _bilinear(values.permute(1, 2, 0), pad_hw)[:img_hw[0], :img_hw[1]]
        if img_hw != ori_hw:
            dense = _bilinear(dense, ori_hw)
        return cls(dense.permute(2, 0, 1), 1, ori_hw)

    @classmethod
    def from_dense(cls, probs: Tensor) -> 'UpsampledMasks':
        """Wrap full-size (N, H, W) probabilities (factor 1)."""
        return cls(probs, 1, _hw(probs.shape[-2:]))

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(N, H, W) of the output."""
        return (self.probs.size(0), self.size[0], self.size[1])

    def _lower_sources(self, out: _Index) -> _Index:
        """Lower source row / column of output position(s) ``out`` (an int or an integer
        tensor), before clamping: ``floor((out + 0.5) / r - 0.5)`` as PyTorch's bilinear kernel
        (``align_corners=False``) computes it, here in exact integer arithmetic. The upper
        source is the next one; both are clamped to the input."""
        return (2 * out + 1 - self.factor) // (2 * self.factor)

    def _sources(self, start: int, stop: int, axis: int) -> Tuple[int, int]:
        """Input rows (axis 1) or columns (axis 2) [i0, i1) whose values enter output rows or
        columns [start, stop) (bilinear: 2-sample support)."""
        return (max(self._lower_sources(start), 0),
                min(max(self._lower_sources(stop - 1), 0) + 2, self.probs.size(axis)))

    def rows(self, index: Tensor, top: int, bottom: int, left: int = 0,
             right: Optional[int] = None) -> Tensor:
        """Output rows [top, bottom) and columns [left, right) (default all, both clipped to
        the size) of the masks ``index``, pixel-major: a new (rows, cols, len(index)) tensor
        (possibly a view of a larger one). Non-empty ranges are expected. The values of a
        mask do not depend on which other masks are asked with it (:func:`_bilinear`).
        """
        bottom = min(bottom, self.size[0])
        right = self.size[1] if right is None else min(right, self.size[1])
        pixel_major = self.probs.permute(1, 2, 0)
        if self.factor == 1:
            return _select_masks(pixel_major[top:bottom, left:right], index)
        i0, i1 = self._sources(top, bottom, 1)
        j0, j1 = self._sources(left, right, 2)
        block = _bilinear(_select_masks(pixel_major[i0:i1, j0:j1], index),
                          (self.factor * (i1 - i0), self.factor * (j1 - j0)))
        top, bottom, left, right = (v - self.factor * o for v, o in
                                    ((top, i0), (bottom, i0), (left, j0), (right, j0)))
        return block[top:bottom, left:right]

    def blocks(self, index: Tensor, top: int = 0, bottom: Optional[int] = None, left: int = 0,
               right: Optional[int] = None,
               block_values: Optional[int] = None) -> Iterator[Tuple[int, Tensor]]:
        """``(row, rows(index, row, row + n, left, right))`` for consecutive blocks of n rows
        covering rows [top, bottom) (default all), n chosen so that a block holds about
        ``block_values`` values (default :data:`BLOCK_VALUES` of the device: cache-sized on
        CPU, where fresh large tensors also cost page faults)."""
        if block_values is None:
            cpu = self.probs.device.type == 'cpu'
            block_values = BLOCK_VALUES['cpu' if cpu else 'accelerator']
        bottom = self.size[0] if bottom is None else min(bottom, self.size[0])
        right = self.size[1] if right is None else min(right, self.size[1])
        group = simd_group(self.probs.dtype) if self.factor > 1 else 1
        padded = -(-index.numel() // group) * group  # masks interpolated by _bilinear
        rows = max(1, block_values // max(padded * (right - left), 1))
        for row in range(top, bottom, rows):
            yield row, self.rows(index, row, min(row + rows, bottom), left, right)

    def count_bounds(self, index: Tensor, threshold: float) -> Tuple[Tensor, Tensor]:
        """(len(index),) int64 lower and upper bounds of :meth:`count_at_least`, from the
        low-resolution probabilities only (exact counts when the factor is 1).

        An output value is a convex combination of its (up to) 4 sources with exact dyadic
        weights, rounded a few times: it is >= ``threshold`` when all sources are above it by
        a margin of 8 machine epsilons, and below it when all sources are below by that margin.
        The output pixels are counted per pair of source rows and pair of source columns.
        """
        if self.factor == 1 or index.numel() == 0:
            exact = self.count_at_least(index, threshold)
            return exact, exact
        margin = 8 * torch.finfo(self.probs.dtype).eps
        rows, row_counts = self._source_pairs(self.size[0], 1)
        cols, col_counts = self._source_pairs(self.size[1], 2)
        probs = self.probs[index]
        low = torch.minimum(probs[:, rows[0]], probs[:, rows[1]])
        low = torch.minimum(low[..., cols[0]], low[..., cols[1]])
        high = torch.maximum(probs[:, rows[0]], probs[:, rows[1]])
        high = torch.maximum(high[..., cols[0]], high[..., cols[1]])
        pixels = row_counts[:, None] * col_counts[None, :]  # output pixels of each source quad
        lower = ((low >= threshold * (1 + margin)) * pixels).sum((1, 2))
        upper = ((high >= threshold * (1 - margin)) * pixels).sum((1, 2))
        return lower, upper

    def _source_pairs(self, size: int, axis: int) -> Tuple[Tuple[Tensor, Tensor], Tensor]:
        """The distinct (lower, upper) source indices of output positions [0, size) along
        ``axis`` (1: rows, 2: columns), as in PyTorch's bilinear kernel, and how many output
        positions use each pair."""
        last = self.probs.size(axis) - 1
        lower = self._lower_sources(torch.arange(size, device=self.probs.device))
        lower = lower.clamp(min=0, max=last)
        lower, counts = torch.unique_consecutive(lower, return_counts=True)
        return (lower, (lower + 1).clamp(max=last)), counts

    def count_at_least(self, index: Tensor, threshold: float) -> Tensor:
        """(len(index),) int64 number of output pixels where each mask is >= ``threshold``."""
        counts = torch.zeros(index.numel(), dtype=torch.long, device=index.device)
        if index.numel() == 0:
            return counts
        above = None
        for _, block in self.blocks(index):
            if above is None or above.shape != block.shape:
                above = torch.empty(block.shape, device=block.device)
            # ge into float, then sum: ~2x faster on CPU than a bool sum; exact below 2**24
            counts += torch.ge(block, threshold, out=above).sum((0, 1)).long()
        return counts

    def dense(self) -> Tensor:
        """All (N, H, W) probabilities (by :meth:`rows`: the same values as every block)."""
        index = torch.arange(self.probs.size(0), device=self.probs.device)
        return self.rows(index, 0, self.size[0]).permute(2, 0, 1).contiguous()


def _select_masks(maps: Tensor, index: Tensor) -> Tensor:
    """``maps[..., index]`` of pixel-major (h, w, N) maps as a new (h, w, K) tensor
    (``gather`` with an expanded index: ~6x faster on CPU than ``index_select`` on the last dim)."""
    return torch.gather(maps, 2, index.expand(maps.shape[:2] + index.shape))


def _bilinear(maps: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bilinear resize (``align_corners=False``) of pixel-major (h, w, K) maps to (H, W, K),
    by the channels-last kernel; the result is a pixel-major view.

    The K maps are padded to a multiple of :func:`simd_group` (the last one repeated): every map
    then takes the vectorized path of the kernel, so its values do not depend on K or on its
    position.
    """
    count, group = maps.size(2), simd_group(maps.dtype)
    if count % group:
        maps = torch.cat([maps, maps[..., -1:].expand(-1, -1, -count % group)], 2)
    # A (1, h, w, K) view permuted to NCHW has channels-last strides incl. the batch stride,
    # which the kernel selection checks (a size-1 batch with a smaller stride selects NCHW).
    channels_last = maps.contiguous()[None].permute(0, 3, 1, 2)
    out = F.interpolate(channels_last, size=size, mode='bilinear', align_corners=False)
    return out[0].permute(1, 2, 0)[..., :count]
