"""K-Net panoptic segmentation detector (DESIGN.md §1, §3.3, §6.5; outputs per ARCHITECTURE.md).

Follows ``KNet`` of the original ``knet/det/knet.py`` (``forward_train``, ``simple_test``) and
the post-processing of ``KernelIterHead.get_panoptic`` / ``rescale_masks``, on mmengine's
:class:`~mmengine.model.BaseModel`. The pieces are public so that ``VideoKNet(KNet)`` reuses
them: :meth:`KNet.extract_feat`, :meth:`KNet.loss_frame` (losses + final-stage outputs, with
last-stage kwargs and loss-key suffixes), :meth:`KNet.predict_frame` (raw final outputs) and
:meth:`KNet.merge_frame` / :meth:`KNet.add_pred_to_sample` (post-processing).
"""
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData, PixelData
from torch import Tensor, nn

from knet.models.heads.mask_targets import MaskTargets, build_mask_targets
from knet.models.heads.utils import ConfigType, OptConfigType
from knet.models.postprocess import PanopticFusionResult, UpsampledMasks, merge_things_stuff
from knet.registry import MODELS
from knet.structures import IGNORE_LABEL, PanopticDataSample

DEFAULT_TEST_CFG = dict(instance_score_thr=0.3, overlap_thr=0.6, mask_thr=0.5, max_per_img=100,
                        merge_order='joint', legacy=False)


