"""K-Net iterative head: S kernel update stages with per-stage assignment (docs/model.md).

Follows ``KernelIterHead`` of the original K-Net's ``knet/det/kernel_iter_head.py``
(``_mask_forward``, ``forward_train``, ``simple_test``) with ``post_assign=False``,
``assign_stages >= num_stages`` and ``hard_target=False``: stage s is assigned against the
predictions of stage s-1 (the RPN masks without class cost for stage 0). Extra inputs for the
last stage (e.g. the previous frame's kernels in Video K-Net) are passed through
``last_stage_kwargs``; the last stage's :class:`StageOutput` is handed back to the caller.
Inside :class:`~knet.models.detectors.KNet`, ``num_proposals``, ``num_thing_classes`` and the
class counts and strides of every stage are set by the detector.
"""
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from knet.models.task_modules import MaskSamplingResult
from knet.registry import MODELS, TASK_UTILS
from .mask_targets import MaskTargets
from .outputs import StageOutput
from .utils import ConfigType, OptConfigType


def per_stage_configs(cfg: Union[ConfigType, Sequence[ConfigType]], num_stages: int,
                      name: str) -> List[ConfigType]:
    """One config per stage: a single dict is replicated, a list must have length S."""
    if isinstance(cfg, dict):
        return [copy.deepcopy(cfg) for _ in range(num_stages)]
    cfg = list(cfg)
    if len(cfg) != num_stages:
        raise ValueError(f'{name} has {len(cfg)} entries but num_stages is {num_stages}')
    return cfg


