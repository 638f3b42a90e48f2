"""Model utilities that register nothing: checkpoint key conversion."""
from .ckpt_convert import (
    KEY_RULES,
    ConversionResult,
    compare_with_model,
    convert_state_dict,
    extract_state_dict,
    map_key,
)

__all__ = ['KEY_RULES', 'ConversionResult', 'compare_with_model', 'convert_state_dict',
           'extract_state_dict', 'map_key']
