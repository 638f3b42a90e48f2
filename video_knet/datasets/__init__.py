"""Video datasets (KITTI-STEP, VIPSeg, Cityscapes-VPS) and the sequence sampler; transforms:
knet.datasets."""
from . import transforms  # noqa: F401
from .cityscapes_vps import CityscapesVPSDataset
from .kitti_step import KITTISTEPDataset
from .samplers import SequenceSampler, split_sequences
from .video_panoptic_dataset import VideoPanopticDataset, check_ref_seq_index
from .vipseg import VIPSegDataset

__all__ = [
    'CityscapesVPSDataset', 'KITTISTEPDataset', 'SequenceSampler', 'split_sequences',
    'VideoPanopticDataset', 'check_ref_seq_index', 'VIPSegDataset'
]
