"""Building blocks (docs/model.md): positional encoding, kernel updater, MHA, FFN."""
from .kernel_updator import KernelUpdator
from .positional_encoding import SinePositionalEncoding
from .transformer import FFN, MultiheadAttention

__all__ = ['KernelUpdator', 'SinePositionalEncoding', 'FFN', 'MultiheadAttention']
