"""Ground-truth annotation formats: one decoder per on-disk format, in a registry.

Dataset loaders, the online metrics and the offline evaluators all decode annotations through
:func:`get_format`, so each on-disk encoding is written down exactly once. A format turns the
annotation file(s) of one frame into ``(semantic, instance)`` maps: (H, W) dataset class ids
(any integer type; the ignore label for void) and (H, W) int32 instance ids (0 = no instance,
i.e. stuff or crowd). Class facts (thing ids, number of classes, ignore label, label divisor)
are never part of a format: they come from dataset metainfo (:mod:`vseg.metainfo`).

Entries: ``'kitti-step'`` (KITTI-STEP panoptic PNG), ``'cityscapes'`` (Cityscapes
``labelTrainIds`` + ``instanceTrainIds``), ``'vipseg'`` (VIPSeg raw ``panomasks``) and
``'cityscapes-vps'`` (the shipped Cityscapes-VPS ``cls`` colour maps + ``inst`` maps) and
``'cityscapes-vps-panoptic'`` (its converted ``panoptic_video`` PNGs + JSON);
docs/data_formats.md describes them, and docs/adding_a_dataset.md how to add one. The
COCO-panoptic-style video ground truth and submissions of the official VIPSeg and Cityscapes-VPS
evaluators are read by :mod:`vseg.formats.panoptic_video` and the benchmark modules.
"""
from . import cityscapes_vps, step, vipseg  # noqa: F401  (register the formats below)
from .base import AnnotationFormat, check_semantic, format_names, get_format, register_format

__all__ = ['AnnotationFormat', 'check_semantic', 'format_names', 'get_format',
           'register_format']
