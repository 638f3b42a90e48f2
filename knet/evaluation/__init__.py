"""Online image metrics (mmengine wrappers over the torch-free :mod:`vseg.metrics`)."""
from .panoptic_metric import PanopticMetric

__all__ = ['PanopticMetric']
