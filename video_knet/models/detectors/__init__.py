"""Video K-Net detector: joint key/reference training and online tracking."""
from .video_knet import SequenceMemory, VideoKNet

__all__ = ['SequenceMemory', 'VideoKNet']
