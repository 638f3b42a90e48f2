"""Detectors: the image K-Net panoptic segmenter."""
from .knet import KNet

__all__ = ['KNet']
