"""Video K-Net: K-Net + temporal kernel linking + quasi-dense tracking (DESIGN.md §1, §5, §6.4).

Follows ``VideoKNetQuansiEmbedFCJointTrain`` of the original
``knet/video/knet_quansi_dense_embed_fc_joint_train.py`` (``forward_train``, ``simple_test``),
as a subclass of the image detector :class:`knet.models.detectors.KNet` (STYLE.md §2.2).

Training (§1a, §6.4), on clips of a key frame and ONE reference frame:

1. the reference frame runs the full image model (RPN + S stages, losses suffixed ``_ref_rpn``
   / ``_ref``); its final-stage kernels are kept (not detached);
2. the key frame runs the same, its last stage linking to the reference kernels (§5.1); the
   link only produces the *track kernels*;
3. a separate Hungarian assignment of the final-stage thing masks gives the positives of each
   frame; key embeddings come from the linked track kernels, reference embeddings from the
   un-linked reference kernels: kernel -> ``embed_fcs`` -> ``fc_embed`` -> ``track_head``;
4. ``loss_track`` and ``loss_track_aux`` (§5.3) are added to the 2 x (4 RPN + 3 S) losses.

Inference (§1b, §5.5, §5.6), frame by frame in sequence order: the kernel memory and the tracker
are reset when a new sequence starts (another ``seq_id``, ``frame_id == 0`` or a frame id that
does not increase); the last stage links to the previous frame's final-stage *un-linked* kernels
(only the last frame is kept, so memory does not grow); the panoptic merge gives the thing
segments, whose track kernels (plain kernels on a sequence's first frame) give the embeddings and
whose masks, AND-ed with the "semantic thing" map of the RPN semantic logits, give the boxes.
Output ids are tracker id + 1 (0 = none).

Fixes of the original's tracking inputs, both reverted by ``test_cfg['legacy_tracking'] = True``
(independent of :class:`KNet`'s ``test_cfg['legacy']``, which fills unassigned pixels with 0):

* §12 item 15: the semantic logits are upsampled to the padded input size, cropped to
  ``img_shape`` and resized to ``ori_shape`` (legacy: resized from the padded map directly);
* §12 item 13: the tracker returns ids in the segments' order (legacy: the ids of the
  non-duplicate detections are handed to the first segments, shifting ids after a duplicate).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from knet.models.detectors import KNet
from knet.models.postprocess import UpsampledMasks
from knet.models.heads.utils import ConfigType, OptConfigType
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
    stage links kernels; ``test_cfg`` also takes ``legacy_tracking``, default False: keep the
    fixes listed in the module docstring), plus:

        track_head: :class:`QuasiDenseEmbedHead` config (embedding MLP + tracking losses).
        tracker: tracker config (``QuasiDenseTracker``), built in ``TASK_UTILS``.
        train_cfg: :class:`KNet`'s ``dict(rpn=..., rcnn=...)`` plus ``track=dict(assigner=...,
            sampler=...)``, which matches the final-stage thing masks to the GT for the
            tracking targets.
        **kwargs: the other arguments of :class:`KNet`.
    """

    def __init__(self, *, track_head: ConfigType, tracker: ConfigType,
                 train_cfg: OptConfigType = None, **kwargs: Any) -> None:
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
        if train_cfg is not None:
            if 'track' not in train_cfg:
                raise KeyError('VideoKNet train_cfg needs a "track" entry: dict(assigner=..., '
                               'sampler=...) for the tracking targets (DESIGN.md §5.2)')
            self.track_assigner = TASK_UTILS.build(train_cfg['track']['assigner'])
            self.track_sampler = TASK_UTILS.build(train_cfg['track']['sampler'])
        self.test_cfg.setdefault('legacy_tracking', False)
        self.memory = SequenceMemory()

    # ----------------------------------------------------------------------------- training
    def loss(self, inputs: Tensor, data_samples: List[ClipDataSample]) -> Dict[str, Tensor]:
        """Joint losses of key and reference frames plus the tracking losses (§6.4).

        Args:
            inputs: (B, 2, 3, H, W) normalized, padded clips: key frame first, then reference.
            data_samples: B :class:`ClipDataSample` (key sample first) with ground truth,
                including ``gt_instances.instance_ids``.

        Returns:
            ``loss_rpn_*`` and ``s{i}_*`` (key), ``*_ref_rpn`` and ``*_ref`` (reference),
            ``loss_track`` and ``loss_track_aux``.
        """
        if inputs.dim() != 5 or inputs.shape[1] != 2:
            raise ValueError(f'VideoKNet.loss expects clips (B, 2, 3, H, W) of a key and one '
                             f'reference frame, got {tuple(inputs.shape)}')
        if any(not isinstance(s, ClipDataSample) or len(s) != 2 for s in data_samples):
            raise ValueError('VideoKNet.loss expects one ClipDataSample of 2 frames per clip')
        key_samples = [clip[0] for clip in data_samples]
        ref_samples = [clip[1] for clip in data_samples]
        ref_losses, ref_out = self.loss_frame(inputs[:, 1], ref_samples, rpn_suffix='_ref_rpn',
                                              stage_suffix='_ref')
        key_losses, key_out = self.loss_frame(
            inputs[:, 0], key_samples,
            last_stage_kwargs=dict(previous_obj_feats=ref_out['obj_feat']))
        losses = dict(key_losses)
        losses.update(ref_losses)
        losses.update(self.loss_track(key_out, ref_out, key_samples, ref_samples))
        return losses

    def embed(self, kernels: Tensor) -> Tensor:
        """Tracking embeddings: (B, n, C, K, K) kernels -> (B, n, E) (§5.2)."""
        return self.track_head(self.fc_embed(self.embed_fcs(kernels.flatten(2))))

    def assign_tracking(self, out: Dict[str, Any]) -> List[Any]:
        """Hungarian-match the final-stage thing kernels of a batch to the thing GT (§5.2).

        Args:
            out: ``final`` dict of :meth:`KNet.loss_frame` (``scaled_mask_preds`` (B, N, h, w),
                ``cls_score`` (B, N, num_classes), ``targets``).

        Returns:
            B sampling results; ``pos_inds`` ascending, ``pos_assigned_gt_inds`` aligned.
        """
        num_things = self.rpn_head.num_proposals
        results = []
        for i, target in enumerate(out['targets']):
            masks = out['scaled_mask_preds'][i, :num_things]
            cls = out['cls_score'][i, :num_things, :self.num_thing_classes]
            assign = self.track_assigner.assign(masks.detach(), cls.detach(),
                                                target.thing_masks, target.thing_labels)
            results.append(self.track_sampler.sample(assign, masks, target.thing_masks))
        return results

    def loss_track(self, key_out: Dict[str, Any], ref_out: Dict[str, Any],
                   key_samples: Sequence[PanopticDataSample],
                   ref_samples: Sequence[PanopticDataSample]) -> Dict[str, Tensor]:
        """Tracking losses of a batch (§5.3); image i uses only its own positives (§12.14).

        Args:
            key_out: key-frame ``final`` dict (with ``obj_feat_track`` (B, N, C, K, K)).
            ref_out: reference-frame ``final`` dict (``obj_feat`` (B, N, C, K, K)).
            key_samples: B key-frame samples (``gt_instances.instance_ids``).
            ref_samples: B reference-frame samples.

        Returns:
            ``loss_track`` and ``loss_track_aux``.
        """
        if key_out.get('obj_feat_track') is None:
            raise RuntimeError('the key frame has no obj_feat_track: roi_head must be a '
                               'VideoKernelIterHead whose last stage links kernels')
        num_things = self.rpn_head.num_proposals
        key_sampling = self.assign_tracking(key_out)
        ref_sampling = self.assign_tracking(ref_out)
        key_embeds = self.embed(key_out['obj_feat_track'][:, :num_things])
        ref_embeds = self.embed(ref_out['obj_feat'][:, :num_things])
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
        self.memory.update(seq_id, frame_id, out['obj_feat'])
        result = self.merge_frame(out['cls_score'][0], out['scaled_mask_preds'][0], meta)
        self.add_pred_to_sample(result, data_sample)
        track_ids = self.track_segments(out, result, meta, frame_id)
        lut = torch.cat([track_ids.new_zeros(1), (track_ids + 1).clamp(min=0)])
        instance = lut[data_sample.pred_panoptic.instance_ids.to(lut.device)]
        data_sample.pred_panoptic.instance_ids = instance
        data_sample.pred_instances.instance_ids = lut[1:]
        return data_sample

    def track_segments(self, out: Dict[str, Any], result: Any, meta: Dict[str, Any],
                       frame_id: int) -> Tensor:
        """Tracker ids of the thing segments of one frame (§1b step 9, §5.6).

        Args:
            out: :meth:`predict_frame` outputs of the frame (batch 1).
            result: its ``merge_things_stuff`` result (n thing segments, descending score).
            meta: the frame's metainfo.
            frame_id: the frame index in its sequence.

        Returns:
            (n,) long tracker ids in segment order (-1 = no id).
        """
        kernels = out.get('obj_feat_track')
        kernels = out['obj_feat'] if kernels is None else kernels
        kernel_inds = torch.as_tensor(result.thing_kernel_inds, device=kernels.device).long()
        embeds = self.embed(kernels[:, kernel_inds])[0]
        masks = torch.as_tensor(result.thing_masks).bool()
        union = masks.any(0, keepdim=True)
        if union.any():  # the semantic map only filters the thing masks, in their box
            x1, y1, x2, y2 = masks_to_boxes(union)[0].long().tolist()
            window = (y1, y2 + 1, x1, x2 + 1)
            thing_map = self.semantic_thing_map(out['seg_preds'][0], meta, window)
            masks = masks.to(thing_map.device, copy=True)  # the result's masks stay as merged
            masks[:, y1:y2 + 1, x1:x2 + 1] &= thing_map
        boxes = masks_to_boxes(masks).to(embeds.device)
        scores = torch.as_tensor(result.thing_scores, device=embeds.device).float()
        labels = torch.as_tensor(result.thing_labels, device=embeds.device).long()
        ids = self.tracker.update(frame_id, boxes, scores, labels, embeds)
        if self.test_cfg['legacy_tracking']:
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
            padded size, cropped to ``img_shape`` and resized (§12 item 15) as the masks are
            (:class:`UpsampledMasks`: only the window is computed); ``legacy_tracking``: resized
            from the padded map directly. The argmax is a thing class iff the best thing logit
            is >= the best stuff logit (the first maximum wins a tie).
        """
        ori_hw = tuple(meta['ori_shape'][:2])
        top, bottom, left, right = (0, ori_hw[0], 0, ori_hw[1]) if window is None else window
        things = self.num_thing_classes
        if self.test_cfg['legacy_tracking']:
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
        """Reproduce the original's id misalignment (§12 item 13) from caller-order ids.

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
