"""STQ / VPQ: pure-numpy functional metrics, result readers and the mmengine metric wrapper."""
from . import functional, io, metrics  # noqa: F401
from .functional import STQuality, VideoPanopticQuality, count_pairs
from .metrics import VideoPanopticMetric

__all__ = ['STQuality', 'VideoPanopticQuality', 'count_pairs', 'VideoPanopticMetric']
