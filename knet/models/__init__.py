"""K-Net model components; importing registers them in :mod:`knet.registry`."""
from . import backbones, detectors, heads, layers, losses, necks, postprocess, task_modules  # noqa: F401,E501
from . import data_preprocessor  # noqa: F401
