"""Data containers passed between pipeline, data preprocessor, model and metrics.

``PanopticDataSample`` describes one frame. Fields (all optional):

* ``gt_instances`` (:class:`InstanceData`): ``masks`` (N, H, W) uint8 binary thing masks,
  ``labels`` (N,) int64 *model* labels, ``instance_ids`` (N,) int64 panoptic ids
  ``class_id * LABEL_DIVISOR + instance`` (unique per object within a sequence).
* ``gt_sem_seg`` (:class:`PixelData`): ``sem_seg`` (1, H, W) int64 model labels, 255 = ignore.
* ``pred_panoptic`` (:class:`PixelData`): ``sem_seg`` (1, H, W) int64 *dataset* class ids with
  255 = no prediction, ``instance_ids`` (1, H, W) int64 instance / track ids with 0 = none.
* ``pred_instances`` (:class:`InstanceData`): the thing segments (``masks``, ``labels``, ``scores``,
  optional ``instance_ids``).

Metainfo keys: ``img_path``, ``seq_id``, ``frame_id``, ``ori_shape`` (h, w), ``img_shape`` (h, w)
after resizing, ``pad_shape`` and ``batch_input_shape`` (set by the data preprocessor),
``scale_factor`` (w, h), ``flip``, ``flip_direction``.

``ClipDataSample`` holds the frames of one training clip (key frame first, then references),
following mmdet's ``TrackDataSample``; it is a single element for ``pseudo_collate``.
"""
from typing import Iterator, List, Optional

from mmengine.structures import BaseDataElement, InstanceData, PixelData


class PanopticDataSample(BaseDataElement):
    """One frame with its ground truth and/or predictions (see module docstring)."""

    @property
    def gt_instances(self) -> InstanceData:
        return self._gt_instances

    @gt_instances.setter
    def gt_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_gt_instances', dtype=InstanceData)

    @gt_instances.deleter
    def gt_instances(self) -> None:
        del self._gt_instances

    @property
    def gt_sem_seg(self) -> PixelData:
        return self._gt_sem_seg

    @gt_sem_seg.setter
    def gt_sem_seg(self, value: PixelData) -> None:
        self.set_field(value, '_gt_sem_seg', dtype=PixelData)

    @gt_sem_seg.deleter
    def gt_sem_seg(self) -> None:
        del self._gt_sem_seg

    @property
    def pred_panoptic(self) -> PixelData:
        return self._pred_panoptic

    @pred_panoptic.setter
    def pred_panoptic(self, value: PixelData) -> None:
        self.set_field(value, '_pred_panoptic', dtype=PixelData)

    @pred_panoptic.deleter
    def pred_panoptic(self) -> None:
        del self._pred_panoptic

    @property
    def pred_instances(self) -> InstanceData:
        return self._pred_instances

    @pred_instances.setter
    def pred_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_pred_instances', dtype=InstanceData)

    @pred_instances.deleter
    def pred_instances(self) -> None:
        del self._pred_instances


class ClipDataSample(BaseDataElement):
    """The frames of one clip: ``video_data_samples[0]`` is the key frame, the rest references."""

    def __init__(self, *, video_data_samples: Optional[List[PanopticDataSample]] = None,
                 metainfo: Optional[dict] = None) -> None:
        super().__init__(metainfo=metainfo)
        self.video_data_samples = list(video_data_samples or [])

    def __getitem__(self, index: int) -> PanopticDataSample:
        return self.video_data_samples[index]

    def __len__(self) -> int:
        return len(self.video_data_samples)

    def __iter__(self) -> Iterator[PanopticDataSample]:
        return iter(self.video_data_samples)
