"""Panoptic label conventions: re-exported from the torch-free :mod:`vseg.panoptic`.

Kept so that model code imports its conventions from :mod:`knet.structures`; the definitions
(and their documentation) live in :mod:`vseg.panoptic`.
"""
from vseg.panoptic import (
                           IGNORE_LABEL,
                           LABEL_DIVISOR,
                           STEP_BIT_SHIFT,
                           dataset_to_model_lut,
                           decode_step_png,
                           encode_step_png,
                           model_label_order,
                           model_to_dataset_lut,
)

__all__ = ['IGNORE_LABEL', 'LABEL_DIVISOR', 'STEP_BIT_SHIFT', 'dataset_to_model_lut',
           'decode_step_png', 'encode_step_png', 'model_label_order', 'model_to_dataset_lut']
