"""SequenceSampler: whole sequences per rank, frames in order, no padding."""
import pytest

from video_knet.datasets import KITTISTEPDataset, SequenceSampler, split_sequences


class _FakeDataset:
    """Frames of sequences with the given lengths, listed in an interleaved order."""

    def __init__(self, lengths: dict) -> None:
        self.infos = [dict(seq_id=seq, seq_name=f'{seq:06d}', frame_id=frame)
                      for frame in range(max(lengths.values()))
                      for seq, length in lengths.items() if frame < length]

    def __len__(self) -> int:
        return len(self.infos)

    def get_data_info(self, idx: int) -> dict:
        return dict(self.infos[idx])


def test_split_sequences_balances_frames():
    sizes = {'a': 10, 'b': 7, 'c': 5, 'd': 4}
    # largest first to the least-loaded rank: a->0, b->1, c->1 (7 < 10), d->0 (10 < 12).
    assert split_sequences(sizes, 2) == [['a', 'd'], ['b', 'c']]
    assert split_sequences(sizes, 1) == [['a', 'b', 'c', 'd']]
    assert split_sequences({'a': 3}, 2) == [['a'], []]


def test_two_ranks_keep_sequences_whole_and_ordered():
    dataset = _FakeDataset({2: 5, 6: 3, 7: 4, 8: 2})
    ranks = [list(SequenceSampler(dataset, rank=r, world_size=2)) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == list(range(len(dataset)))  # no duplicates, no loss
    for indices in ranks:
        frames = [(dataset.infos[i]['seq_id'], dataset.infos[i]['frame_id']) for i in indices]
        seqs = [seq for seq, _ in frames]
        assert seqs == sorted(seqs, key=seqs.index)  # each sequence contiguous
        for seq in set(seqs):
            assert [f for s, f in frames if s == seq] == list(range(len(
                [1 for info in dataset.infos if info['seq_id'] == seq])))
    owners = [{dataset.infos[i]['seq_id'] for i in indices} for indices in ranks]
    assert not owners[0] & owners[1]
    assert [len(indices) for indices in ranks] == [7, 7]


def test_default_rank_from_dist_info_and_bad_rank(toy_step_root):
    dataset = KITTISTEPDataset(data_root=toy_step_root, split='train')
    sampler = SequenceSampler(dataset)
    assert list(sampler) == list(range(12)) and len(sampler) == 12
    sampler.set_epoch(3)
    with pytest.raises(ValueError, match='rank 2'):
        SequenceSampler(dataset, rank=2, world_size=2)
