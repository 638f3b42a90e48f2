"""Image K-Net (NeurIPS 2021), re-implemented on mmengine: importing registers every module."""
from . import engine, structures  # noqa: F401  (engine first: checkpoint loader fix)
from . import datasets, evaluation, models  # noqa: F401

__version__ = '0.1.0'