@MODELS.register_module()
class KernelIterHead(BaseModule):
    """Runs ``num_stages`` :class:`KernelUpdateHead` stages (no weight sharing).

    Args:
        num_stages: number of update stages S.
        stage_loss_weights: per-stage loss multipliers (default all 1).
        num_proposals: number of thing kernels N_th (the Hungarian-matched rows; set by the
            detector from its ``rpn_head``).
        num_thing_classes: thing classes (class columns used in the assignment cost; set by
            the detector).
        mask_head: config of a stage (replicated S times) or a list of S configs; built into
            ``self.mask_head`` (keys ``mask_head.{s}.*``).
        train_cfg: per-stage ``dict(assigner=..., sampler=...)`` (one dict replicated, or a
            list); needed by :meth:`loss` only.
        test_cfg: must be None: the post-processing settings are the detector's
            ``model.test_cfg`` (:class:`~knet.models.postprocess.MergeSettings`); the original
            configs passed them here, where they would be silently ignored.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 num_stages: int = 3,
                 stage_loss_weights: Optional[Sequence[float]] = None,
                 num_proposals: int = 100,
                 num_thing_classes: int = 80,
                 mask_head: Union[ConfigType, Sequence[ConfigType]] = dict(
                     type='KernelUpdateHead'),
                 train_cfg: Union[None, ConfigType, Sequence[ConfigType]] = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if test_cfg is not None:
            raise ValueError(f'roi_head.test_cfg {test_cfg!r} would be ignored: the panoptic '
                             'merge settings are model.test_cfg (instance_score_thr, '
                             'overlap_thr, mask_thr, max_per_img, ...); remove roi_head.test_cfg')
        self.num_stages = num_stages
        self.stage_loss_weights = list(stage_loss_weights or [1.0] * num_stages)
        if len(self.stage_loss_weights) != num_stages:
            raise ValueError(f'stage_loss_weights has {len(self.stage_loss_weights)} entries '
                             f'but num_stages is {num_stages}')
        self.num_proposals = num_proposals
        self.num_thing_classes = num_thing_classes
        self.mask_head = ModuleList(
            MODELS.build(cfg) for cfg in per_stage_configs(mask_head, num_stages, 'mask_head'))
        self.train_cfg = train_cfg
        if train_cfg is not None:
            stage_cfgs = per_stage_configs(train_cfg, num_stages, 'train_cfg')
            self.assigners = [TASK_UTILS.build(cfg['assigner']) for cfg in stage_cfgs]
            self.samplers = [TASK_UTILS.build(cfg['sampler']) for cfg in stage_cfgs]

    def _upsample(self, stage: int, masks: Tensor) -> Tensor:
        """Bilinear x``mask_upsample_stride`` of stage ``stage`` (align_corners=False)."""
        stride = self.mask_head[stage].mask_upsample_stride
        if stride == 1:
            return masks
        return F.interpolate(masks, scale_factor=stride, mode='bilinear', align_corners=False)

    def forward(self, x_feats: Tensor, kernels: Tensor, mask_preds: Tensor,
                last_stage_kwargs: Optional[Dict[str, Any]] = None,
                upsample_all: bool = False) -> List[StageOutput]:
        """Run every stage.

        Args:
            x_feats: (B, C, H, W) stride-8 mask features from the kernel head.
            kernels: (B, N, C, K, K) initial kernels (things + stuff).
            mask_preds: (B, N, H, W) initial mask logits.
            last_stage_kwargs: extra keyword arguments of the last stage's forward.
            upsample_all: upsample every stage's masks (training) instead of the last only.

        Returns:
            S stage outputs, each with ``scaled_mask_preds`` (B, N, H*u, W*u) when upsampled
            (= ``mask_preds`` otherwise).
        """
        outputs = []
        for stage, head in enumerate(self.mask_head):
            is_last = stage == self.num_stages - 1
            extra = (last_stage_kwargs or {}) if is_last else {}
            out = head(x_feats, kernels, mask_preds, **extra)
            if upsample_all or is_last:
                out = out._replace(scaled_mask_preds=self._upsample(stage, out.mask_preds))
            outputs.append(out)
            kernels, mask_preds = out.obj_feat, out.mask_preds
        return outputs

    def predict(self, x_feats: Tensor, kernels: Tensor, mask_preds: Tensor,
                last_stage_kwargs: Optional[Dict[str, Any]] = None) -> StageOutput:
        """Final-stage outputs at test time; only the last masks are upsampled.

        Returns:
            the last stage's outputs: ``cls_score`` (B, N, num_classes) logits,
            ``scaled_mask_preds`` (B, N, H*u, W*u) logits, ``obj_feat`` (B, N, C, K, K) and,
            for a linked video stage, ``obj_feat_track``.
        """
        return self.forward(x_feats, kernels, mask_preds, last_stage_kwargs)[-1]

    def _assign(self, stage: int, prev_masks: Tensor, prev_cls: Optional[Tensor],
                masks: Tensor, targets: Sequence[MaskTargets]) -> List[MaskSamplingResult]:
        """Hungarian-assign the thing kernels using the previous stage's predictions.

        Args:
            stage: stage index (selects assigner and sampler).
            prev_masks: (B, N, h, w) previous mask logits at the loss stride (detached).
            prev_cls: (B, N, num_classes) previous class logits, or None (stage 0).
            masks: (B, N, h, w) this stage's mask logits (given to the sampler).
            targets: B per-image targets.

        Returns:
            B sampling results over the first ``num_proposals`` kernels.
        """
        results = []
        for i, target in enumerate(targets):
            cls_for_assign = None
            if prev_cls is not None:
                cls_for_assign = prev_cls[i, :self.num_proposals, :self.num_thing_classes]
            assign_result = self.assigners[stage].assign(
                prev_masks[i, :self.num_proposals], cls_for_assign, target.thing_masks,
                target.thing_labels)
            results.append(self.samplers[stage].sample(
                assign_result, masks[i, :self.num_proposals], target.thing_masks))
        return results

    def loss(self, x_feats: Tensor, kernels: Tensor, mask_preds: Tensor,
             targets: Sequence[MaskTargets],
             last_stage_kwargs: Optional[Dict[str, Any]] = None
             ) -> Tuple[Dict[str, Tensor], StageOutput]:
        """Stage losses ``s{i}_loss_*`` and the final-stage outputs.

        Args:
            x_feats: (B, C, H, W) stride-8 mask features.
            kernels: (B, N, C, K, K) initial kernels.
            mask_preds: (B, N, H, W) initial mask logits (RPN + stuff).
            targets: B per-image targets at the loss stride.
            last_stage_kwargs: extra keyword arguments of the last stage's forward.

        Returns:
            ``(losses, final_outputs)``: losses scaled by ``stage_loss_weights``, and the last
            stage's outputs (``scaled_mask_preds`` at the loss stride).
        """
        if self.train_cfg is None:
            raise RuntimeError('KernelIterHead.loss needs train_cfg with assigner and sampler')
        outputs = self.forward(x_feats, kernels, mask_preds, last_stage_kwargs,
                               upsample_all=True)
        prev_masks = self._upsample(0, mask_preds.detach())
        prev_cls: Optional[Tensor] = None
        losses: Dict[str, Tensor] = {}
        for stage, out in enumerate(outputs):
            scaled = out.scaled_mask_preds
            sampling_results = self._assign(stage, prev_masks, prev_cls, scaled, targets)
            stage_losses = self.mask_head[stage].loss_by_feat(out.cls_score, scaled,
                                                              sampling_results, targets)
            weight = self.stage_loss_weights[stage]
            for key, value in stage_losses.items():
                losses[f's{stage}_{key}'] = value * weight if 'loss' in key else value
            prev_masks, prev_cls = scaled.detach(), out.cls_score.detach()
        return losses, outputs[-1]
