"""Quasi-dense tracking embeddings of Video K-Net kernels (docs/model.md).

Follows ``QuasiDenseMaskEmbedHeadGTMask`` of the original Video K-Net (``knet/video/qdtrack/``)
with the configuration Video K-Net uses (``num_convs=0``, ``num_fcs=2``, ``roi_feat_size=1``,
``softmax_temp=-1``): the embedding of a kernel vector is
``fc_embed(ReLU(fcs.1(ReLU(fcs.0(x)))))`` (no RoI pooling, no normalisation). The losses compare
the key-frame embeddings of the positive (Hungarian-matched) thing kernels with those of the
reference frame:

* target (i, j) = 1 iff key positive i and reference positive j were assigned to ground-truth
  objects with the same instance id; a row with at least one 1 has weight 1, else 0;
* ``loss_track``: multi-positive cross-entropy on the dot products ``key @ ref.T``
  (``avg_factor`` = the row-weight sum), weight 0.25;
* ``loss_track_aux``: L2 loss with hard negative mining on the cosine similarities, weight 1;
* both are averaged over the images of the batch. Every image is indexed on its own
  (``embeds[i, pos_inds_i]``), which fixes the original's batch > 1 bug (it indexed the batch's
  concatenated kernels with every image's indices).
"""
from typing import Dict, Iterable, List, Sequence, Tuple, cast

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from knet.models.heads.utils import ConfigType, OptConfigType
from knet.registry import MODELS


