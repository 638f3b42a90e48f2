"""Online video panoptic metrics (mmengine wrappers over the torch-free :mod:`vseg.metrics`)."""
from . import metrics  # noqa: F401
from .metrics import BenchmarkVideoMetric, VideoPanopticMetric

__all__ = ['BenchmarkVideoMetric', 'VideoPanopticMetric']
