"""Image datasets and (clip-aware) transforms."""
from . import transforms  # noqa: F401
