"""Data samples of the model and the panoptic label conventions (defined in the torch-free
:mod:`vseg.panoptic`, re-exported here for model code)."""
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
from .data_sample import ClipDataSample, PanopticDataSample

__all__ = [
    'ClipDataSample', 'PanopticDataSample', 'IGNORE_LABEL', 'LABEL_DIVISOR', 'STEP_BIT_SHIFT',
    'decode_step_png', 'encode_step_png', 'dataset_to_model_lut', 'model_to_dataset_lut',
    'model_label_order'
]
