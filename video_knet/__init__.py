"""Video K-Net (CVPR 2022): the video extension of :mod:`knet`; importing registers every module."""
import knet  # noqa: F401  (video extends image, never the reverse)
from . import datasets, evaluation, models  # noqa: F401
