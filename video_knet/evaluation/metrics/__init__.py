"""mmengine metrics of video panoptic segmentation (registered in ``knet.registry.METRICS``)."""
from .benchmark_metric import BenchmarkVideoMetric
from .video_panoptic_metric import VideoPanopticMetric

__all__ = ['BenchmarkVideoMetric', 'VideoPanopticMetric']
