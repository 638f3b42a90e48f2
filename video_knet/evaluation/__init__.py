"""STQ / VPQ: pure-numpy functional metrics and the mmengine metric wrapper."""
from . import functional, metrics  # noqa: F401
