"""Tests of the KNet detector on the tiny config (outputs per docs/ARCHITECTURE.md)."""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

import knet  # noqa: F401  (registers the modules)
from knet.models.heads import FrameOutput, build_mask_targets
from knet.models.postprocess import MergeSettings, rescale_masks
from knet.registry import MODELS
from knet.structures import PanopticDataSample

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
# Golden losses of the tiny model (seed 0, _batch()), recorded with this file. Update them
# deliberately, in the same change as whatever moves them.
GOLDEN = {
    'loss_rpn_mask': 0.47170576453208923, 'loss_rpn_dice': 2.7983222007751465,
    'loss_rpn_rank': 0.2166469842195511, 'loss_rpn_seg': 1.118206262588501,
    's0_loss_cls': 2.2054343223571777, 's0_loss_mask': 3.3892173767089844,
    's0_loss_dice': 2.536815643310547, 's0_loss_rank': 0.37319931387901306,
    's1_loss_cls': 2.1852078437805176, 's1_loss_mask': 2.9208178520202637,
    's1_loss_dice': 2.5847768783569336, 's1_loss_rank': 0.3038167953491211,
}


def _tiny(seed=0, **test_cfg):
    cfg = Config.fromfile(str(CONFIGS / 'tiny' / 'knet_tiny.py'))
    cfg.model.test_cfg.update(test_cfg)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _sample(h, w, things=True, ori_shape=None):
    """A frame (3, h, w) uint8 with 2 things (model labels 0, 1) and stuff labels 5 and 7."""
    image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    sample = PanopticDataSample(metainfo=dict(img_shape=(h, w), ori_shape=ori_shape or (h, w)))
    masks = torch.zeros(2, h, w, dtype=torch.uint8)
    masks[0, 5:20, 10:40] = 1
    masks[1, 30:50, 60:100] = 1
    sem = torch.full((1, h, w), 5)
    sem[:, 40:] = 7
    sem[:, :, :4] = 255
    for label, mask in enumerate(masks):
        sem[0][mask.bool()] = label
    if not things:
        masks, sem = masks[:0], torch.where(sem < 2, 5, sem)
    sample.gt_instances = InstanceData(masks=masks, labels=torch.arange(len(masks)))
    sample.gt_sem_seg = PixelData(sem_seg=sem)
    return image, sample


def _batch(model, things=True, sizes=((64, 128), (60, 120))):
    images, samples = zip(*[_sample(h, w, things) for h, w in sizes])
    return model.data_preprocessor(dict(inputs=list(images), data_samples=list(samples)), True)


def test_loss_keys_golden_values_and_gradients() -> None:
    model = _tiny()
    torch.manual_seed(1)
    losses = model(**_batch(model), mode='loss')
    assert set(losses) == set(GOLDEN) | {'s0_pos_acc', 's1_pos_acc'}
    for key, value in GOLDEN.items():
        assert float(losses[key].detach()) == pytest.approx(value, rel=1e-4), key
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    # frozen_stages=1: the stem and layer1 of the backbone are frozen.
    assert frozen and all(n.startswith(('backbone.conv1', 'backbone.bn1', 'backbone.layer1'))
                          for n in frozen)
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []


