"""Video K-Net model components; importing registers them in :mod:`knet.registry`."""
from . import detectors, heads, losses, trackers  # noqa: F401
