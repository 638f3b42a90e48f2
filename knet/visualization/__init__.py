"""Colourising and animating panoptic results (follows ``tools/utils/colorize_img.py`` of the
original Video K-Net with its bugs fixed: docs/differences.md).

Importable on its own (``import knet.visualization``); used by ``tools/visualize.py`` and the
video demo / browse tools. The class palette is not defined here: callers pass it, normally the
dataset metainfo ``palette`` (:func:`vseg.metainfo.dataset_metainfo`).
"""
from .colorize import colorize_ids, colorize_semantic, id_color, make_panel
from .results import FrameResult, find_result_frames, read_rgb
from .video_io import read_gif_frames, video_codec, write_gif, write_rgb_png, write_video

__all__ = [
    'colorize_ids', 'colorize_semantic', 'id_color', 'make_panel', 'FrameResult',
    'find_result_frames', 'read_rgb', 'read_gif_frames', 'write_gif', 'write_rgb_png',
    'write_video', 'video_codec',
]
