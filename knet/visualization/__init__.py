"""Colourising and animating panoptic results (DESIGN.md §9.4, with the §12 item 19 bugs fixed).

Importable on its own (``import knet.visualization``); used by ``tools/visualize.py`` and the
video demo / browse tools. The class palette is not defined here: callers pass it, normally the
dataset metainfo ``palette`` (``knet.datasets.step_metainfo.STEP_PALETTE`` for STEP).
"""
from .colorize import colorize_ids, colorize_semantic, id_color, make_panel
from .results import FrameResult, find_result_frames, read_label_png, read_rgb
from .video_io import read_gif_frames, write_gif, write_video

__all__ = [
    'colorize_ids', 'colorize_semantic', 'id_color', 'make_panel', 'FrameResult',
    'find_result_frames', 'read_label_png', 'read_rgb', 'read_gif_frames', 'write_gif',
    'write_video',
]
