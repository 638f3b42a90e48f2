"""Parameters of the VIPSeg Video K-Net configs, derived block by block from the original's
figures (docs/model.md) and compared with the built models' submodules, so that a wrong block
is named.

The original builds the link modules in all 3 update stages and uses only the last stage's;
this project builds them in the last stage only, hence 2 links fewer than the original totals
(R50: 41,802,032 -> 39,171,888; Swin-B: 104,547,496 -> 101,917,352).
"""
import importlib.util
import logging
from pathlib import Path
from typing import Dict

import pytest
from mmengine.logging import MMLogger
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'analysis' / 'count_params.py'
VIPSEG = ROOT / 'configs' / 'video_knet_vipseg'
R50 = VIPSEG / 'video-knet_r50_fpn_8xb1-12e_vipseg.py'
SWIN_B = VIPSEG / 'video-knet_swin-b_8xb1-8e_vipseg.py'
LINK = ('attention_previous', 'attention_previous_norm', 'link_ffn', 'link_ffn_norm')

NUM_CLASSES, NUM_THINGS, NUM_PROPOSALS, CH = 124, 58, 100, 256
#: Parameters of the original's blocks (the KITTI-STEP figures with 124 instead of 19 classes).
BACKBONE_R50 = 23_508_032  # torchvision resnet50 without fc
NECK_R50 = 3_344_384  # FPN 256/512/1024/2048 -> 256
SEMANTIC_FPN = 4_264_448  # rpn_head.localization_fpn
LOC_SEG_CONVS = 132_096  # rpn_head.loc_convs + seg_convs: 2 x (1x1 conv + GN)
INIT_KERNELS = NUM_PROPOSALS * CH  # 25,600 (no bias)
CONV_SEG = NUM_CLASSES * CH + NUM_CLASSES  # 31,868
RPN_HEAD = SEMANTIC_FPN + LOC_SEG_CONVS + INIT_KERNELS + CONV_SEG
#: One update stage: the 19-class head, 105 more fc_cls rows, the gated updater, the link.
FC_CLS = NUM_CLASSES * (CH + 1)  # 31,868
STAGE_HEAD = 1_583_635 + (NUM_CLASSES - 19) * (CH + 1)  # without updater and link
UPDATER = 463_104  # kernel_update_conv
LINK_PARAMS = 1_315_072
STAGE = STAGE_HEAD + UPDATER + LINK_PARAMS
TRACKING = dict(track_head=197_376, embed_fcs=66_048, fc_embed=65_792)
ORIGINAL_R50 = (BACKBONE_R50 + NECK_R50 + RPN_HEAD + 3 * STAGE + sum(TRACKING.values()))
OURS_R50 = ORIGINAL_R50 - 2 * LINK_PARAMS


def _swin_b_backbone() -> int:
    """Swin-B (embed 128, depths 2/2/18/2, heads 4/8/16/32), from the block formulas."""
    dims, depths, heads = (128, 256, 512, 1024), (2, 2, 18, 2), (4, 8, 16, 32)
    blocks = sum(n * (12 * d * d + 13 * d + 169 * h) for d, n, h in zip(dims, depths, heads))
    merging = sum(8 * d * d + 8 * d for d in dims[:-1])  # LN(4d) + Linear(4d -> 2d, no bias)
    stem = 3 * dims[0] * 16 + dims[0] + 2 * dims[0]  # 4x4 conv with bias + LN
    return blocks + merging + stem + sum(2 * d for d in dims)  # + output LNs


def _fpn(in_channels) -> int:
    return CH * sum(in_channels) + len(in_channels) * CH + len(in_channels) * (CH * CH * 9 + CH)


