"""Video datasets (KITTI-STEP) and the sequence sampler; transforms live in knet.datasets."""
from . import transforms  # noqa: F401
from .kitti_step import KITTISTEPDataset
from .samplers import SequenceSampler, split_sequences
from .video_panoptic_dataset import VideoPanopticDataset, check_ref_seq_index

__all__ = [
    'KITTISTEPDataset', 'SequenceSampler', 'split_sequences', 'VideoPanopticDataset',
    'check_ref_seq_index'
]
