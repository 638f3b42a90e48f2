"""Quasi-dense embedding tracker of Video K-Net (docs/model.md, tracker).

Follows ``QuasiDenseEmbedTracker`` of ``knet/tracker/quasi_dense_embed_tracker.py`` of the original
Video K-Net, itself qdtrack's tracker. Per frame:

1. detections are sorted by score (descending; stable);
2. duplicates are removed: a detection is dropped if its IoU with any higher-scored detection
   exceeds ``nms_backdrop_iou_thr`` (score < ``obj_score_thr``) or ``nms_class_iou_thr``;
3. if tracklets are alive, each kept detection is compared with the memory (live tracklets with
   their momentum embeddings, then the backdrops of the last ``memo_backdrop_frames`` frames)
   with ``match_metric`` (``'bisoftmax'``: mean of the softmaxes over memory and over
   detections; ``'softmax'``: over memory; ``'cosine'``), zeroed across labels if ``with_cats``,
   and matched greedily in score order: the best entry with a score > ``match_score_thr``
   gives its id to a detection scoring > ``obj_score_thr`` (and its column is zeroed for the
   others); a detection scoring <= ``obj_score_thr`` whose best entry is a tracklet with a score
   > ``nms_conf_thr`` is a suppressed duplicate; matching a backdrop does nothing;
4. unmatched detections scoring > ``init_score_thr`` start new tracks (consecutive ids);
5. memory update: matched / new tracklets store box, label, last frame and the embedding
   ``(1 - memo_momentum) * old + memo_momentum * new``; unmatched detections (not the
   suppressed ones) whose IoU with every higher-scored kept detection is <= the backdrop
   threshold become the newest backdrop frame; tracklets unseen for ``memo_tracklet_frames``
   frames and backdrop frames beyond ``memo_backdrop_frames`` are dropped, so the memory stays
   bounded.

Unlike the reference (docs/differences.md), :meth:`QuasiDenseTracker.update` returns the ids in
the **caller's order**, with -1 for every detection without an id (removed duplicate, suppressed
duplicate, unmatched low-score detection). The reference's velocity running mean is not kept: it
never influences matching.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from knet.models.options import check_bool, check_choice, check_number
from knet.registry import TASK_UTILS
from .bbox_utils import bbox_overlaps

MATCH_METRICS = ('bisoftmax', 'softmax', 'cosine')
#: Internal id of a suppressed duplicate (never stored, returned as -1).
_SUPPRESSED = -2


@dataclass
class _Tracklet:
    """One live track: (4,) box, scalar label, (D,) momentum embedding, last frame seen."""

    bbox: Tensor
    label: Tensor
    embed: Tensor
    last_frame: int


@dataclass
class _Backdrop:
    """Unmatched detections of one frame: (k, 4) boxes, (k,) labels, (k, D) embeddings."""

    bboxes: Tensor
    labels: Tensor
    embeds: Tensor


@dataclass
class _Memory:
    """Concatenated memory: (M, D) embeddings, (M,) labels, (M,) ids (-1 for backdrops)."""

    embeds: Tensor
    labels: Tensor
    ids: Tensor


@TASK_UTILS.register_module()
class QuasiDenseTracker:
    """Stateful quasi-dense embedding tracker (plain object, no parameters).

    Args:
        init_score_thr: minimum score of a detection starting a new track.
        obj_score_thr: minimum score of a detection taking a matched id.
        match_score_thr: minimum matching score.
        memo_tracklet_frames: a track unseen for this many frames is deleted.
        memo_backdrop_frames: number of backdrop frames kept.
        memo_momentum: weight of the new embedding in the track embedding update.
        nms_conf_thr: matching score above which a low-score detection is a suppressed duplicate.
        nms_backdrop_iou_thr: IoU of duplicate removal for low-score detections and backdrops.
        nms_class_iou_thr: IoU of duplicate removal for the other detections.
        with_cats: only match detections and memory entries of the same label.
        match_metric: ``'bisoftmax'`` (reference), ``'softmax'`` or ``'cosine'``.

    The thresholds and ``memo_momentum`` must be numbers in [0, 1] (``match_score_thr`` in
    [-1, 1]), the memory lengths integers (``memo_tracklet_frames`` >= 1) and ``with_cats`` a
    bool: anything else raises naming ``tracker.<key>``.
    """

    def __init__(self, init_score_thr: float = 0.35, obj_score_thr: float = 0.3,
                 match_score_thr: float = 0.5, memo_tracklet_frames: int = 5,
                 memo_backdrop_frames: int = 1, memo_momentum: float = 0.8,
                 nms_conf_thr: float = 0.5, nms_backdrop_iou_thr: float = 0.3,
                 nms_class_iou_thr: float = 0.7, with_cats: bool = True,
                 match_metric: str = 'bisoftmax') -> None:
        check_choice(match_metric, 'tracker.match_metric', MATCH_METRICS)
        for name, value in (('init_score_thr', init_score_thr), ('obj_score_thr', obj_score_thr),
                            ('nms_conf_thr', nms_conf_thr), ('memo_momentum', memo_momentum),
                            ('nms_backdrop_iou_thr', nms_backdrop_iou_thr),
                            ('nms_class_iou_thr', nms_class_iou_thr)):
            check_number(value, f'tracker.{name}', 0, 1)
        # cosine similarities lie in [-1, 1], the softmax scores in [0, 1]
        check_number(match_score_thr, 'tracker.match_score_thr', -1, 1)
        check_number(memo_tracklet_frames, 'tracker.memo_tracklet_frames', 1, integer=True)
        check_number(memo_backdrop_frames, 'tracker.memo_backdrop_frames', 0, integer=True)
        check_bool(with_cats, 'tracker.with_cats')
        self.init_score_thr = init_score_thr
        self.obj_score_thr = obj_score_thr
        self.match_score_thr = match_score_thr
        self.memo_tracklet_frames = memo_tracklet_frames
        self.memo_backdrop_frames = memo_backdrop_frames
        self.memo_momentum = memo_momentum
        self.nms_conf_thr = nms_conf_thr
        self.nms_backdrop_iou_thr = nms_backdrop_iou_thr
        self.nms_class_iou_thr = nms_class_iou_thr
        self.with_cats = with_cats
        self.match_metric = match_metric
        self.reset()

    def reset(self) -> None:
        """Forget every track and backdrop (call at the start of each sequence)."""
        self.num_tracklets = 0
        self.tracklets: Dict[int, _Tracklet] = {}
        self.backdrops: List[_Backdrop] = []

    @property
    def empty(self) -> bool:
        """True when no track is alive (then nothing can be matched)."""
        return not self.tracklets

    def update(self, frame_id: int, bboxes: Tensor, scores: Tensor, labels: Tensor,
               embeds: Tensor) -> Tensor:
        """Track the detections of one frame.

        Args:
            frame_id: index of the frame in its sequence (increasing).
            bboxes: (n, 4) xyxy boxes.
            scores: (n,) detection scores.
            labels: (n,) class labels.
            embeds: (n, D) tracking embeddings.

        Returns:
            (n,) long track ids in the caller's order: >= 0 for tracked detections, -1 for the
            others.
        """
        num = bboxes.size(0)
        if bboxes.shape != (num, 4) or scores.shape != (num,) or labels.shape != (num,) or \
                embeds.dim() != 2 or embeds.size(0) != num:
            raise ValueError(f'QuasiDenseTracker.update expects bboxes (n, 4), scores (n,), '
                             f'labels (n,), embeds (n, D); got {tuple(bboxes.shape)}, '
                             f'{tuple(scores.shape)}, {tuple(labels.shape)}, '
                             f'{tuple(embeds.shape)}')
        order = scores.argsort(descending=True, stable=True)
        kept = order[self._non_duplicates(bboxes[order], scores[order])]
        bboxes, scores = bboxes[kept].detach().float(), scores[kept].detach().float()
        labels, embeds = labels[kept].detach(), embeds[kept].detach().float()
        ids = torch.full((kept.numel(),), -1, dtype=torch.long, device=bboxes.device)
        if kept.numel() and not self.empty:
            ids = self._match(scores, labels, embeds, ids)
        new = (ids == -1) & (scores > self.init_score_thr)
        num_new = int(new.sum())
        ids[new] = torch.arange(self.num_tracklets, self.num_tracklets + num_new,
                                device=ids.device)
        self.num_tracklets += num_new
        self._update_memory(frame_id, ids, bboxes, labels, embeds)
        out = torch.full((num,), -1, dtype=torch.long, device=ids.device)
        out[kept] = ids.clamp(min=-1)
        return out

    def _non_duplicates(self, bboxes: Tensor, scores: Tensor) -> Tensor:
        """(n,) bool: score-sorted detections not overlapping an earlier one too much."""
        ious = bbox_overlaps(bboxes.float(), bboxes.float())
        thr = torch.where(scores < self.obj_score_thr, ious.new_tensor(self.nms_backdrop_iou_thr),
                          ious.new_tensor(self.nms_class_iou_thr))
        earlier = torch.ones_like(ious, dtype=torch.bool).tril(diagonal=-1)
        return ~((ious > thr[:, None]) & earlier).any(dim=1)

    def _memory(self, device: torch.device) -> _Memory:
        """Live tracklets (in id order) followed by the backdrops (newest first)."""
        embeds = [t.embed[None] for t in self.tracklets.values()]
        labels = [t.label.view(1) for t in self.tracklets.values()]
        ids = [torch.tensor(list(self.tracklets), dtype=torch.long, device=device)]
        for backdrop in self.backdrops:
            embeds.append(backdrop.embeds)
            labels.append(backdrop.labels)
            ids.append(torch.full((backdrop.labels.numel(),), -1, dtype=torch.long,
                                  device=device))
        return _Memory(torch.cat(embeds), torch.cat(labels), torch.cat(ids))

    def _scores(self, embeds: Tensor, labels: Tensor, memory: _Memory) -> Tensor:
        """(n, M) matching scores of the detections against the memory."""
        if self.match_metric == 'cosine':
            scores = F.normalize(embeds, dim=1) @ F.normalize(memory.embeds, dim=1).t()
        else:
            sims = embeds @ memory.embeds.t()
            scores = sims.softmax(dim=1)
            if self.match_metric == 'bisoftmax':
                scores = (scores + sims.softmax(dim=0)) / 2
        if self.with_cats:
            scores = scores * (labels.view(-1, 1) == memory.labels.view(1, -1)).to(scores.dtype)
        return scores

    def _match(self, scores: Tensor, labels: Tensor, embeds: Tensor, ids: Tensor) -> Tensor:
        """Greedy matching in score order; returns the (n,) ids (-1 none, -2 suppressed)."""
        memory = self._memory(embeds.device)
        match = self._scores(embeds, labels, memory)
        for i in range(match.size(0)):
            conf, j = match[i].max(dim=0)
            memo_id = int(memory.ids[j])
            if float(conf) <= self.match_score_thr or memo_id < 0:
                continue
            if float(scores[i]) > self.obj_score_thr:
                ids[i] = memo_id
                match[:i, j] = 0
                match[i + 1:, j] = 0
            elif float(conf) > self.nms_conf_thr:
                ids[i] = _SUPPRESSED
        return ids

    def _update_memory(self, frame_id: int, ids: Tensor, bboxes: Tensor, labels: Tensor,
                       embeds: Tensor) -> None:
        """Update tracklets and backdrops with the frame's results, then expire old entries."""
        for i in torch.nonzero(ids >= 0).flatten().tolist():
            track_id = int(ids[i])
            track = self.tracklets.get(track_id)
            if track is None:
                self.tracklets[track_id] = _Tracklet(bboxes[i], labels[i], embeds[i], frame_id)
            else:
                track.embed = (1 - self.memo_momentum) * track.embed + \
                    self.memo_momentum * embeds[i]
                track.bbox, track.label, track.last_frame = bboxes[i], labels[i], frame_id
        backdrop_inds = self._backdrop_inds(ids, bboxes)
        self.backdrops.insert(0, _Backdrop(bboxes[backdrop_inds], labels[backdrop_inds],
                                           embeds[backdrop_inds]))
        del self.backdrops[max(self.memo_backdrop_frames, 0):]
        expired = [track_id for track_id, track in self.tracklets.items()
                   if frame_id - track.last_frame >= self.memo_tracklet_frames]
        for track_id in expired:
            del self.tracklets[track_id]

    def _backdrop_inds(self, ids: Tensor, bboxes: Tensor) -> Tensor:
        """Indices of unmatched detections not overlapping an earlier detection (IoU > thr)."""
        candidates = torch.nonzero(ids == -1).flatten()
        ious = bbox_overlaps(bboxes[candidates], bboxes)
        earlier = torch.arange(bboxes.size(0), device=bboxes.device)[None, :] < candidates[:, None]
        overlapping = ((ious > self.nms_backdrop_iou_thr) & earlier).any(dim=1)
        return candidates[~overlapping]

    def memory_size(self) -> Tuple[int, int]:
        """(number of live tracklets, total number of backdrop entries)."""
        return len(self.tracklets), sum(b.labels.numel() for b in self.backdrops)
