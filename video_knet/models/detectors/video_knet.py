"""Video K-Net: K-Net + temporal kernel linking + quasi-dense tracking (docs/model.md).

Follows ``VideoKNetQuansiEmbedFCJointTrain`` of the original Video K-Net's
``knet/video/knet_quansi_dense_embed_fc_joint_train.py`` (``forward_train``, ``simple_test``),
as a subclass of the image detector :class:`knet.models.detectors.KNet`.

Training, on clips of a key frame and T - 1 >= 1 reference frames (the original: T = 2):

1. every reference frame runs the full image model (RPN + S stages, losses suffixed
   ``_ref_rpn`` / ``_ref`` for the first reference, ``_ref{r}_rpn`` / ``_ref{r}`` for reference
   r >= 2 of the clip); its final-stage kernels are kept (not detached);
2. the key frame runs the same (unsuffixed losses), once; for every reference, the last stage's
   link (cross-attention to that reference's kernels + FFN) turns the key's final kernels into
   *track kernels*, exactly what the last stage computes when it receives the reference kernels
   as previous kernels; the link changes neither classes nor masks;
3. a separate Hungarian assignment of the final-stage thing masks gives the positives of each
   frame; key embeddings come from the track kernels linked to the reference, reference
   embeddings from the un-linked reference kernels: kernel -> ``embed_fcs`` -> ``fc_embed`` ->
   ``track_head``;
4. ``loss_track`` and ``loss_track_aux`` compare the key with the first reference,
   ``loss_track_ref{r}`` and ``loss_track_aux_ref{r}`` with reference r >= 2. Every reference
   adds the losses a 2-frame clip of the key and that reference would add; the key-frame losses
   are counted once.

Inference, frame by frame in sequence order: the kernel memory and the tracker are reset when a
new sequence starts (another ``seq_id``, ``frame_id == 0`` or a frame id that does not
increase); the last stage links to the previous frame's final-stage *un-linked* kernels (only
the last frame is kept, so memory does not grow); the panoptic merge gives the thing segments,
whose track kernels (plain kernels on a sequence's first frame) give the embeddings and whose
masks, AND-ed with the "semantic thing" map of the RPN semantic logits, give the boxes. Output
ids are tracker id + 1 (0 = none).

Fixes of the original's tracking inputs, each reverted by its compatibility switch of
``test_cfg['compat']`` (:mod:`knet.compat`, docs/compatibility.md):

* the semantic logits are upsampled to the padded input size, cropped to ``img_shape`` and
  resized to ``ori_shape`` like the masks (``padded_semantic_filter``: resized from the padded
  map directly, as the original);
* the tracker returns ids in the segments' order (``shifted_track_ids``: the ids of the
  non-duplicate detections are handed to the first segments, shifting ids after a duplicate,
  as the original).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from knet.compat import compat_enabled
from knet.models.detectors import KNet
from knet.models.heads import FrameOutput, MaskTargets
from knet.models.heads.utils import ConfigType, OptConfigType
from knet.models.options import check_config_keys
from knet.models.postprocess import UpsampledMasks
from knet.models.task_modules import MaskSamplingResult
from knet.registry import MODELS, TASK_UTILS
from knet.structures import ClipDataSample, PanopticDataSample
from video_knet.models.trackers import bbox_overlaps, masks_to_boxes


class SequenceMemory:
    """Inference state carried from frame to frame: the sequence, frame and final kernels."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame."""
        self.seq_id: Any = None
        self.frame_id: Optional[int] = None
        self.kernels: Optional[Tensor] = None

    def starts_sequence(self, seq_id: Any, frame_id: int) -> bool:
        """True when (seq_id, frame_id) does not continue the remembered sequence."""
        return (self.kernels is None or seq_id != self.seq_id or frame_id == 0
                or self.frame_id is None or frame_id <= self.frame_id)

    def update(self, seq_id: Any, frame_id: int, kernels: Tensor) -> None:
        """Remember this frame's (B, N, C, K, K) final un-linked kernels (detached)."""
        self.seq_id, self.frame_id, self.kernels = seq_id, frame_id, kernels.detach()


