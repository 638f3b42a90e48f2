"""Runner-side utilities: checkpoint loading fix, hooks, optimizer helpers."""
from . import checkpoint  # noqa: F401  (registers the torch>=2.6 checkpoint loader)
from . import hooks  # noqa: F401  (CheckInvalidLossHook)
