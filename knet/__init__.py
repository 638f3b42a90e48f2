"""Image K-Net (NeurIPS 2021), re-implemented on mmengine: importing registers every module."""
from . import datasets, engine, evaluation, models, structures  # noqa: F401

__version__ = '0.1.0'
