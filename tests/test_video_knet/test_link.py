"""Temporal kernel linking: only track kernels change, by hand, gradients, parameter counts."""
import pytest
import torch

import video_knet  # noqa: F401  (registers the modules)
from knet.registry import MODELS
from video_knet.models.heads import VideoKernelIterHead, VideoKernelUpdateHead

LINK_PREFIXES = ('attention_previous.', 'attention_previous_norm.', 'link_ffn.', 'link_ffn_norm.')


def _stage_cfg(ch=32, **kwargs):
    cfg = dict(type='VideoKernelUpdateHead', num_thing_classes=2, num_stuff_classes=3,
               in_channels=ch, out_channels=ch, num_heads=4, link_num_heads=4,
               feedforward_channels=2 * ch,
               kernel_updator_cfg=dict(type='KernelUpdator', in_channels=ch, feat_channels=ch,
                                       out_channels=ch))
    cfg.update(kwargs)
    return cfg


def _stage(**kwargs) -> VideoKernelUpdateHead:
    torch.manual_seed(0)
    head = MODELS.build(_stage_cfg(**kwargs))
    head.init_weights()
    return head.eval()


def _inputs(batch=2, num_kernels=7, ch=32):
    torch.manual_seed(1)
    return (torch.randn(batch, ch, 6, 8), torch.randn(batch, num_kernels, ch, 1, 1),
            torch.randn(batch, num_kernels, 6, 8), torch.randn(batch, num_kernels, ch, 1, 1))


def test_link_does_not_change_class_mask_or_kernels() -> None:
    head = _stage()
    x, kernels, masks, previous = _inputs()
    plain = head(x, kernels, masks)
    linked = head(x, kernels, masks, previous_obj_feats=previous)
    assert plain.obj_feat_track is None
    for key in ('cls_score', 'mask_preds', 'obj_feat'):
        assert torch.equal(getattr(plain, key), getattr(linked, key)), key
    track = linked.obj_feat_track
    assert track.shape == (2, 7, 32, 1, 1) and torch.isfinite(track).all()
    assert not torch.allclose(track, linked.obj_feat)
    # Other previous kernels change only the track kernels.
    other = head(x, kernels, masks, previous_obj_feats=previous.flip(1))
    assert torch.equal(other.cls_score, linked.cls_score)
    assert not torch.allclose(other.obj_feat_track, track)


def test_link_by_hand() -> None:
    head = _stage()
    x, kernels, masks, previous = _inputs(batch=1, num_kernels=5)
    out = head(x, kernels, masks, previous_obj_feats=previous)
    query = out.obj_feat[..., 0, 0].permute(1, 0, 2)  # (N, B, C)
    memory = previous[..., 0, 0].permute(1, 0, 2)
    attn = head.attention_previous.attn(query, memory, memory, need_weights=False)[0]
    t = head.attention_previous_norm(query + attn)
    ffn = head.link_ffn.layers
    hidden = torch.relu(ffn[0][0](t))
    expected = head.link_ffn_norm(t + ffn[1](hidden)).permute(1, 0, 2)
    assert torch.allclose(out.obj_feat_track[..., 0, 0], expected, atol=1e-5)


def test_link_gradients_reach_link_and_previous_kernels() -> None:
    head = _stage().train()
    x, kernels, masks, previous = _inputs()
    previous.requires_grad_(True)
    head(x, kernels, masks, previous_obj_feats=previous).obj_feat_track.sum().backward()
    assert previous.grad is not None and previous.grad.abs().sum() > 0  # not detached
    for name, param in head.named_parameters():
        if name.startswith(LINK_PREFIXES):
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_link_shape_mismatch_and_unlinked_stage_raise() -> None:
    head = _stage()
    x, kernels, masks, previous = _inputs()
    with pytest.raises(ValueError, match='previous_obj_feats'):
        head(x, kernels, masks, previous_obj_feats=previous[:1])
    plain = _stage(with_link=False)
    assert not hasattr(plain, 'attention_previous')
    with pytest.raises(RuntimeError, match='with_link=False'):
        plain(x, kernels, masks, previous_obj_feats=previous)


def test_iter_head_links_last_stage_only() -> None:
    head = MODELS.build(dict(type='VideoKernelIterHead', num_stages=3, num_proposals=4,
                             num_thing_classes=2, mask_head=_stage_cfg()))
    assert isinstance(head, VideoKernelIterHead)
    assert [h.with_link for h in head.mask_head] == [False, False, True]
    link_keys = [k for k in head.state_dict() if k.split('.', 2)[2].startswith(LINK_PREFIXES)]
    assert link_keys and all(k.startswith('mask_head.2.') for k in link_keys)
    x, kernels, masks, previous = _inputs()
    final = head.predict(x, kernels, masks, dict(previous_obj_feats=previous))
    assert final.obj_feat_track.shape == (2, 7, 32, 1, 1)
    assert head.predict(x, kernels, masks).obj_feat_track is None
    with pytest.raises(ValueError, match='num_stages'):
        VideoKernelIterHead(num_stages=2, mask_head=[_stage_cfg()] * 3)


def test_link_parameter_count_matches_original() -> None:
    """The original's counts: 1,315,072 link parameters; 3,361,811 per video stage (gated)."""
    head = MODELS.build(dict(type='VideoKernelUpdateHead', num_thing_classes=2,
                             num_stuff_classes=17))
    link = sum(p.numel() for n, p in head.named_parameters() if n.startswith(LINK_PREFIXES))
    attention = 768 * 256 + 768 + 256 * 256 + 256  # in_proj + out_proj
    ffn = 2048 * 256 + 2048 + 256 * 2048 + 256
    assert link == attention + ffn + 2 * 512 == 1_315_072  # + 2 LayerNorms
    assert sum(p.numel() for p in head.parameters()) == 3_361_811
