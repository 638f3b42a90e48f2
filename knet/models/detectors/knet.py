"""K-Net panoptic segmentation detector (docs/model.md; outputs per docs/ARCHITECTURE.md).

Follows ``KNet`` of the original K-Net's ``knet/det/knet.py`` (``forward_train``,
``simple_test``) and the post-processing of ``KernelIterHead.get_panoptic`` / ``rescale_masks``,
on mmengine's :class:`~mmengine.model.BaseModel`. The pieces are public so that
``VideoKNet(KNet)`` reuses them: :meth:`KNet.extract_feat`, :meth:`KNet.loss_frame` (losses +
final-stage outputs, with last-stage kwargs and loss-key suffixes), :meth:`KNet.predict_frame`
(raw final outputs as a :class:`~knet.models.heads.FrameOutput`) and :meth:`KNet.merge_frame` /
:meth:`KNet.add_pred_to_sample` (post-processing).

The detector owns the settings its heads must share: the class counts and the strides. It
writes ``num_thing_classes`` / ``num_stuff_classes`` into the kernel head, the iterative head
and every update stage, the mask upsampling factor ``mask_feat_stride / mask_assign_stride``
into the kernel head (``feat_downsample_stride``) and every stage (``mask_upsample_stride``),
and the kernel head's ``num_proposals`` into the iterative head, so configs state each once; a
head config that states a different value is an error naming the key.
"""
import copy
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData, PixelData
from torch import Tensor, nn

from knet.compat import check_renamed_keys, compat_switches
from knet.models.heads.mask_targets import MaskTargets, build_mask_targets
from knet.models.heads.outputs import FrameOutput
from knet.models.heads.utils import ConfigType, OptConfigType
from knet.models.options import check_config_keys, check_keys
from knet.models.postprocess import (
    MergeBackend,
    MergeSettings,
    PanopticFusionResult,
    build_merge_backend,
)
from knet.registry import MODELS, TASK_UTILS
from knet.structures import IGNORE_LABEL, PanopticDataSample


def set_head_settings(cfg: ConfigType, name: str, settings: Dict[str, Tuple[Any, str]]
                      ) -> ConfigType:
    """A copy of a head config with the detector's settings written into it.

    Args:
        cfg: the head config.
        name: its path in the model config (e.g. ``'roi_head.mask_head'``), for errors.
        settings: ``{key: (value, origin)}``; ``origin`` says where the value comes from.

    Returns:
        the config with every ``key`` set to ``value``; raises ValueError naming the key when
        ``cfg`` states another value.
    """
    cfg = copy.deepcopy(cfg)
    for key, (value, origin) in settings.items():
        if key in cfg and cfg[key] != value:
            raise ValueError(f'{name}.{key} = {cfg[key]!r} conflicts with {value!r} set by the '
                             f'detector ({origin}): remove {key} from {name}')
        cfg[key] = value
    return cfg


#: Keys of one assignment step of ``train_cfg`` (the RPN, a stage, the tracking targets).
ASSIGNMENT_KEYS = ('assigner', 'sampler')


