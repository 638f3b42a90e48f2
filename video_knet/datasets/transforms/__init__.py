"""Video transforms: none of their own; the clip-aware ones of :mod:`knet.datasets.transforms`
serve frames and clips alike (video extends image without copying)."""
