"""Backbones (docs/model.md): torchvision-based ResNet and Swin with mmdet semantics."""
from .resnet import ResNet
from .swin import TVSwin

__all__ = ['ResNet', 'TVSwin']
