"""Online video panoptic metrics (mmengine wrappers over the torch-free :mod:`vseg.metrics`)."""
from . import metrics  # noqa: F401
from .metrics import VideoPanopticMetric

__all__ = ['VideoPanopticMetric']
