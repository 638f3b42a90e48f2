"""Detectors (DESIGN.md §1): the image K-Net panoptic segmenter."""
from .knet import KNet

__all__ = ['KNet']
