"""vseg: the torch-free layer of video-knet (formats, results layouts, metainfo, metrics).

Everything here needs only NumPy, OpenCV and Pillow, so the evaluators built on it start in a
fraction of a second and can run where PyTorch is not installed. The model packages
(:mod:`knet`, :mod:`video_knet`) import from here; nothing here imports them.

* :mod:`vseg.panoptic`: label conventions (ignore label, label divisor, label spaces, STEP
  PNG encoding);
* :mod:`vseg.formats`: one decoder per on-disk ground-truth format (a registry);
* :mod:`vseg.layouts`: the writer and reader of every prediction layout (a registry);
* :mod:`vseg.metainfo`: the class facts of every supported dataset;
* :mod:`vseg.metrics`: PQ, VPQ and STQ on streaming per-frame pair tables, and the evaluator
  command-line helpers.
"""
__version__ = '0.1.0'