BACKBONE_SWIN_B = _swin_b_backbone()
NECK_SWIN_B = _fpn((128, 256, 512, 1024))
ORIGINAL_SWIN_B = ORIGINAL_R50 - BACKBONE_R50 - NECK_R50 + BACKBONE_SWIN_B + NECK_SWIN_B
OURS_SWIN_B = ORIGINAL_SWIN_B - 2 * LINK_PARAMS


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _check_blocks(model: nn.Module, backbone: int, neck: int) -> None:
    """Compare every block of the derivation with the model's submodule of that name."""
    found: Dict[str, int] = dict(backbone=_count(model.backbone), neck=_count(model.neck))
    expected: Dict[str, int] = dict(backbone=backbone, neck=neck)
    rpn = model.rpn_head
    found.update({'rpn_head.localization_fpn': _count(rpn.localization_fpn),
                  'rpn_head.loc_convs+seg_convs': _count(rpn.loc_convs) + _count(rpn.seg_convs),
                  'rpn_head.init_kernels': _count(rpn.init_kernels),
                  'rpn_head.conv_seg': _count(rpn.conv_seg), 'rpn_head': _count(rpn)})
    expected.update({'rpn_head.localization_fpn': SEMANTIC_FPN,
                     'rpn_head.loc_convs+seg_convs': LOC_SEG_CONVS,
                     'rpn_head.init_kernels': INIT_KERNELS, 'rpn_head.conv_seg': CONV_SEG,
                     'rpn_head': RPN_HEAD})
    stages = model.roi_head.mask_head
    assert len(stages) == 3
    for s, stage in enumerate(stages):
        link = sum(_count(getattr(stage, name)) for name in LINK if hasattr(stage, name))
        found.update({f'stage{s}.kernel_update_conv': _count(stage.kernel_update_conv),
                      f'stage{s}.link': link, f'stage{s}.fc_cls': _count(stage.fc_cls),
                      f'stage{s}.head': _count(stage) - _count(stage.kernel_update_conv) - link})
        expected.update({f'stage{s}.kernel_update_conv': UPDATER,
                         # Only the last stage builds the link modules.
                         f'stage{s}.link': LINK_PARAMS if s == 2 else 0,
                         f'stage{s}.fc_cls': FC_CLS, f'stage{s}.head': STAGE_HEAD})
    found.update({name: _count(getattr(model, name)) for name in TRACKING})
    expected.update(TRACKING)
    wrong = {k: (found[k], expected[k]) for k in expected if found[k] != expected[k]}
    assert not wrong, f'blocks (built, expected): {wrong}'


def test_derivation_matches_the_original_figures() -> None:
    assert RPN_HEAD == 4_454_012 and STAGE == 3_388_796 and sum(TRACKING.values()) == 329_216
    assert ORIGINAL_R50 == 41_802_032 and OURS_R50 == 39_171_888
    assert BACKBONE_SWIN_B == 86_745_016 and NECK_SWIN_B == 2_852_864
    assert _fpn((256, 512, 1024, 2048)) == NECK_R50
    assert ORIGINAL_SWIN_B == 104_547_496 and OURS_SWIN_B == 101_917_352


def test_r50_vipseg_count_params(monkeypatch, capsys) -> None:
    """`count_params.py` on the real R50 config (one real build): blocks and printed total."""
    spec = importlib.util.spec_from_file_location('count_params', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    built = []
    build = tool.build_model_from_config
    monkeypatch.setattr(tool, 'build_model_from_config',
                        lambda *args: built.append(build(*args)) or built[-1])
    counts = tool.main([str(R50)])
    assert capsys.readouterr().out.strip().splitlines()[-1] == f'total: {OURS_R50}'
    assert counts['total'] == OURS_R50 == 39_171_888
    _check_blocks(built[0], BACKBONE_R50, NECK_R50)


def test_swin_b_vipseg_parameters(built_config) -> None:
    """Swin-B VIPSeg (built on the meta device): 101,917,352."""
    _, model = built_config(SWIN_B)
    _check_blocks(model, BACKBONE_SWIN_B, NECK_SWIN_B)
    assert _count(model) == OURS_SWIN_B == 101_917_352


@pytest.mark.parametrize('config', [R50, SWIN_B], ids=lambda p: p.name)
def test_kernels(config, built_config) -> None:
    """100 thing kernels + 66 stuff kernels (the conv_seg rows after the 58 things)."""
    _, model = built_config(config)
    num_stuff = model.rpn_head.conv_seg.out_channels - model.rpn_head.num_thing_classes
    assert (model.rpn_head.num_thing_classes, num_stuff) == (NUM_THINGS, NUM_CLASSES - NUM_THINGS)
    assert model.rpn_head.num_proposals + num_stuff == 166