@MODELS.register_module()
class VideoKNet(KNet):
    """Video K-Net for video panoptic segmentation (joint key/reference training).

    Args: see :class:`KNet` (``roi_head`` is a :class:`VideoKernelIterHead` config whose last
    stage links kernels; the ``test_cfg['compat']`` switches ``padded_semantic_filter`` and
    ``shifted_track_ids`` revert the fixes listed in the module docstring), plus:

        track_head: :class:`QuasiDenseEmbedHead` config (embedding MLP + tracking losses).
        tracker: tracker config (``QuasiDenseTracker``), built in ``TASK_UTILS``; a key the
            tracker does not take raises KeyError naming ``model.tracker.<key>`` (the tracker
            checks the types and ranges of its values).
        train_cfg: :class:`KNet`'s ``dict(rpn=..., rcnn=...)`` plus ``track=dict(assigner=...,
            sampler=...)``, which matches the final-stage thing masks to the GT for the
            tracking targets (checked like the others).
        **kwargs: the other arguments of :class:`KNet`.
    """

    #: :class:`KNet`'s steps plus the tracking targets' assignment.
    TRAIN_CFG_KEYS = KNet.TRAIN_CFG_KEYS + ('track', )

    def __init__(self, *, track_head: ConfigType, tracker: ConfigType,
                 train_cfg: OptConfigType = None, **kwargs: Any) -> None:
        check_config_keys(tracker, TASK_UTILS, 'model.tracker')
        super().__init__(train_cfg=train_cfg, **kwargs)
        self.track_head = MODELS.build(track_head)
        last_stage = self.roi_head.mask_head[-1]
        channels = last_stage.in_channels * last_stage.conv_kernel_size**2
        if self.track_head.in_channels != channels:
            raise ValueError(f'track_head.in_channels ({self.track_head.in_channels}) must equal '
                             f'the kernel size C*K*K = {channels} of roi_head')
        self.embed_fcs = nn.Sequential(nn.Linear(channels, channels, bias=False),
                                       build_norm_layer(dict(type='LN'), channels)[1],
                                       nn.ReLU(inplace=True))
        self.fc_embed = nn.Linear(channels, channels)
        self.tracker = TASK_UTILS.build(tracker)
        if train_cfg is not None:  # its keys are checked by KNet (TRAIN_CFG_KEYS)
            self.track_assigner = TASK_UTILS.build(train_cfg['track']['assigner'])
            self.track_sampler = TASK_UTILS.build(train_cfg['track']['sampler'])
        self.memory = SequenceMemory()

    # ----------------------------------------------------------------------------- training
    def loss(self, inputs: Tensor, data_samples: List[ClipDataSample]) -> Dict[str, Tensor]:
        """Joint losses of a key frame, its T - 1 reference frames and their tracking.

        See the module docstring: every reference r = 1..T-1 adds its image losses and the
        tracking losses against the key frame, whose own losses are counted once. For T == 2
        this is the original joint training, key for key.

        Args:
            inputs: (B, T, 3, H, W) normalized, padded clips, T >= 2: key frame first, then
                the references.
            data_samples: B :class:`ClipDataSample` of T frames (key sample first) with ground
                truth, including ``gt_instances.instance_ids``.

        Returns:
            key frame: ``loss_rpn_*`` and ``s{i}_*``; reference r: the same keys suffixed
            ``_ref_rpn`` / ``_ref`` (r = 1) or ``_ref{r}_rpn`` / ``_ref{r}`` (r >= 2);
            tracking: ``loss_track`` and ``loss_track_aux`` (r = 1), ``loss_track_ref{r}`` and
            ``loss_track_aux_ref{r}`` (r >= 2).
        """
        num_frames = self._check_clips(inputs, data_samples)
        key_samples = [clip[0] for clip in data_samples]
        ref_losses: Dict[str, Tensor] = {}
        refs = []
        for r in range(1, num_frames):
            suffix = self.reference_suffix(r)
            samples = [clip[r] for clip in data_samples]
            frame_losses, out, targets = self.loss_frame(inputs[:, r], samples,
                                                         rpn_suffix=suffix + '_rpn',
                                                         stage_suffix=suffix)
            ref_losses.update(frame_losses)
            refs.append((r, samples, out, targets))
        losses, key_out, key_targets = self.loss_frame(inputs[:, 0], key_samples)
        losses.update(ref_losses)
        key_sampling = self.assign_tracking(key_out, key_targets)
        for r, samples, out, targets in refs:
            track_losses = self.loss_track(
                self.link_to_reference(key_out, out), key_sampling, out.obj_feat,
                self.assign_tracking(out, targets), key_samples, samples)
            track_suffix = '' if r == 1 else self.reference_suffix(r)
            losses.update({key + track_suffix: value for key, value in track_losses.items()})
        return losses

    @staticmethod
    def _check_clips(inputs: Tensor, data_samples: Sequence[ClipDataSample]) -> int:
        """The clip length T of (B, T, 3, H, W) inputs and B clips of T frames (T >= 2)."""
        if inputs.dim() != 5 or inputs.shape[1] < 2:
            raise ValueError(f'VideoKNet.loss expects clips (B, T, 3, H, W) of a key frame and '
                             f'T - 1 >= 1 reference frames, got {tuple(inputs.shape)}')
        num_frames = inputs.shape[1]
        if len(data_samples) != inputs.shape[0] or any(
                not isinstance(s, ClipDataSample) or len(s) != num_frames for s in data_samples):
            raise ValueError(f'VideoKNet.loss expects {inputs.shape[0]} ClipDataSample of '
                             f'{num_frames} frames, one per clip of the inputs')
        return num_frames

    @staticmethod
    def reference_suffix(index: int) -> str:
        """Loss-key suffix of the clip's frame ``index`` >= 1: '_ref' (1), else '_ref{index}'."""
        return '_ref' if index == 1 else f'_ref{index}'

    def link_to_reference(self, key_out: FrameOutput, ref_out: FrameOutput) -> Tensor:
        """Track kernels of the key frame linked to one reference frame.

        The last stage's link (``VideoKernelUpdateHead.link_kernels``) applied to the key's
        final kernels with the reference's final kernels as previous kernels: what that stage
        returns as ``obj_feat_track`` when it is given them.

        Args:
            key_out: key-frame outputs of :meth:`loss_frame` (``obj_feat`` (B, N, C, K, K)).
            ref_out: reference-frame outputs (``obj_feat`` (B, N, C, K, K), not detached).

        Returns:
            (B, N, C, K, K) track kernels.
        """
        last_stage = self.roi_head.mask_head[-1]
        if not getattr(last_stage, 'with_link', False):
            raise RuntimeError('the key frame cannot be linked: roi_head must be a '
                               'VideoKernelIterHead whose last stage links kernels')
        return last_stage.link_kernels(key_out.obj_feat, ref_out.obj_feat)

    def embed(self, kernels: Tensor) -> Tensor:
        """Tracking embeddings: (B, n, C, K, K) kernels -> (B, n, E)."""
        return self.track_head(self.fc_embed(self.embed_fcs(kernels.flatten(2))))

    def assign_tracking(self, out: FrameOutput,
                        targets: Sequence[MaskTargets]) -> List[MaskSamplingResult]:
        """Hungarian-match the final-stage thing kernels of a batch to the thing GT.

        Args:
            out: outputs of :meth:`KNet.loss_frame` (``scaled_mask_preds`` (B, N, h, w),
                ``cls_score`` (B, N, num_classes)).
            targets: the B targets of :meth:`KNet.loss_frame`, at (h, w).

        Returns:
            B sampling results; ``pos_inds`` ascending, ``pos_assigned_gt_inds`` aligned.
        """
        num_things = self.rpn_head.num_proposals
        results = []
        for i, target in enumerate(targets):
            masks = out.scaled_mask_preds[i, :num_things]
            cls = out.cls_score[i, :num_things, :self.num_thing_classes]
            assign = self.track_assigner.assign(masks.detach(), cls.detach(),
                                                target.thing_masks, target.thing_labels)
            results.append(self.track_sampler.sample(assign, masks, target.thing_masks))
        return results

    def loss_track(self, key_track: Tensor, key_sampling: Sequence[MaskSamplingResult],
                   ref_kernels: Tensor, ref_sampling: Sequence[MaskSamplingResult],
                   key_samples: Sequence[PanopticDataSample],
                   ref_samples: Sequence[PanopticDataSample]) -> Dict[str, Tensor]:
        """Tracking losses between the key frame and one reference frame of a batch.

        Image i uses only its own positives (the original indexed the batch's concatenated
        kernels with every image's indices, wrong for batch > 1).

        Args:
            key_track: (B, N, C, K, K) key track kernels linked to this reference.
            key_sampling: B tracking assignments of the key frame.
            ref_kernels: (B, N, C, K, K) un-linked final kernels of the reference frame.
            ref_sampling: B tracking assignments of the reference frame.
            key_samples: B key-frame samples (``gt_instances.instance_ids``).
            ref_samples: B reference-frame samples.

        Returns:
            ``loss_track`` and ``loss_track_aux``.
        """
        num_things = self.rpn_head.num_proposals
        key_embeds = self.embed(key_track[:, :num_things])
        ref_embeds = self.embed(ref_kernels[:, :num_things])
        matches = [self.track_head.match_indices(key.gt_instances.instance_ids,
                                                 ref.gt_instances.instance_ids)
                   for key, ref in zip(key_samples, ref_samples)]
        return self.track_head.loss(
            [key_embeds[i, s.pos_inds] for i, s in enumerate(key_sampling)],
            [ref_embeds[i, s.pos_inds] for i, s in enumerate(ref_sampling)],
            [s.pos_assigned_gt_inds for s in key_sampling],
            [s.pos_assigned_gt_inds for s in ref_sampling], matches)

    # ---------------------------------------------------------------------------- inference
    def predict(self, inputs: Tensor,
                data_samples: List[PanopticDataSample]) -> List[PanopticDataSample]:
        """Panoptic segmentation + tracking of consecutive frames, one after the other.

        Args:
            inputs: (B, 3, H, W) normalized, padded frames in sequence order.
            data_samples: B samples with metainfo ``seq_id``, ``frame_id``,
                ``batch_input_shape``, ``img_shape`` and ``ori_shape``.

        Returns:
            the samples with ``pred_panoptic.sem_seg`` (1, H, W) dataset class ids,
            ``pred_panoptic.instance_ids`` (1, H, W) track ids (0 = none) and
            ``pred_instances`` (``masks``, ``labels``, ``scores``, ``instance_ids``).
        """
        if inputs.dim() != 4:
            raise ValueError(f'VideoKNet.predict expects frames (B, 3, H, W), got '
                             f'{tuple(inputs.shape)}')
        for i, sample in enumerate(data_samples):
            self.predict_tracked_frame(inputs[i:i + 1], sample)
        return data_samples

    def predict_tracked_frame(self, inputs: Tensor,
                              data_sample: PanopticDataSample) -> PanopticDataSample:
        """Predict one frame (1, 3, H, W), continuing or starting its sequence."""
        meta = data_sample.metainfo
        if 'frame_id' not in meta:
            raise KeyError('VideoKNet.predict: data_sample metainfo lacks "frame_id" (the frame '
                           'index inside its sequence)')
        seq_id, frame_id = meta.get('seq_id'), int(meta['frame_id'])
        if self.memory.starts_sequence(seq_id, frame_id):
            self.memory.reset()
            self.tracker.reset()
        previous = self.memory.kernels
        out = self.predict_frame(
            inputs, None if previous is None else dict(previous_obj_feats=previous))
        self.memory.update(seq_id, frame_id, out.obj_feat)
        result = self.merge_frame(out.cls_score[0], out.scaled_mask_preds[0], meta)
        self.add_pred_to_sample(result, data_sample)
        track_ids = self.track_segments(out, result, meta, frame_id)
        lut = torch.cat([track_ids.new_zeros(1), (track_ids + 1).clamp(min=0)])
        instance = lut[data_sample.pred_panoptic.instance_ids.to(lut.device)]
        data_sample.pred_panoptic.instance_ids = instance
        data_sample.pred_instances.instance_ids = lut[1:]
        return data_sample

    def track_segments(self, out: FrameOutput, result: Any, meta: Dict[str, Any],
                       frame_id: int) -> Tensor:
        """Tracker ids of the thing segments of one frame.

        Args:
            out: :meth:`predict_frame` outputs of the frame (batch 1).
            result: its ``merge_things_stuff`` result (n thing segments, descending score).
            meta: the frame's metainfo.
            frame_id: the frame index in its sequence.

        Returns:
            (n,) long tracker ids in segment order (-1 = no id).
        """
        kernels = out.obj_feat if out.obj_feat_track is None else out.obj_feat_track
        kernel_inds = torch.as_tensor(result.thing_kernel_inds, device=kernels.device).long()
        embeds = self.embed(kernels[:, kernel_inds])[0]
        masks = torch.as_tensor(result.thing_masks).bool()
        union = masks.any(0, keepdim=True)
        if union.any():  # the semantic map only filters the thing masks, in their box
            x1, y1, x2, y2 = masks_to_boxes(union)[0].long().tolist()
            window = (y1, y2 + 1, x1, x2 + 1)
            thing_map = self.semantic_thing_map(out.seg_preds[0], meta, window)
            masks = masks.to(thing_map.device, copy=True)  # the result's masks stay as merged
            masks[:, y1:y2 + 1, x1:x2 + 1] &= thing_map
        boxes = masks_to_boxes(masks).to(embeds.device)
        scores = torch.as_tensor(result.thing_scores, device=embeds.device).float()
        labels = torch.as_tensor(result.thing_labels, device=embeds.device).long()
        ids = self.tracker.update(frame_id, boxes, scores, labels, embeds)
        if compat_enabled(self.test_cfg, 'shifted_track_ids'):
            ids = self.legacy_track_ids(ids, boxes, scores)
        return ids

    def semantic_thing_map(self, seg_logits: Tensor, meta: Dict[str, Any],
                           window: Optional[Tuple[int, int, int, int]] = None) -> Tensor:
        """Pixels whose RPN semantic argmax is a thing class, at the original size.

        Args:
            seg_logits: (num_classes, h, w) semantic logits of the padded input (stride 8);
                the thing classes come first.
            meta: metainfo with ``batch_input_shape``, ``img_shape`` and ``ori_shape``.
            window: ``(top, bottom, left, right)``: only this part of the map (default all).

        Returns:
            (H_ori, W_ori) bool, or the window's (bottom - top, right - left). Upsampled to the
            padded size, cropped to ``img_shape`` and resized as the masks are
            (:class:`UpsampledMasks`: only the window is computed); with the compatibility
            switch ``padded_semantic_filter``: resized from the padded map directly. The argmax
            is a thing class iff the best thing logit is >= the best stuff logit (the first
            maximum wins a tie).
        """
        ori_hw = tuple(meta['ori_shape'][:2])
        top, bottom, left, right = (0, ori_hw[0], 0, ori_hw[1]) if window is None else window
        things = self.num_thing_classes
        if compat_enabled(self.test_cfg, 'padded_semantic_filter'):
            logits = F.interpolate(seg_logits[None], size=ori_hw, mode='bilinear',
                                   align_corners=False)[0, :, top:bottom, left:right]
            return logits[:things].amax(0) >= logits[things:].amax(0)
        maps = UpsampledMasks.resize(seg_logits, meta)  # all classes on the SIMD path: exact ties
        classes = torch.arange(seg_logits.size(0), device=seg_logits.device)
        thing_map = torch.empty((bottom - top, right - left), dtype=torch.bool,
                                device=seg_logits.device)
        for row, logits in maps.blocks(classes, top, bottom, left, right):
            torch.ge(logits[..., :things].amax(-1), logits[..., things:].amax(-1),
                     out=thing_map[row - top:row - top + logits.size(0)])
        return thing_map

    def legacy_track_ids(self, ids: Tensor, boxes: Tensor, scores: Tensor) -> Tensor:
        """The original's id misalignment (switch ``shifted_track_ids``) from caller-order ids.

        The original tracker drops duplicate detections (score-sorted; IoU above the class or
        backdrop threshold with a higher-scored one) and its ids are zipped with the unfiltered
        segments, so after a dropped duplicate every later segment takes its successor's id.

        Args:
            ids: (n,) ids in segment (descending score) order.
            boxes: (n, 4) boxes given to the tracker.
            scores: (n,) segment scores.

        Returns:
            (n,) ids as the original assigns them (-1 = none).
        """
        order = scores.argsort(descending=True, stable=True)
        ious = bbox_overlaps(boxes[order], boxes[order])
        thr = torch.where(scores[order] < self.tracker.obj_score_thr,
                          ious.new_tensor(self.tracker.nms_backdrop_iou_thr),
                          ious.new_tensor(self.tracker.nms_class_iou_thr))
        earlier = torch.ones_like(ious, dtype=torch.bool).tril(diagonal=-1)
        duplicate = ((ious > thr[:, None]) & earlier).any(dim=1)
        kept_ids = ids[order][~duplicate]
        legacy = torch.full_like(ids, -1)
        legacy[:kept_ids.numel()] = kept_ids
        return legacy
