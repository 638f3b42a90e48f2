"""Building blocks (DESIGN.md §2.3, §4, §10.5): positional encoding, kernel updater, MHA, FFN."""
from .kernel_updator import KernelUpdator
from .positional_encoding import SinePositionalEncoding
from .transformer import FFN, MultiheadAttention

__all__ = ['KernelUpdator', 'SinePositionalEncoding', 'FFN', 'MultiheadAttention']