@MODELS.register_module()
class QuasiDenseEmbedHead(BaseModule):
    """Embedding MLP of thing kernels and its quasi-dense contrastive losses.

    Args:
        num_fcs: Linear + ReLU layers (``fcs.{i}``) before ``fc_embed``.
        in_channels: channels of the input kernel features.
        fc_out_channels: width of the ``fcs`` layers.
        embed_channels: embedding size E (``fc_embed`` output).
        softmax_temp: temperature dividing the dot products of ``loss_track`` (<= 0: none).
        loss_track: config of the multi-positive cross-entropy on dot products.
        loss_track_aux: config of the auxiliary L2 loss on cosine similarities (None: off).
        init_cfg: mmengine init config (unused: :meth:`init_weights` implements the original's
            initialisation).
    """

    def __init__(self,
                 num_fcs: int = 2,
                 in_channels: int = 256,
                 fc_out_channels: int = 256,
                 embed_channels: int = 256,
                 softmax_temp: float = -1,
                 loss_track: ConfigType = dict(type='MultiPosCrossEntropyLoss',
                                               loss_weight=0.25),
                 loss_track_aux: OptConfigType = dict(type='L2Loss', neg_pos_ub=3,
                                                      pos_margin=0, neg_margin=0.1,
                                                      hard_mining=True, loss_weight=1.0),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.embed_channels = embed_channels
        self.softmax_temp = softmax_temp
        self.fcs = nn.ModuleList(
            nn.Linear(in_channels if i == 0 else fc_out_channels, fc_out_channels)
            for i in range(num_fcs))
        self.fc_embed = nn.Linear(fc_out_channels if num_fcs else in_channels, embed_channels)
        self.loss_track = MODELS.build(loss_track)
        self.loss_track_aux = MODELS.build(loss_track_aux) if loss_track_aux else None

    def init_weights(self) -> None:
        """Xavier-uniform ``fcs`` weights, N(0, 0.01) ``fc_embed`` weight, zero biases."""
        super().init_weights()
        for fc in cast(Iterable[nn.Linear], self.fcs):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.fc_embed.weight, mean=0., std=0.01)
        nn.init.zeros_(self.fc_embed.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(..., in_channels) kernel features -> (..., E) embeddings."""
        for fc in self.fcs:
            x = F.relu(fc(x))
        return self.fc_embed(x)

    @staticmethod
    def match_indices(key_instance_ids: Tensor, ref_instance_ids: Tensor) -> Tensor:
        """For every key GT object, the index of the reference GT with the same id, or -1.

        Args:
            key_instance_ids: (G,) instance ids of the key frame's GT objects.
            ref_instance_ids: (G',) instance ids of the reference frame's GT objects.

        Returns:
            (G,) long indices into the reference GT objects (-1 = not in the reference frame).
        """
        same = key_instance_ids.view(-1, 1) == ref_instance_ids.view(1, -1).to(
            key_instance_ids.device)
        indices = torch.full((same.shape[0], ), -1, dtype=torch.long, device=same.device)
        if same.shape[1] == 0:
            return indices
        first = same.float().argmax(dim=1)  # the first matching reference object
        return torch.where(same.any(dim=1), first, indices)

    @staticmethod
    def get_targets(key_gt_inds: Sequence[Tensor], ref_gt_inds: Sequence[Tensor],
                    match_indices: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Association targets and row weights of every image.

        Args:
            key_gt_inds: per image, (n,) GT index of each key positive (ascending proposals).
            ref_gt_inds: per image, (m,) GT index of each reference positive.
            match_indices: per image, (G,) reference GT index of every key GT (-1 = none).

        Returns:
            ``(targets, weights)``: per image an (n, m) float 0/1 matrix and (n,) row weights.
        """
        targets, weights = [], []
        for key_inds, ref_inds, match in zip(key_gt_inds, ref_gt_inds, match_indices):
            matched_ref = match.to(key_inds.device)[key_inds]
            target = (matched_ref.view(-1, 1) == ref_inds.view(1, -1)) & \
                (matched_ref.view(-1, 1) >= 0)
            target = target.float()
            targets.append(target)
            weights.append((target.sum(dim=1) > 0).float())
        return targets, weights

    def similarity(self, key_embeds: Tensor, ref_embeds: Tensor) -> Tuple[Tensor, Tensor]:
        """(n, E) x (m, E) -> ``(dists, cos)``: dot products (/ temperature) and cosines (n, m)."""
        dists = key_embeds @ ref_embeds.t()
        if self.softmax_temp > 0:
            dists = dists / self.softmax_temp
        cos = F.normalize(key_embeds, dim=1) @ F.normalize(ref_embeds, dim=1).t()
        return dists, cos

    def loss(self, key_embeds: Sequence[Tensor], ref_embeds: Sequence[Tensor],
             key_gt_inds: Sequence[Tensor], ref_gt_inds: Sequence[Tensor],
             match_indices: Sequence[Tensor]) -> Dict[str, Tensor]:
        """``loss_track`` (and ``loss_track_aux``) averaged over the B images.

        Args:
            key_embeds: per image, (n, E) embeddings of the key positives.
            ref_embeds: per image, (m, E) embeddings of the reference positives.
            key_gt_inds: per image, (n,) GT index of each key positive.
            ref_gt_inds: per image, (m,) GT index of each reference positive.
            match_indices: per image, (G,) reference GT index of every key GT (-1 = none).

        Returns:
            dict of scalar losses; an image without positives contributes 0 (with a graph).
        """
        if not len(key_embeds) == len(ref_embeds) == len(key_gt_inds) == len(ref_gt_inds) \
                == len(match_indices) > 0:
            raise ValueError('QuasiDenseEmbedHead.loss: every argument needs one entry per image')
        targets, weights = self.get_targets(key_gt_inds, ref_gt_inds, match_indices)
        loss_track, loss_aux = [], []
        for key, ref, target, weight in zip(key_embeds, ref_embeds, targets, weights):
            if key.numel() == 0 or ref.numel() == 0:
                zero = key.sum() * 0 + ref.sum() * 0
                loss_track.append(zero)
                loss_aux.append(zero)
                continue
            dists, cos = self.similarity(key, ref)
            loss_track.append(self.loss_track(dists, target, weight, avg_factor=weight.sum()))
            if self.loss_track_aux is not None:
                loss_aux.append(self.loss_track_aux(cos, target))
        losses = dict(loss_track=torch.stack(loss_track).mean())
        if self.loss_track_aux is not None:
            losses['loss_track_aux'] = torch.stack(loss_aux).mean()
        return losses
