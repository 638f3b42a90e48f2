"""Video K-Net heads: kernel linking stages and the tracking embedding."""
from .kernel_link_head import VideoKernelIterHead, VideoKernelUpdateHead
from .track_embed_head import QuasiDenseEmbedHead

__all__ = ['QuasiDenseEmbedHead', 'VideoKernelIterHead', 'VideoKernelUpdateHead']
