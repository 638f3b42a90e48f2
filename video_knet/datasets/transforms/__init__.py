"""Video transforms: none of their own; the clip-aware ones of :mod:`knet.datasets.transforms`
serve frames and clips alike (STYLE.md §2: video extends image without copying)."""
