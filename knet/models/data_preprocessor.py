"""Batch normalization and padding for (Video) K-Net, as the original pipelines.

Replaces the original ``Normalize`` + ``Pad(size_divisor=32)`` (``SeqNormalizeWithDepth``,
``SeqPadWithDepth``, ``PadFutureMMDet``): images are normalized with the RGB mean/std, then padded
at the bottom/right to a common batch size divisible by 32 with 0 (*after* normalization, as the
original); ground-truth masks are padded with 0 and semantic maps with 255. Every frame sample
gets ``batch_input_shape`` and ``pad_shape`` metainfo. Contract: docs/ARCHITECTURE.md ("Data").
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData
from torch import Tensor

from knet.registry import MODELS
from knet.structures import ClipDataSample, PanopticDataSample

SampleList = List[Union[PanopticDataSample, ClipDataSample]]


@MODELS.register_module()
class KNetDataPreprocessor(BaseDataPreprocessor):
    """Normalize, pad and batch frame or clip samples and move them to the model's device.

    Args:
        mean: per-channel RGB mean (0..255 units).
        std: per-channel RGB std.
        pad_size_divisor: padded height and width are multiples of this.
        pad_value: image padding value, applied after normalization.
        mask_pad_value: padding of ``gt_instances.masks``.
        seg_pad_value: padding of ``gt_sem_seg.sem_seg``.
        bgr_to_rgb: reverse the channel order first (inputs are RGB by contract, so False).
        non_blocking: non-blocking host-to-device copies.
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), pad_size_divisor: int = 32,
                 pad_value: float = 0.0, mask_pad_value: int = 0, seg_pad_value: int = 255,
                 bgr_to_rgb: bool = False, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values, got {mean} and {std}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(3, 1, 1), False)
        self.pad_size_divisor = int(pad_size_divisor)
        self.pad_value = float(pad_value)
        self.mask_pad_value = int(mask_pad_value)
        self.seg_pad_value = int(seg_pad_value)
        self.bgr_to_rgb = bgr_to_rgb

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a collated batch.

        Args:
            data: ``dict(inputs, data_samples)`` from ``pseudo_collate``: ``inputs`` a list of
                uint8 (3, H, W) frames or (T, 3, H, W) clips (or a stacked tensor),
                ``data_samples`` the matching ``PanopticDataSample``/``ClipDataSample`` list.
            training: unused (same processing in training and inference).

        Returns:
            ``dict(inputs=float (B, 3, Hp, Wp) or (B, T, 3, Hp, Wp), data_samples=...)``.
        """
        inputs = list(data['inputs'])
        samples: Optional[SampleList] = data.get('data_samples')
        if not inputs:
            raise ValueError('KNetDataPreprocessor: empty batch')
        is_clip = inputs[0].dim() == 4
        if any(image.dim() != (4 if is_clip else 3) for image in inputs):
            raise ValueError('KNetDataPreprocessor: mixed frame (3, H, W) and clip (T, 3, H, W) '
                             f'inputs: {[tuple(image.shape) for image in inputs]}')
        images = [self._normalize(image.to(self.device, non_blocking=self._non_blocking))
                  for image in inputs]
        pad_h, pad_w = self.batch_shape(images)
        batch = torch.stack([F.pad(image, (0, pad_w - image.shape[-1], 0, pad_h - image.shape[-2]),
                                   value=self.pad_value) for image in images])
        if samples is not None:
            samples = [self._pad_sample(sample, (pad_h, pad_w)) for sample in samples]
        return dict(inputs=batch, data_samples=samples)

    def _pad_sample(self, sample: Union[PanopticDataSample, ClipDataSample],
                    shape: Tuple[int, int]) -> Union[PanopticDataSample, ClipDataSample]:
        """Move a frame sample, or every frame of a clip sample, to the device and pad it."""
        if isinstance(sample, ClipDataSample):
            sample.video_data_samples = [self._pad_frame(frame.to(self.device), shape)
                                         for frame in sample.video_data_samples]
            return sample
        return self._pad_frame(sample.to(self.device), shape)

    def _normalize(self, image: Tensor) -> Tensor:
        """(..., 3, H, W) uint8/float -> float, normalized (optionally after BGR->RGB)."""
        if image.shape[-3] != 3:
            raise ValueError(f'KNetDataPreprocessor: expected 3 channels, got {tuple(image.shape)}')
        image = image.float()
        if self.bgr_to_rgb:
            image = image.flip(-3)
        return (image - self.mean) / self.std

    def batch_shape(self, images: List[Tensor]) -> Tuple[int, int]:
        """Smallest (Hp, Wp) >= every image, divisible by ``pad_size_divisor``."""
        divisor = max(self.pad_size_divisor, 1)
        max_h = max(image.shape[-2] for image in images)
        max_w = max(image.shape[-1] for image in images)
        return math.ceil(max_h / divisor) * divisor, math.ceil(max_w / divisor) * divisor

    def _pad_frame(self, frame: PanopticDataSample,
                   shape: Tuple[int, int]) -> PanopticDataSample:
        """Pad the frame's gt masks (0) and semantic map (255); set shape metainfo."""
        frame.set_metainfo(dict(batch_input_shape=shape, pad_shape=shape))
        if 'gt_instances' in frame and 'masks' in frame.gt_instances:
            masks = frame.gt_instances.masks
            frame.gt_instances.masks = F.pad(
                masks, (0, shape[1] - masks.shape[-1], 0, shape[0] - masks.shape[-2]),
                value=self.mask_pad_value)
        if 'gt_sem_seg' in frame:
            sem_seg = frame.gt_sem_seg.sem_seg
            padded = F.pad(sem_seg, (0, shape[1] - sem_seg.shape[-1], 0,
                                     shape[0] - sem_seg.shape[-2]), value=self.seg_pad_value)
            frame.gt_sem_seg = PixelData(sem_seg=padded, metainfo=frame.gt_sem_seg.metainfo)
        return frame
