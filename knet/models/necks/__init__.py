"""Necks (docs/model.md): mmdet-style FPN and K-Net's semantic FPN wrapper."""
from .fpn import FPN
from .semantic_fpn import SemanticFPNWrapper

__all__ = ['FPN', 'SemanticFPNWrapper']
