"""K-Net heads (DESIGN.md §2.4, §3): kernel head, kernel update stage, iterative head."""
from .kernel_head import ConvKernelHead
from .kernel_iter_head import KernelIterHead
from .kernel_update_head import KernelUpdateHead
from .mask_targets import MaskTargets, build_mask_targets

__all__ = ['ConvKernelHead', 'KernelIterHead', 'KernelUpdateHead', 'MaskTargets',
           'build_mask_targets']
