"""Pure-numpy video panoptic metrics (DESIGN.md §9.2 STQ, §9.3 VPQ) with streaming updates."""
from .pairs import PairTable, check_class_ids, concat_tables, count_pairs
from .stq import STQuality
from .vpq import VideoPanopticQuality

__all__ = ['PairTable', 'count_pairs', 'concat_tables', 'check_class_ids', 'STQuality',
           'VideoPanopticQuality']