@MODELS.register_module()
class KNet(BaseModel):
    """backbone -> neck -> kernel head (``rpn_head``) -> iterative head (``roi_head``).

    Args:
        backbone: backbone config (e.g. ResNet-50).
        neck: FPN config.
        rpn_head: :class:`ConvKernelHead` config; receives ``train_cfg['rpn']``.
        roi_head: :class:`KernelIterHead` config; receives ``train_cfg['rcnn']``.
        num_thing_classes: thing classes (model labels ``0..num_thing_classes-1``).
        num_stuff_classes: stuff classes (model labels after the things).
        class_ids: dataset class id of every model label (outputs are written in dataset ids);
            default identity.
        mask_assign_stride: stride of the training targets and of the assignment.
        ignore_label: void label of ``gt_sem_seg`` and of the output semantic map.
        train_cfg: ``dict(rpn=dict(assigner, sampler), rcnn=dict(assigner, sampler) | list)``.
        test_cfg: merge settings: ``instance_score_thr``, ``overlap_thr``, ``mask_thr``,
            ``max_per_img``, ``merge_order`` ('joint'), ``legacy`` (unassigned pixels get
            dataset id 0 like the original instead of ``ignore_label``).
        data_preprocessor: data preprocessor config (``KNetDataPreprocessor``).
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 num_thing_classes: int = 2,
                 num_stuff_classes: int = 17,
                 class_ids: Optional[Sequence[int]] = None,
                 mask_assign_stride: int = 4,
                 ignore_label: int = IGNORE_LABEL,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: Union[None, ConfigType, nn.Module] = None,
                 init_cfg: Union[None, ConfigType, List[ConfigType]] = None) -> None:
        if isinstance(data_preprocessor, dict):  # build in the knet scope, whatever the default
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.num_thing_classes = num_thing_classes
        self.num_stuff_classes = num_stuff_classes
        self.num_classes = num_thing_classes + num_stuff_classes
        self.mask_assign_stride = mask_assign_stride
        self.ignore_label = ignore_label
        self.class_ids = self._check_class_ids(class_ids)
        self.train_cfg = train_cfg
        self.test_cfg = dict(DEFAULT_TEST_CFG, **(test_cfg or {}))

        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        rpn_head = copy.deepcopy(rpn_head)
        roi_head = copy.deepcopy(roi_head)
        if train_cfg is not None:
            rpn_head['train_cfg'] = train_cfg['rpn']
            roi_head['train_cfg'] = train_cfg['rcnn']
        self.rpn_head = MODELS.build(rpn_head)
        self.roi_head = MODELS.build(roi_head)
        self._check_heads()

    def _check_class_ids(self, class_ids: Optional[Sequence[int]]) -> List[int]:
        """Validate ``class_ids`` (one dataset id per model label)."""
        if class_ids is None:
            return list(range(self.num_classes))
        class_ids = [int(c) for c in class_ids]
        if len(class_ids) != self.num_classes or len(set(class_ids)) != len(class_ids):
            raise ValueError(f'class_ids must hold {self.num_classes} distinct dataset ids '
                             f'(one per model label), got {class_ids}')
        return class_ids

    def _check_heads(self) -> None:
        """Fail early when head class counts disagree with the detector's."""
        heads = [('rpn_head', self.rpn_head)] + [
            (f'roi_head.mask_head.{s}', h) for s, h in enumerate(self.roi_head.mask_head)]
        for name, head in heads:
            found = (head.num_thing_classes, head.num_stuff_classes)
            expected = (self.num_thing_classes, self.num_stuff_classes)
            if found != expected:
                raise ValueError(f'{name} has (num_thing_classes, num_stuff_classes) = {found} '
                                 f'but the detector has {expected}')
        if self.roi_head.num_proposals != self.rpn_head.num_proposals:
            raise ValueError(f'roi_head.num_proposals ({self.roi_head.num_proposals}) must equal '
                             f'rpn_head.num_proposals ({self.rpn_head.num_proposals})')

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """(B, 3, H, W) normalized images -> FPN levels, each (B, C, H/s, W/s)."""
        return list(self.neck(self.backbone(inputs)))

    def build_targets(self, data_samples: Sequence[PanopticDataSample],
                      device: torch.device) -> List[MaskTargets]:
        """Soft thing/stuff targets at ``mask_assign_stride`` (§6.5)."""
        return build_mask_targets(data_samples, self.num_thing_classes, self.num_stuff_classes,
                                  self.mask_assign_stride, self.ignore_label, device)

    def forward(self, inputs: Tensor, data_samples: Optional[List[PanopticDataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[PanopticDataSample],
                                               Tuple[Tensor, ...]]:
        """mmengine entry point: ``mode`` is 'loss', 'predict' or 'tensor'."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected "loss", "predict" or "tensor"')

    def loss(self, inputs: Tensor, data_samples: List[PanopticDataSample]) -> Dict[str, Tensor]:
        """Training losses of a batch of frames: RPN (``loss_rpn_*``) + stages (``s{i}_*``)."""
        losses, _ = self.loss_frame(inputs, data_samples)
        return losses

    def loss_frame(self, inputs: Tensor, data_samples: Sequence[PanopticDataSample],
                   last_stage_kwargs: Optional[Dict[str, Any]] = None, rpn_suffix: str = '',
                   stage_suffix: str = '') -> Tuple[Dict[str, Tensor], Dict[str, Any]]:
        """Losses of one frame per sample and the final-stage outputs (for Video K-Net).

        Args:
            inputs: (B, 3, H, W) normalized, padded images.
            data_samples: B samples with ground truth and ``batch_input_shape``.
            last_stage_kwargs: extra keyword arguments of the last update stage.
            rpn_suffix: appended to the RPN loss keys (e.g. '_ref_rpn').
            stage_suffix: appended to the stage loss keys (e.g. '_ref').

        Returns:
            ``(losses, final)``: ``final`` is the last stage's dict (``cls_score``,
            ``mask_preds``, ``scaled_mask_preds``, ``obj_feat``, extras) plus ``seg_preds``
            (B, num_classes, H/8, W/8) and ``targets`` (the B :class:`MaskTargets`).
        """
        feats = self.extract_feat(inputs)
        targets = self.build_targets(data_samples, inputs.device)
        rpn_out = self.rpn_head(feats)
        rpn_losses = self.rpn_head.loss(rpn_out, targets)
        kernels, mask_preds = self.rpn_head.with_stuff(rpn_out)
        stage_losses, final = self.roi_head.loss(rpn_out['x_feats'], kernels, mask_preds,
                                                 targets, last_stage_kwargs)
        losses = {k + rpn_suffix: v for k, v in rpn_losses.items()}
        losses.update({k + stage_suffix: v for k, v in stage_losses.items()})
        final = dict(final, seg_preds=rpn_out['seg_preds'], targets=targets)
        return losses, final

    def predict_frame(self, inputs: Tensor,
                      last_stage_kwargs: Optional[Dict[str, Any]] = None) -> Dict[str, Tensor]:
        """Raw final-stage outputs of a batch of frames (no post-processing).

        Args:
            inputs: (B, 3, H, W) normalized, padded images.
            last_stage_kwargs: extra keyword arguments of the last update stage.

        Returns:
            the last stage's dict: ``cls_score`` (B, N, num_classes) logits,
            ``scaled_mask_preds`` (B, N, H/8*u, W/8*u) logits, ``obj_feat`` (B, N, C, K, K)
            kernels, extras, plus ``seg_preds`` (B, num_classes, H/8, W/8) RPN semantic logits.
        """
        feats = self.extract_feat(inputs)
        rpn_out = self.rpn_head(feats)
        kernels, mask_preds = self.rpn_head.with_stuff(rpn_out)
        final = self.roi_head.predict(rpn_out['x_feats'], kernels, mask_preds,
                                      last_stage_kwargs)
        return dict(final, seg_preds=rpn_out['seg_preds'])

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[List[PanopticDataSample]] = None) -> Tuple[Tensor, ...]:
        """'tensor' mode: ``(cls_score, scaled_mask_preds, seg_preds)`` of :meth:`predict_frame`."""
        out = self.predict_frame(inputs)
        return out['cls_score'], out['scaled_mask_preds'], out['seg_preds']

    def predict(self, inputs: Tensor,
                data_samples: List[PanopticDataSample]) -> List[PanopticDataSample]:
        """Panoptic prediction; fills ``pred_panoptic`` and ``pred_instances`` per sample."""
        out = self.predict_frame(inputs)
        for i, sample in enumerate(data_samples):
            result = self.merge_frame(out['cls_score'][i], out['scaled_mask_preds'][i],
                                      sample.metainfo)
            self.add_pred_to_sample(result, sample)
        return data_samples

    @staticmethod
    def rescale_masks(mask_logits: Tensor, img_meta: Dict[str, Any],
                      out: Optional[Tensor] = None) -> UpsampledMasks:
        """sigmoid -> resize to ``batch_input_shape`` -> crop ``img_shape`` -> ``ori_shape``.

        Args:
            mask_logits: (N, h, w) mask logits.
            img_meta: metainfo with ``batch_input_shape``, ``img_shape``, ``ori_shape``.
            out: optional buffer for the low-resolution probabilities
                (:meth:`UpsampledMasks.from_logits`).

        Returns:
            the (N, H_ori, W_ori) mask probabilities as :class:`UpsampledMasks`: computed by
            row blocks when the resize factor is a power of two and there was no test-time
            resize (the merge never holds all of them), else computed whole; ``.dense()``
            gives the tensor.
        """
        return UpsampledMasks.from_logits(mask_logits, img_meta, out)

    def _probs_buffer(self, mask_logits: Tensor) -> Tensor:
        """A tensor like ``mask_logits`` (shape, strides, dtype, device) kept between frames:
        the merge's low-resolution probabilities live in it (the masks never outlive
        :meth:`merge_frame`), sparing a large allocation per frame."""
        buffer = getattr(self, '_mask_probs', None)
        if buffer is None or buffer.shape != mask_logits.shape or \
                buffer.stride() != mask_logits.stride() or buffer.dtype != mask_logits.dtype \
                or buffer.device != mask_logits.device or \
                buffer.is_inference() != torch.is_inference_mode_enabled():
            # an inference-mode tensor cannot be written outside inference mode (and back)
            buffer = self._mask_probs = torch.empty_like(mask_logits)
        return buffer

    def merge_frame(self, cls_score: Tensor, mask_logits: Tensor,
                    img_meta: Dict[str, Any]) -> PanopticFusionResult:
        """Panoptic merge of one frame at its original size (§3.3, §5.5).

        Args:
            cls_score: (N, num_classes) class logits of the final stage.
            mask_logits: (N, h, w) final mask logits.
            img_meta: the sample's metainfo.

        Returns:
            the ``merge_things_stuff`` result (model labels; ``.semantic`` / ``.instance``
            (H_ori, W_ori), ``.thing_masks``, ``.thing_labels``, ``.thing_scores``,
            ``.thing_kernel_inds``).
        """
        cfg = self.test_cfg
        mask_logits = mask_logits.detach()  # the merge is not differentiable; out= needs no grad
        return merge_things_stuff(
            cls_score.sigmoid(),
            self.rescale_masks(mask_logits, img_meta, self._probs_buffer(mask_logits)),
            num_thing_kernels=self.rpn_head.num_proposals,
            num_thing_classes=self.num_thing_classes,
            instance_score_thr=cfg['instance_score_thr'], overlap_thr=cfg['overlap_thr'],
            mask_thr=cfg['mask_thr'], max_per_img=cfg['max_per_img'],
            order=cfg['merge_order'])

    def to_dataset_ids(self, labels: Tensor) -> Tensor:
        """Map model labels (``ignore_label`` = unassigned) to dataset class ids.

        Unassigned pixels become ``ignore_label``, or 0 when ``test_cfg['legacy']`` (as the
        original, which initialises its semantic map with zeros, §12.11).
        """
        unassigned = 0 if self.test_cfg['legacy'] else self.ignore_label
        lut = labels.new_full((max(256, self.ignore_label + 1), ), unassigned)
        lut[:self.num_classes] = torch.as_tensor(self.class_ids, device=labels.device)
        return lut[labels.long()]

    def add_pred_to_sample(self, result: PanopticFusionResult,
                           data_sample: PanopticDataSample) -> PanopticDataSample:
        """Write a merge result into ``data_sample`` in dataset class ids.

        Sets ``pred_panoptic.sem_seg`` and ``.instance_ids`` (1, H_ori, W_ori) int64 and
        ``pred_instances`` with ``masks`` (n, H_ori, W_ori) bool, ``labels`` (n,) dataset
        class ids, ``scores`` (n,) and ``kernel_inds`` (n,) (thing kernel of each segment).
        """
        semantic = self.to_dataset_ids(torch.as_tensor(result.semantic).long())
        instance = torch.as_tensor(result.instance).long()
        data_sample.pred_panoptic = PixelData(sem_seg=semantic[None], instance_ids=instance[None])
        masks = torch.as_tensor(result.thing_masks).bool()
        labels = torch.as_tensor(result.thing_labels).long().to(semantic.device)
        data_sample.pred_instances = InstanceData(
            masks=masks, labels=self.to_dataset_ids(labels),
            scores=torch.as_tensor(result.thing_scores).float(),
            kernel_inds=torch.as_tensor(result.thing_kernel_inds).long())
        return data_sample