def test_loss_without_things_is_finite() -> None:
    model = _tiny()
    losses = model(**_batch(model, things=False), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_rpn_mask'].detach()) == 0
    assert float(losses['loss_rpn_dice'].detach()) == 0
    assert float(losses['s1_loss_cls'].detach()) > 0


def test_predict_output_format() -> None:
    model = _tiny(instance_score_thr=0.0, overlap_thr=0.0)
    model.eval()
    with torch.no_grad():  # confident thing classes, so that the untrained model keeps things
        model.roi_head.mask_head[-1].fc_cls.bias[:2] = 5.0
    image, sample = _sample(60, 120, ori_shape=(30, 60))
    data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
    with torch.no_grad():
        out, = model(**data, mode='predict')
    sem, ins = out.pred_panoptic.sem_seg, out.pred_panoptic.instance_ids
    assert sem.shape == (1, 30, 60) and ins.shape == (1, 30, 60)
    assert sem.dtype == torch.int64 and ins.dtype == torch.int64
    assert set(sem.unique().tolist()) <= set(model.class_ids)  # never void by default
    inst = out.pred_instances
    n = len(inst)
    assert n > 0 and inst.masks.shape == (n, 30, 60) and inst.masks.dtype == torch.bool
    assert set(inst.labels.tolist()) <= {11, 13}  # dataset ids of the two thing classes
    assert bool((inst.kernel_inds < 16).all()) and bool((inst.kernel_inds >= 0).all())
    assert torch.equal(inst.scores, inst.scores.sort(descending=True).values)
    for i in range(n):  # segment i + 1 of the instance map is thing mask i, with its class
        assert torch.equal(ins[0] == i + 1, inst.masks[i])
        assert bool((sem[0][inst.masks[i]] == inst.labels[i]).all())
    assert int(ins.max()) == n

    # no things; their pixels, if unassigned, get a class by default (never 255): with
    # 'argmax' the class of the rejected candidate that won them, with 'legacy' class 0
    model.test_cfg.update(instance_score_thr=1.0)
    semantic = {}
    for fill in ('argmax', 'legacy', 'void'):  # predict() writes into the same data sample
        model.test_cfg.update(unassigned_fill=fill)
        with torch.no_grad():
            out, = model(**data, mode='predict')
        assert len(out.pred_instances) == 0 and int(out.pred_panoptic.instance_ids.max()) == 0
        semantic[fill] = out.pred_panoptic.sem_seg.clone()
    unassigned = semantic['void'] == 255
    assert bool(unassigned.any())  # every thing is rejected: the pixels it won are unassigned
    for fill in ('argmax', 'legacy'):  # the fill changes the unassigned pixels only
        assert 255 not in semantic[fill].unique().tolist()
        assert torch.equal(semantic[fill][~unassigned], semantic['void'][~unassigned])
    assert bool((semantic['legacy'][unassigned] == 0).all())
    # 'argmax' gives them the classes of their winners, here the confident thing classes
    assert set(semantic['argmax'][unassigned].unique().tolist()) & {11, 13}


def test_rescale_masks_by_hand() -> None:
    logits = torch.randn(3, 4, 8)
    meta = dict(batch_input_shape=(8, 16), img_shape=(6, 12), ori_shape=(3, 5))
    probs = rescale_masks(logits, meta)
    up = F.interpolate(logits[None].sigmoid(), size=(8, 16), mode='bilinear',
                       align_corners=False)[..., :6, :12]
    expected = F.interpolate(up, size=(3, 5), mode='bilinear', align_corners=False)[0]
    assert probs.shape == (3, 3, 5) and torch.allclose(probs, expected)
    with pytest.raises(KeyError, match='ori_shape'):
        rescale_masks(logits, dict(batch_input_shape=(8, 16), img_shape=(6, 12)))


def test_build_mask_targets_by_hand() -> None:
    sample = PanopticDataSample(metainfo=dict(batch_input_shape=(8, 8), img_shape=(8, 6)))
    masks = torch.zeros(1, 6, 6, dtype=torch.uint8)  # unpadded: padded with 0 to (8, 8)
    masks[0, :3, :3] = 1
    sample.gt_instances = InstanceData(masks=masks, labels=torch.tensor([1]))
    sem = torch.full((1, 8, 8), 3)
    sem[0, 4:] = 4
    sem[0, :3, :3] = 1  # a thing label: no stuff mask
    sem[0, 7, 0] = 255
    sample.gt_sem_seg = PixelData(sem_seg=sem)
    target, = build_mask_targets([sample], num_thing_classes=2, num_stuff_classes=3,
                                 mask_assign_stride=2)
    assert target.thing_labels.tolist() == [1] and target.stuff_labels.tolist() == [3, 4]
    padded = torch.zeros(1, 1, 8, 8)
    padded[0, 0, :3, :3] = 1
    expected = F.interpolate(padded, size=(4, 4), mode='bilinear', align_corners=False)[0]
    assert torch.allclose(target.thing_masks, expected)
    stuff = torch.zeros(2, 8, 8)
    stuff[0] = (sem[0] == 3).float()
    stuff[1] = (sem[0] == 4).float()
    stuff[:, :, 6:] = 0  # beyond img_shape the semantic map becomes 255
    expected = F.interpolate(stuff[None], size=(4, 4), mode='bilinear', align_corners=False)[0]
    assert torch.allclose(target.stuff_masks, expected)
    # Soft at the borders, not re-binarised: output (1, 1) averages input rows/cols 2..3.
    assert float(target.thing_masks[0, 1, 1]) == pytest.approx(0.25)
    assert float(target.stuff_masks[0, 1, 1]) == pytest.approx(0.75)

    sample.gt_instances.labels = torch.tensor([2])
    with pytest.raises(ValueError, match='thing model labels'):
        build_mask_targets([sample], 2, 3, 2)
    with pytest.raises(KeyError, match='batch_input_shape'):
        build_mask_targets([PanopticDataSample()], 2, 3, 2)


def test_frame_level_hooks_for_video() -> None:
    model = _tiny()
    data = _batch(model)
    losses, final, targets = model.loss_frame(data['inputs'], data['data_samples'],
                                              rpn_suffix='_ref_rpn', stage_suffix='_ref')
    assert 'loss_rpn_seg_ref_rpn' in losses and 's1_loss_cls_ref' in losses
    assert isinstance(final, FrameOutput) and final.obj_feat_track is None
    assert final.cls_score.shape == (2, 33, 19) and final.obj_feat.shape[:3] == (2, 33, 64)
    assert final.scaled_mask_preds.shape == (2, 33, 16, 32)  # mask_assign_stride 4
    assert final.seg_preds.shape == (2, 19, 8, 16) and len(targets) == 2
    assert targets[0].thing_masks.shape[-2:] == (16, 32)
    model.eval()
    with torch.no_grad():
        raw = model.predict_frame(data['inputs'])
        cls, masks, seg = model(data['inputs'], mode='tensor')
    assert raw.scaled_mask_preds.shape == (2, 33, 16, 32)
    assert torch.equal(cls, raw.cls_score) and torch.equal(masks, raw.scaled_mask_preds)
    assert torch.equal(seg, raw.seg_preds)
    result = model.merge_frame(raw.cls_score[0], raw.scaled_mask_preds[0],
                               data['data_samples'][0].metainfo)
    assert result.semantic.shape == (64, 128)


def test_r50_parameter_parity_with_the_original() -> None:
    cfg = Config.fromfile(str(CONFIGS / '_base_' / 'models' / 'knet_r50_fpn.py'))
    with torch.device('meta'):  # structure only
        model = MODELS.build(cfg.model)
    backbone = 23_508_032  # torchvision ResNet-50 without fc
    fpn = 256 * (256 + 512 + 1024 + 2048) + 4 * 256 + 4 * (256 * 256 * 9 + 256)
    semantic_fpn = 7 * (256 * 256 * 9 + 2 * 256) + 2 * (256 * 256 + 2 * 256)
    kernel_head = 100 * 256 + (19 * 256 + 19) + 2 * (256 * 256 + 2 * 256)
    stages = 3 * (1_583_635 + 463_104)  # the original's counts: head + gated updater
    assert sum(p.numel() for p in model.parameters()) == \
        backbone + fpn + semantic_fpn + kernel_head + stages == 37_419_660


def test_detector_sets_class_counts_strides_and_proposals_in_its_heads() -> None:
    cfg = Config.fromfile(str(CONFIGS / 'tiny' / 'knet_tiny.py'))
    for head_cfg in (cfg.model.rpn_head, cfg.model.roi_head, cfg.model.roi_head.mask_head):
        assert not {'num_thing_classes', 'num_stuff_classes', 'feat_downsample_stride',
                    'mask_upsample_stride'} & set(head_cfg)  # stated once, by the detector
    assert 'num_proposals' not in cfg.model.roi_head
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.update(num_thing_classes=3, num_stuff_classes=5, class_ids=None,
                     mask_assign_stride=2)
    model_cfg.rpn_head.num_proposals = 7
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    heads = [model.rpn_head, *model.roi_head.mask_head]
    assert all((h.num_thing_classes, h.num_stuff_classes) == (3, 5) for h in heads)
    assert model.roi_head.num_thing_classes == 3 and model.roi_head.num_proposals == 7
    assert model.rpn_head.feat_downsample_stride == 4  # 8 / mask_assign_stride
    assert [h.mask_upsample_stride for h in model.roi_head.mask_head] == [4, 4]
    assert model.rpn_head.conv_seg.out_channels == 8
    assert model.roi_head.mask_head[0].fc_cls.out_features == 8
    # A stage list gets the settings in every entry; stating the detector's value is allowed.
    model_cfg = copy.deepcopy(cfg.model)
    stage = dict(model_cfg.roi_head.mask_head, num_stuff_classes=17)
    model_cfg.roi_head.mask_head = [stage, stage]
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    assert [h.mask_upsample_stride for h in model.roi_head.mask_head] == [2, 2]


def test_config_errors() -> None:
    cfg = Config.fromfile(str(CONFIGS / 'tiny' / 'knet_tiny.py'))
    bad = cfg.model.copy()
    bad['class_ids'] = [0, 1]
    with pytest.raises(ValueError, match='class_ids'):
        MODELS.build(bad)
    for key, value, name in (('num_stuff_classes', 5, 'rpn_head.num_stuff_classes'),
                             ('feat_downsample_stride', 4, 'rpn_head.feat_downsample_stride')):
        bad = copy.deepcopy(cfg.model)
        bad.rpn_head[key] = value
        with pytest.raises(ValueError, match=f'{name} = {value} conflicts'):
            MODELS.build(bad)
    for key, value, name in (('num_thing_classes', 3, 'roi_head.num_thing_classes'),
                             ('num_proposals', 8, 'roi_head.num_proposals')):
        bad = copy.deepcopy(cfg.model)
        bad.roi_head[key] = value
        with pytest.raises(ValueError, match=f'{name} = {value} conflicts'):
            MODELS.build(bad)
    bad = copy.deepcopy(cfg.model)
    bad.roi_head.mask_head = [dict(bad.roi_head.mask_head),
                              dict(bad.roi_head.mask_head, mask_upsample_stride=1)]
    with pytest.raises(ValueError, match='roi_head.mask_head.1.mask_upsample_stride = 1'):
        MODELS.build(bad)
    bad = copy.deepcopy(cfg.model)
    bad.mask_assign_stride = 3
    with pytest.raises(ValueError, match='mask_assign_stride'):
        MODELS.build(bad)
    model = _tiny()
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(torch.zeros(1, 3, 32, 32), mode='bad')


def test_dataset_ids_for_more_than_256_classes():
    """Model labels of a 300-class model map back to dataset ids; C = 300 marks unassigned."""
    from types import SimpleNamespace

    from knet.models.detectors.knet import KNet
    from vseg.panoptic import model_label_order
    order = model_label_order(300, [7, 299])
    fake = SimpleNamespace(num_classes=300, class_ids=list(order), ignore_label=1000)
    fake.merge_settings = lambda: MergeSettings(unassigned_fill='void')
    labels = torch.tensor([[0, 1, 2, 255], [256, 299, 300, 300]])
    ids = KNet.to_dataset_ids(fake, labels)
    # stuff model label 2 + i is the i-th class id other than 7 and 299
    assert ids.tolist() == [[7, 299, 0, 254], [255, 298, 1000, 1000]]
    fake.merge_settings = lambda: MergeSettings(unassigned_fill='legacy')
    assert KNet.to_dataset_ids(fake, labels)[1].tolist() == [255, 298, 0, 0]
