"""QuasiDenseEmbedHead: tracking targets and losses on hand-made assignments."""
import math

import pytest
import torch

import video_knet  # noqa: F401  (registers the modules)
from knet.registry import MODELS
from video_knet.models.heads import QuasiDenseEmbedHead


def _head(**kwargs) -> QuasiDenseEmbedHead:
    cfg = dict(type='QuasiDenseEmbedHead', in_channels=2, fc_out_channels=2, embed_channels=2)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_match_indices_by_instance_id() -> None:
    key_ids = torch.tensor([5, 7, 9])
    ref_ids = torch.tensor([9, 5])
    assert QuasiDenseEmbedHead.match_indices(key_ids, ref_ids).tolist() == [1, -1, 0]
    assert QuasiDenseEmbedHead.match_indices(key_ids, ref_ids[:0]).tolist() == [-1, -1, -1]


def test_targets_on_hand_made_assignments_batch_2() -> None:
    # Image 0: key positives assigned to GT 0, 2, 1; reference positives to GT 1, 0; key GT 0 is
    # reference GT 1, key GT 1 is reference GT 0, key GT 2 left the view.
    # Image 1: one key positive (GT 0) = reference GT 0, held by the 2nd reference positive.
    targets, weights = QuasiDenseEmbedHead.get_targets(
        key_gt_inds=[torch.tensor([0, 2, 1]), torch.tensor([0])],
        ref_gt_inds=[torch.tensor([1, 0]), torch.tensor([2, 0])],
        match_indices=[torch.tensor([1, 0, -1]), torch.tensor([0])])
    # key GT 0 -> ref GT 1 (column 0); key GT 2 -> none; key GT 1 -> ref GT 0 (column 1).
    assert targets[0].tolist() == [[1, 0], [0, 0], [0, 1]]
    assert weights[0].tolist() == [1, 0, 1]
    assert targets[1].tolist() == [[0, 1]] and weights[1].tolist() == [1]


def test_losses_by_hand_and_batch_average() -> None:
    head = _head()
    key = torch.tensor([[1., 0.], [0., 2.]])
    ref = torch.tensor([[1., 1.], [0., 1.]])
    inds = torch.tensor([0, 1])
    match = torch.tensor([0, 1])
    losses = head.loss([key], [ref], [inds], [inds], [match])
    # dots: [[1, 0], [2, 2]]; target = identity; row i: log(1 + exp(s_neg - s_pos)).
    track = 0.25 * (math.log(1 + math.exp(0 - 1)) + math.log(1 + math.exp(2 - 2))) / 2
    assert losses['loss_track'].item() == pytest.approx(track, rel=1e-6)
    # cosines: [[c, 0], [c, 1]] with c = 1/sqrt(2); positives (c, 1); negatives shifted by
    # -0.1 and clamped: (0, c - 0.1); 2 neg / (2 pos + 1) <= 3: all kept; mean of 4 squares.
    c = 1 / math.sqrt(2)
    aux = ((c - 1) ** 2 + 0 + 0 + (c - 0.1) ** 2) / 4
    assert losses['loss_track_aux'].item() == pytest.approx(aux, rel=1e-5)
    # A second image without key positives contributes 0: the batch mean halves both terms.
    empty = torch.zeros(0, 2)
    batch = head.loss([key, empty], [ref, ref], [inds, inds[:0]], [inds, inds], [match, match])
    assert batch['loss_track'].item() == pytest.approx(track / 2, rel=1e-6)
    assert batch['loss_track_aux'].item() == pytest.approx(aux / 2, rel=1e-5)
    # Image order does not matter (each image uses only its own rows).
    swapped = head.loss([empty, key], [ref, ref], [inds[:0], inds], [inds, inds], [match, match])
    assert swapped['loss_track'].item() == pytest.approx(track / 2, rel=1e-6)


def test_no_positive_gives_finite_zero_with_gradient() -> None:
    head = _head()
    key = torch.zeros(0, 2, requires_grad=True)
    ref = torch.randn(3, 2, requires_grad=True)
    losses = head.loss([key], [ref], [torch.zeros(0, dtype=torch.long)],
                       [torch.arange(3)], [torch.tensor([0, 1])])
    total = sum(losses.values())
    total.backward()
    assert total.item() == 0 and torch.isfinite(ref.grad).all()


def test_embedding_mlp_and_init() -> None:
    head = _head(in_channels=16, fc_out_channels=32, embed_channels=8)
    head.init_weights()
    assert [tuple(fc.weight.shape) for fc in head.fcs] == [(32, 16), (32, 32)]
    assert all(fc.bias.abs().sum() == 0 for fc in head.fcs)
    assert head.fc_embed.bias.abs().sum() == 0 and head.fc_embed.weight.std() < 0.02
    x = torch.randn(3, 5, 16)
    expected = head.fc_embed(torch.relu(head.fcs[1](torch.relu(head.fcs[0](x)))))
    assert head(x).shape == (3, 5, 8) and torch.allclose(head(x), expected)
    with pytest.raises(ValueError, match='one entry per image'):
        head.loss([], [], [], [], [])


def test_parameter_names_match_original_checkpoint() -> None:
    """The original's keys: track_head.fcs.{0,1} and track_head.fc_embed, 256 channels."""
    head = MODELS.build(dict(type='QuasiDenseEmbedHead'))
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes == {'fcs.0.weight': (256, 256), 'fcs.0.bias': (256, ),
                      'fcs.1.weight': (256, 256), 'fcs.1.bias': (256, ),
                      'fc_embed.weight': (256, 256), 'fc_embed.bias': (256, )}
