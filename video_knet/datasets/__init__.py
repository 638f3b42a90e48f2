"""Video datasets, clip samplers and video transforms."""
from . import transforms  # noqa: F401