def check_assignment_cfg(cfg: Any, where: str) -> None:
    """Check one assignment step ``dict(assigner=..., sampler=...)`` of ``train_cfg``.

    Raises KeyError for another or a missing key, and for a key that the assigner or sampler
    class (or a cost config inside the assigner) does not take, naming its path ``where.*``
    (:func:`knet.models.options.check_config_keys`); TypeError when ``cfg`` is no dict.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f'{where} must be dict(assigner=..., sampler=...), got {cfg!r}')
    check_keys(cfg, ASSIGNMENT_KEYS, where, required=ASSIGNMENT_KEYS)
    for key in ASSIGNMENT_KEYS:
        check_config_keys(cfg[key], TASK_UTILS, f'{where}.{key}')


@MODELS.register_module()
class KNet(BaseModel):
    """backbone -> neck -> kernel head (``rpn_head``) -> iterative head (``roi_head``).

    Args:
        backbone: backbone config (e.g. ResNet-50).
        neck: FPN config.
        rpn_head: :class:`ConvKernelHead` config; receives ``train_cfg['rpn']``.
        roi_head: :class:`KernelIterHead` config; receives ``train_cfg['rcnn']``.
        num_thing_classes: thing classes (model labels ``0..num_thing_classes-1``); set in
            every head.
        num_stuff_classes: stuff classes (model labels after the things); set in every head.
        class_ids: dataset class id of every model label (outputs are written in dataset ids);
            default identity.
        mask_assign_stride: stride of the training targets, of the assignment and of the
            final mask logits.
        mask_feat_stride: stride of the kernel head's mask features ``x_feats`` (8 for the
            semantic FPN); the heads upsample their masks by
            ``mask_feat_stride / mask_assign_stride``.
        ignore_label: void label of ``gt_sem_seg`` and of the output semantic map.
        train_cfg: ``dict(rpn=dict(assigner, sampler), rcnn=dict(assigner, sampler) | list)``
            (the keys of :attr:`TRAIN_CFG_KEYS`, each checked by :func:`check_assignment_cfg`).
        test_cfg: the merge settings of :class:`MergeSettings` (``instance_score_thr``,
            ``overlap_thr``, ``mask_thr``, ``max_per_img``, ``merge_order``,
            ``merge_backend``, ``unassigned_fill``) and the options of
            :attr:`TEST_CFG_OPTIONS` (``compat``: the switches restoring the original's
            behaviour, :mod:`knet.compat`); missing keys take their defaults; unknown keys,
            values of the wrong type or out of range raise when the model is built.
        data_preprocessor: data preprocessor config (``KNetDataPreprocessor``).
        init_cfg: mmengine init config.
    """

    #: ``test_cfg`` options of the detector besides the merge settings, with their defaults.
    TEST_CFG_OPTIONS: Dict[str, Any] = dict(compat=None)
    #: The steps of ``train_cfg``: the kernel head's (``rpn``) and the stages' (``rcnn``).
    TRAIN_CFG_KEYS: Tuple[str, ...] = ('rpn', 'rcnn')

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 num_thing_classes: int = 2,
                 num_stuff_classes: int = 17,
                 class_ids: Optional[Sequence[int]] = None,
                 mask_assign_stride: int = 4,
                 mask_feat_stride: int = 8,
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
        if mask_assign_stride < 1 or mask_feat_stride % mask_assign_stride:
            raise ValueError(f'mask_assign_stride ({mask_assign_stride}) must divide '
                             f'mask_feat_stride ({mask_feat_stride})')
        self.mask_feat_stride = mask_feat_stride
        self.ignore_label = ignore_label
        self.class_ids = self._check_class_ids(class_ids)
        if train_cfg is not None:
            self.check_train_cfg(train_cfg)
        self.train_cfg = train_cfg
        check_renamed_keys(test_cfg or {})
        self.test_cfg = {**asdict(MergeSettings()), **self.TEST_CFG_OPTIONS, **(test_cfg or {})}
        compat_switches(self.test_cfg)  # fails now on a wrong switch, not at the first frame
        self._merge_backend = build_merge_backend(self.merge_settings().merge_backend)

        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.rpn_head = MODELS.build(self._rpn_head_cfg(rpn_head))
        self.roi_head = MODELS.build(self._roi_head_cfg(roi_head))

    def _check_class_ids(self, class_ids: Optional[Sequence[int]]) -> List[int]:
        """Validate ``class_ids`` (one dataset id per model label)."""
        if class_ids is None:
            return list(range(self.num_classes))
        class_ids = [int(c) for c in class_ids]
        if len(class_ids) != self.num_classes or len(set(class_ids)) != len(class_ids):
            raise ValueError(f'class_ids must hold {self.num_classes} distinct dataset ids '
                             f'(one per model label), got {class_ids}')
        return class_ids

    def check_train_cfg(self, train_cfg: ConfigType) -> None:
        """Check the keys of ``train_cfg`` (:attr:`TRAIN_CFG_KEYS`) and of each step.

        ``rcnn`` is one step for every stage or a list of them (its length is checked by the
        iterative head). Raises KeyError naming the first unknown or missing key by its path.
        """
        check_keys(train_cfg, self.TRAIN_CFG_KEYS, 'model.train_cfg',
                   required=self.TRAIN_CFG_KEYS)
        for key in self.TRAIN_CFG_KEYS:
            steps = train_cfg[key]
            if isinstance(steps, (list, tuple)):
                for s, step in enumerate(steps):
                    check_assignment_cfg(step, f'model.train_cfg.{key}.{s}')
            else:
                check_assignment_cfg(steps, f'model.train_cfg.{key}')

    def _class_settings(self) -> Dict[str, Tuple[Any, str]]:
        """The class counts every head receives, with their origin (for errors)."""
        return dict(num_thing_classes=(self.num_thing_classes, 'num_thing_classes'),
                    num_stuff_classes=(self.num_stuff_classes, 'num_stuff_classes'))

    def _upsample_setting(self) -> Tuple[int, str]:
        """The heads' mask upsampling factor and its origin (for errors)."""
        return (self.mask_feat_stride // self.mask_assign_stride,
                f'mask_feat_stride {self.mask_feat_stride} / mask_assign_stride '
                f'{self.mask_assign_stride}')

    def _rpn_head_cfg(self, rpn_head: ConfigType) -> ConfigType:
        """The kernel head config with the class counts, stride and ``train_cfg['rpn']``."""
        settings = dict(self._class_settings(), feat_downsample_stride=self._upsample_setting())
        cfg = set_head_settings(rpn_head, 'rpn_head', settings)
        if self.train_cfg is not None:
            cfg['train_cfg'] = self.train_cfg['rpn']
        return cfg

    def _roi_head_cfg(self, roi_head: ConfigType) -> ConfigType:
        """The iterative head config with the detector's settings in it and in every stage.

        ``mask_head`` (one stage config or a list of them) gets the class counts and
        ``mask_upsample_stride``; the head gets ``num_thing_classes``, the kernel head's
        ``num_proposals`` and ``train_cfg['rcnn']``.
        """
        settings = dict(num_thing_classes=(self.num_thing_classes, 'num_thing_classes'),
                        num_proposals=(self.rpn_head.num_proposals, 'rpn_head.num_proposals'))
        cfg = set_head_settings(roi_head, 'roi_head', settings)
        stage_settings = dict(self._class_settings(),
                              mask_upsample_stride=self._upsample_setting())
        stages = cfg.get('mask_head')
        if stages is None:
            raise KeyError('roi_head needs a mask_head config (one update stage, or a list)')
        if isinstance(stages, dict):
            cfg['mask_head'] = set_head_settings(stages, 'roi_head.mask_head', stage_settings)
        else:
            cfg['mask_head'] = [set_head_settings(stage, f'roi_head.mask_head.{s}',
                                                  stage_settings)
                                for s, stage in enumerate(stages)]
        if self.train_cfg is not None:
            cfg['train_cfg'] = self.train_cfg['rcnn']
        return cfg

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """(B, 3, H, W) normalized images -> FPN levels, each (B, C, H/s, W/s)."""
        return list(self.neck(self.backbone(inputs)))

    def build_targets(self, data_samples: Sequence[PanopticDataSample],
                      device: torch.device) -> List[MaskTargets]:
        """Soft thing/stuff targets at ``mask_assign_stride``."""
        return build_mask_targets(data_samples, self.num_thing_classes, self.num_stuff_classes,
                                  self.mask_assign_stride, self.ignore_label, device)

    def forward(self, inputs: Tensor, data_samples: Optional[List[PanopticDataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[PanopticDataSample],
                                               Tuple[Tensor, ...]]:
        """mmengine entry point: ``mode`` is 'loss', 'predict' or 'tensor'."""
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        if mode not in ('loss', 'predict'):
            raise RuntimeError(f'Invalid mode "{mode}"; expected "loss", "predict" or "tensor"')
        if data_samples is None:
            raise ValueError(f'mode "{mode}" needs data_samples')
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.predict(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples: List[PanopticDataSample]) -> Dict[str, Tensor]:
        """Training losses of a batch of frames: RPN (``loss_rpn_*``) + stages (``s{i}_*``)."""
        losses, _, _ = self.loss_frame(inputs, data_samples)
        return losses

    def loss_frame(self, inputs: Tensor, data_samples: Sequence[PanopticDataSample],
                   last_stage_kwargs: Optional[Dict[str, Any]] = None, rpn_suffix: str = '',
                   stage_suffix: str = ''
                   ) -> Tuple[Dict[str, Tensor], FrameOutput, List[MaskTargets]]:
        """Losses of one frame per sample and the final-stage outputs (for Video K-Net).

        Args:
            inputs: (B, 3, H, W) normalized, padded images.
            data_samples: B samples with ground truth and ``batch_input_shape``.
            last_stage_kwargs: extra keyword arguments of the last update stage.
            rpn_suffix: appended to the RPN loss keys (e.g. '_ref_rpn').
            stage_suffix: appended to the stage loss keys (e.g. '_ref').

        Returns:
            ``(losses, final, targets)``: the scalar losses, the final outputs
            (``scaled_mask_preds`` at ``mask_assign_stride``) and the B :class:`MaskTargets`.
        """
        feats = self.extract_feat(inputs)
        targets = self.build_targets(data_samples, inputs.device)
        rpn_out = self.rpn_head(feats)
        rpn_losses = self.rpn_head.loss(rpn_out, targets)
        kernels, mask_preds = self.rpn_head.with_stuff(rpn_out)
        stage_losses, final = self.roi_head.loss(rpn_out.x_feats, kernels, mask_preds,
                                                 targets, last_stage_kwargs)
        losses = {k + rpn_suffix: v for k, v in rpn_losses.items()}
        losses.update({k + stage_suffix: v for k, v in stage_losses.items()})
        return losses, FrameOutput.from_stage(final, rpn_out.seg_preds), targets

    def predict_frame(self, inputs: Tensor,
                      last_stage_kwargs: Optional[Dict[str, Any]] = None) -> FrameOutput:
        """Raw final-stage outputs of a batch of frames (no post-processing).

        Args:
            inputs: (B, 3, H, W) normalized, padded images.
            last_stage_kwargs: extra keyword arguments of the last update stage.

        Returns:
            ``cls_score`` (B, N, num_classes) logits, ``scaled_mask_preds``
            (B, N, H/s, W/s) logits at ``mask_assign_stride`` s, ``obj_feat`` (B, N, C, K, K)
            kernels, ``seg_preds`` (B, num_classes, H/8, W/8) RPN semantic logits and
            ``obj_feat_track`` when the last stage was linked.
        """
        feats = self.extract_feat(inputs)
        rpn_out = self.rpn_head(feats)
        kernels, mask_preds = self.rpn_head.with_stuff(rpn_out)
        final = self.roi_head.predict(rpn_out.x_feats, kernels, mask_preds, last_stage_kwargs)
        return FrameOutput.from_stage(final, rpn_out.seg_preds)

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[List[PanopticDataSample]] = None) -> Tuple[Tensor, ...]:
        """'tensor' mode: ``(cls_score, scaled_mask_preds, seg_preds)`` of :meth:`predict_frame`."""
        out = self.predict_frame(inputs)
        return out.cls_score, out.scaled_mask_preds, out.seg_preds

    def predict(self, inputs: Tensor,
                data_samples: List[PanopticDataSample]) -> List[PanopticDataSample]:
        """Panoptic prediction; fills ``pred_panoptic`` and ``pred_instances`` per sample."""
        out = self.predict_frame(inputs)
        for i, sample in enumerate(data_samples):
            result = self.merge_frame(out.cls_score[i], out.scaled_mask_preds[i],
                                      sample.metainfo)
            self.add_pred_to_sample(result, sample)
        return data_samples

    def merge_settings(self) -> MergeSettings:
        """The merge settings of ``test_cfg``; KeyError names an unknown key."""
        return MergeSettings.from_test_cfg(self.test_cfg, self.TEST_CFG_OPTIONS)

    @property
    def merge_backend(self) -> MergeBackend:
        """The backend named by ``test_cfg['merge_backend']`` (rebuilt when that changes)."""
        name = self.merge_settings().merge_backend
        if self._merge_backend.name != name:
            self._merge_backend = build_merge_backend(name)
        return self._merge_backend

    def rescale_masks(self, mask_logits: Tensor, img_meta: Dict[str, Any]) -> Any:
        """sigmoid -> resize to ``batch_input_shape`` -> crop ``img_shape`` -> ``ori_shape``.

        Args:
            mask_logits: (N, h, w) mask logits (detached).
            img_meta: metainfo with ``batch_input_shape``, ``img_shape``, ``ori_shape``.

        Returns:
            the (N, H_ori, W_ori) mask probabilities as the merge backend holds them: a tensor
            (``'dense'``: :func:`knet.models.postprocess.rescale_masks`, the definition) or
            :class:`~knet.models.postprocess.UpsampledMasks` (``'blocked'``: computed by row
            blocks inside the merge).
        """
        return self.merge_backend.rescale(mask_logits, img_meta)

    def merge_frame(self, cls_score: Tensor, mask_logits: Tensor,
                    img_meta: Dict[str, Any]) -> PanopticFusionResult:
        """Panoptic merge of one frame at its original size, by the configured backend.

        Args:
            cls_score: (N, num_classes) class logits of the final stage.
            mask_logits: (N, h, w) final mask logits.
            img_meta: the sample's metainfo.

        Returns:
            the merge result (model labels; ``.semantic`` / ``.instance`` (H_ori, W_ori),
            ``.thing_masks``, ``.thing_labels``, ``.thing_scores``, ``.thing_kernel_inds``).
        """
        settings = self.merge_settings()
        masks = self.rescale_masks(mask_logits.detach(), img_meta)  # the merge has no gradient
        return self.merge_backend.merge(cls_score.sigmoid(), masks, self.rpn_head.num_proposals,
                                        self.num_thing_classes, settings)

    def to_dataset_ids(self, labels: Tensor) -> Tensor:
        """Map model labels (``num_classes`` = unassigned, as the merge marks them) to dataset
        class ids.

        Unassigned pixels become ``ignore_label`` (``test_cfg['unassigned_fill'] == 'void'``;
        with ``'argmax'`` the merge leaves none unless it had no candidate at all), or dataset
        class 0 with ``'legacy'`` (as the original, which initialises its semantic map with
        zeros).
        """
        legacy = self.merge_settings().unassigned_fill == 'legacy'
        unassigned = 0 if legacy else self.ignore_label
        lut = labels.new_full((self.num_classes + 1, ), unassigned)
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
