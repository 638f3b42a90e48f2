"""mmengine metrics of video panoptic segmentation (registered in ``knet.registry.METRICS``)."""
from .video_panoptic_metric import VideoPanopticMetric

__all__ = ['VideoPanopticMetric']
