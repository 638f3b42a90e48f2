"""Video K-Net detector (DESIGN.md §1, §5): joint key/reference training and online tracking."""
from .video_knet import SequenceMemory, VideoKNet

__all__ = ['SequenceMemory', 'VideoKNet']
