"""KITTI-STEP video panoptic dataset: frames or training clips (the original
``KITTISTEPDVPSDataset``).

The file listing is the image side's :class:`knet.datasets.KITTISTEPFrameDataset`; the clip
sampling (key frame + reference frames from ``ref_seq_index``) is :class:`VideoPanopticDataset`.
"""
from knet.datasets import KITTISTEPFrameDataset
from knet.registry import DATASETS
from .video_panoptic_dataset import VideoPanopticDataset


@DATASETS.register_module()
class KITTISTEPDataset(VideoPanopticDataset, KITTISTEPFrameDataset):
    """KITTI-STEP frames (``ref_seq_index=None``) or training clips.

    Args: see :class:`VideoPanopticDataset` (``data_root`` is the folder holding
    ``video_sequence/``; ``split`` one of its sub-folders).
    """
