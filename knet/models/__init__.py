"""K-Net model components; importing registers them in :mod:`knet.registry`."""
from . import (  # noqa: F401,E501
    backbones,
    data_preprocessor,  # noqa: F401
    detectors,
    heads,
    layers,
    losses,
    necks,
    postprocess,
    task_modules,
)
