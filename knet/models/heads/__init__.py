"""K-Net heads: kernel head, kernel update stage, iterative head and their typed outputs."""
from .kernel_head import ConvKernelHead
from .kernel_iter_head import KernelIterHead
from .kernel_update_head import KernelUpdateHead
from .mask_targets import MaskTargets, build_mask_targets
from .outputs import FrameOutput, KernelHeadOutput, StageOutput

__all__ = ['ConvKernelHead', 'FrameOutput', 'KernelHeadOutput', 'KernelIterHead',
           'KernelUpdateHead', 'MaskTargets', 'StageOutput', 'build_mask_targets']
