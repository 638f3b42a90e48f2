"""Inference sampler that keeps every video sequence whole on one rank.

Video K-Net's tracker and kernel memory are reset on a sequence's first frame and carried from
frame to frame, so a rank must see each of its sequences completely and in frame order. The
original ran inference on one GPU; here whole sequences are spread over the ranks, balanced by
frame count (largest first, to the least-loaded rank), never split, interleaved or padded with
duplicates. Ranks may therefore receive different numbers of frames; mmengine's
``collect_results`` (``zip_longest`` over the rank lists) keeps every result, so metrics must
order results by their (``seq_id``, ``frame_id``) metainfo, not by position.
"""
from typing import Dict, Iterator, List, Optional, Protocol

from mmengine.dist import get_dist_info
from torch.utils.data import Sampler

from knet.registry import DATA_SAMPLERS


class FrameInfos(Protocol):
    """What the sampler needs of a dataset: its length and each frame's data info."""

    def __len__(self) -> int:
        ...

    def get_data_info(self, idx: int) -> dict:
        ...


def sequence_name(info: dict) -> str:
    """Sequence key of a data info: ``seq_name`` if present, else ``str(seq_id)``."""
    if 'seq_name' in info:
        return str(info['seq_name'])
    if 'seq_id' in info:
        return str(info['seq_id'])
    raise KeyError(f'data info has neither seq_name nor seq_id: keys {sorted(info)}')


def split_sequences(sizes: Dict[str, int], world_size: int) -> List[List[str]]:
    """Assign sequences to ranks, balancing frame counts (greedy, largest first).

    Args:
        sizes: number of frames of every sequence, in dataset order.
        world_size: number of ranks.

    Returns:
        For each rank, its sequences in dataset order.
    """
    loads = [0] * world_size
    owner: Dict[str, int] = {}
    for name in sorted(sizes, key=lambda n: -sizes[n]):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        owner[name] = rank
        loads[rank] += sizes[name]
    return [[name for name in sizes if owner[name] == rank] for rank in range(world_size)]


@DATA_SAMPLERS.register_module()
class SequenceSampler(Sampler):
    """Yield this rank's whole sequences, each sorted by ``frame_id``.

    Args:
        dataset: dataset whose ``get_data_info(i)`` has ``seq_name`` or ``seq_id``.
        rank: this rank (default: from ``mmengine.dist.get_dist_info``).
        world_size: number of ranks (default: from ``mmengine.dist.get_dist_info``).
        seed: unused (accepted for dataloader-config compatibility; nothing is shuffled).
    """

    def __init__(self, dataset: FrameInfos, rank: Optional[int] = None,
                 world_size: Optional[int] = None, seed: Optional[int] = None) -> None:
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else rank
        self.world_size = dist_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'SequenceSampler: rank {self.rank} not in [0, {self.world_size})')
        frames: Dict[str, List[tuple]] = {}
        for idx in range(len(dataset)):
            info = dataset.get_data_info(idx)
            frames.setdefault(sequence_name(info), []).append((info.get('frame_id', idx), idx))
        sizes = {name: len(items) for name, items in frames.items()}
        self.sequences = split_sequences(sizes, self.world_size)[self.rank]
        self.indices = [idx for name in self.sequences for _, idx in sorted(frames[name])]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """No-op (the order never changes); present for mmengine's sampler-seed hook."""
