"""Packing of frame / clip samples into the contract of docs/ARCHITECTURE.md ("Data").

Replaces the original's ``VideoCollect``, ``ConcatVideoReferences`` and ``SeqDefaultFormatBundle``
(``DefaultFormatBundle`` + ``Collect`` for images). A frame sample becomes
``dict(inputs=uint8 (3, H, W), data_samples=PanopticDataSample)``; a clip sample (data info with
``frames``, key frame first) becomes ``dict(inputs=uint8 (T, 3, H, W),
data_samples=ClipDataSample)``. Images are neither normalized nor padded here.
"""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData, PixelData

from knet.registry import TRANSFORMS
from knet.structures import ClipDataSample, PanopticDataSample

#: Frame keys copied into the data sample metainfo when present.
DEFAULT_META_KEYS = ('img_path', 'seg_path', 'ins_path', 'ann_path', 'seg_format', 'seq_id',
                     'seq_name', 'frame_id', 'sample_idx', 'ori_shape', 'img_shape',
                     'scale_factor', 'flip', 'flip_direction')


@TRANSFORMS.register_module()
class PackPanopticInputs(BaseTransform):
    """Convert a loaded/augmented frame or clip into ``inputs`` + data sample(s).

    Args:
        meta_keys: frame keys copied into every ``PanopticDataSample``'s metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def pack_frame(self, frame: dict) -> tuple:
        """Pack one frame dict.

        Returns:
            ``(image, data_sample)``: uint8 tensor (3, H, W) RGB and its ``PanopticDataSample``.
        """
        img = frame['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"PackPanopticInputs: frame {frame.get('img_path')} image must be "
                             f'(H, W, 3) uint8, got {img.dtype} {img.shape}')
        image = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = PanopticDataSample(
            metainfo={key: frame[key] for key in self.meta_keys if key in frame})
        if 'gt_masks' in frame:
            sample.gt_instances = InstanceData(
                masks=torch.from_numpy(np.ascontiguousarray(frame['gt_masks'], dtype=np.uint8)),
                labels=torch.as_tensor(frame['gt_labels'], dtype=torch.int64),
                instance_ids=torch.as_tensor(frame['gt_instance_ids'], dtype=torch.int64))
        if 'gt_sem_seg' in frame:
            sem_seg = torch.from_numpy(frame['gt_sem_seg'].astype(np.int64))[None]
            sample.gt_sem_seg = PixelData(sem_seg=sem_seg)
        return image, sample

    def transform(self, results: dict) -> dict:
        """Return ``dict(inputs, data_samples)`` for a frame or a clip (see module docstring)."""
        if 'frames' not in results:
            image, sample = self.pack_frame(results)
            return dict(inputs=image, data_samples=sample)
        packed = [self.pack_frame(frame) for frame in results['frames']]
        shapes = {tuple(image.shape) for image, _ in packed}
        if len(shapes) != 1:
            raise ValueError(f'PackPanopticInputs: clip frames differ in size {shapes}')
        clip_meta = {key: results[key] for key in ('seq_id', 'seq_name', 'frame_id', 'sample_idx')
                     if key in results}
        return dict(inputs=torch.stack([image for image, _ in packed]),
                    data_samples=ClipDataSample(
                        video_data_samples=[sample for _, sample in packed], metainfo=clip_meta))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
