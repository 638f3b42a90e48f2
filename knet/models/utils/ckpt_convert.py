"""Key mapping of original K-Net / Video K-Net checkpoints to ours (docs/model.md, checkpoints).

The original checkpoints are mmcv ``.pth`` dicts whose ``state_dict`` uses the prefixes
``backbone.``, ``neck.``, ``rpn_head.``, ``roi_head.mask_head.{s}.``, and for Video K-Net
``track_head.``, ``embed_fcs.``, ``fc_embed.``. Our modules mirror the original names
(ConvModule ``conv``/``gn``, mmcv ``FFN`` ``layers.0.0``/``layers.1``, attention ``.attn``), so
:data:`KEY_RULES` is an identity map on those prefixes. What differs:

* DDP-wrapped checkpoints carry a ``module.`` prefix, which is stripped;
* Video K-Net builds the temporal-link modules (``attention_previous*``, ``link_ffn*``) in all
  stages but uses only the last one. Our video model builds them in the last stage only, so the
  copies of the earlier stages are dropped unless ``keep_all_link_stages``;
* keys under any other prefix are reported as unmatched and dropped;
* a Swin backbone of the original (``SwinTransformerDIY`` of ``swin/swin_transformer.py``, the
  Microsoft Swin detection backbone: ``patch_embed.*``, ``layers.{i}.blocks.{j}.*``,
  ``layers.{i}.downsample.*``, ``norm{i}.*``) is renamed to our :class:`TVSwin`'s torchvision
  names (``features.*``, ``norm{i}.*``) by :func:`convert_swin_backbone`. The layout is detected
  from the keys (:func:`detect_backbone_layout`), in a full detector checkpoint (``backbone.``
  prefix) or a bare backbone one (an ImageNet Swin file, ``{'model': ...}``). A key of such a
  backbone that is neither mapped nor an expected extra raises a ``ValueError`` naming it.

The Swin map (``i`` = stage 0..3, ``j`` = block; ours on the right):

==============================================  ==========================================
``patch_embed.proj.{weight,bias}``              ``features.0.0.*`` (4x4 stride-4 conv)
``patch_embed.norm.{weight,bias}``              ``features.0.2.*``
``layers.i.blocks.j.{norm1,norm2}.*``           ``features.{2i+1}.j.{norm1,norm2}.*``
``layers.i.blocks.j.attn.{qkv,proj}.*``         ``features.{2i+1}.j.attn.{qkv,proj}.*``
``...attn.relative_position_bias_table``        same name, same ``[(2w-1)**2, heads]`` table
``...attn.relative_position_index``             same name, flattened ``[w**4]`` (checked)
``layers.i.blocks.j.mlp.fc1.*`` / ``fc2.*``     ``features.{2i+1}.j.mlp.0.*`` / ``mlp.3.*``
``layers.i.downsample.{reduction,norm}.*``      ``features.{2i+2}.{reduction,norm}.*``
``norm{i}.*`` (per returned stage)              ``norm{i}.*``
==============================================  ==========================================

The qkv weight keeps its layout (both split the 3*C outputs as q, k, v, then heads, then
head_dim) and both use the same relative-position indexing. The patch-merging ``norm`` and
``reduction`` act on the concatenation of the four 2x2 neighbours; their channels are
reordered from the original's concatenation order (:data:`SWIN_MERGE_ORDER_ORIGINAL`) to
torchvision's (:data:`SWIN_MERGE_ORDER_TORCHVISION`) by :func:`patch_merging_permutation`. The
two orders are the same today (x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]), so
the permutation is the identity; it is derived, not assumed, and the tests check torchvision's
order against its ``_patch_merging_pad``. Dropped on purpose: the ``attn_mask`` buffers of
classification checkpoints (recomputed per input) and the ImageNet classifier (``norm.*``,
``head.*``). ``absolute_pos_embed`` (``use_abs_pos_embed=True``) has no counterpart: an error.
"""
import math
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

#: (pattern, replacement) applied to each key (after stripping ``module.``); the first match
#: wins. Identity on the original prefixes because our module names mirror them.
KEY_RULES: List[Tuple[str, str]] = [
    (r'^backbone\.(.+)$', r'backbone.\1'),
    (r'^neck\.(.+)$', r'neck.\1'),
    (r'^rpn_head\.(.+)$', r'rpn_head.\1'),
    (r'^roi_head\.mask_head\.(\d+)\.(.+)$', r'roi_head.mask_head.\1.\2'),
    (r'^track_head\.(.+)$', r'track_head.\1'),
    (r'^embed_fcs\.(.+)$', r'embed_fcs.\1'),
    (r'^fc_embed\.(.+)$', r'fc_embed.\1'),
]
#: Temporal-link keys of an update stage (Video K-Net); group 1 = stage index.
LINK_KEY = re.compile(r'^roi_head\.mask_head\.(\d+)\.'
                      r'(attention_previous|attention_previous_norm|link_ffn|link_ffn_norm)\.')
STAGE_KEY = re.compile(r'^roi_head\.mask_head\.(\d+)\.')
#: Values of ``convert_state_dict(backbone=...)`` and ``tools/convert_checkpoint.py --backbone``.
BACKBONE_LAYOUTS = ('auto', 'swin', 'keep')


class ConversionResult(NamedTuple):
    """Outcome of :func:`convert_state_dict`.

    Attributes:
        state_dict: converted ``{our_key: tensor}``.
        dropped: ``{original_key: reason}`` of keys removed on purpose.
        unmatched: original keys that matched no rule (also removed).
    """

    state_dict: Dict[str, Tensor]
    dropped: Dict[str, str]
    unmatched: List[str]


def extract_state_dict(checkpoint: object) -> Dict[str, Tensor]:
    """Return the tensor entries of a checkpoint (``{'state_dict': ...}``, ``{'model': ...}`` or
    a plain dict)."""
    if isinstance(checkpoint, dict):
        for container in ('state_dict', 'model'):  # mmcv / Microsoft ImageNet Swin files
            if isinstance(checkpoint.get(container), dict):
                checkpoint = checkpoint[container]
                break
    if not isinstance(checkpoint, dict):
        raise TypeError(f'expected a checkpoint dict (with a "state_dict" entry or tensors), got '
                        f'{type(checkpoint).__name__}')
    return {k: v for k, v in checkpoint.items() if isinstance(v, Tensor)}


def map_key(key: str) -> Optional[str]:
    """Our name of an original key, or None when no rule of :data:`KEY_RULES` matches."""
    if key.startswith('module.'):
        key = key[len('module.'):]
    for pattern, replacement in KEY_RULES:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def _strip_module(key: str) -> str:
    return key[len('module.'):] if key.startswith('module.') else key


def convert_state_dict(state_dict: Dict[str, Tensor],
                       keep_all_link_stages: bool = False,
                       backbone: str = 'auto') -> ConversionResult:
    """Convert an original state dict to our key names.

    Args:
        state_dict: original ``{key: tensor}``.
        keep_all_link_stages: keep the temporal-link keys of every stage instead of the last
            stage only.
        backbone: layout of the backbone keys: ``'auto'`` (detected by
            :func:`detect_backbone_layout`), ``'swin'`` (the original Swin, converted by
            :func:`convert_swin_backbone`) or ``'keep'`` (names kept, e.g. ResNet).

    Returns:
        :class:`ConversionResult`.

    Raises:
        ValueError: an unknown ``backbone``, or a Swin backbone key that is neither mapped nor
            expected.
    """
    if backbone not in BACKBONE_LAYOUTS:
        raise ValueError(f'backbone layout must be one of {BACKBONE_LAYOUTS}, got {backbone!r}')
    layout = detect_backbone_layout(state_dict) if backbone == 'auto' else backbone
    swin = ConversionResult({}, {}, [])
    if layout == 'swin':
        prefix = _swin_prefix(state_dict)
        swin = convert_swin_backbone(state_dict, prefix=prefix)
        state_dict = {k: v for k, v in state_dict.items()
                      if not _strip_module(k).startswith(prefix)}
    mapped = {key: map_key(key) for key in state_dict}
    stages = [int(m.group(1)) for m in map(STAGE_KEY.match, filter(None, mapped.values())) if m]
    last_stage = max(stages) if stages else -1
    converted: Dict[str, Tensor] = dict(swin.state_dict)
    dropped: Dict[str, str] = dict(swin.dropped)
    unmatched: List[str] = []
    for key, value in state_dict.items():
        new_key = mapped[key]
        if new_key is None:
            unmatched.append(key)
            continue
        link = LINK_KEY.match(new_key)
        if link and not keep_all_link_stages and int(link.group(1)) != last_stage:
            dropped[key] = (f'temporal link of stage {link.group(1)}: only the last stage '
                            f'({last_stage}) uses and builds it')
            continue
        converted[new_key] = value
    return ConversionResult(converted, dropped, unmatched)


# --------------------------------------------------------------------------------------------
# Swin backbone (original ``SwinTransformerDIY``, swin/swin_transformer.py) -> ``TVSwin``
# --------------------------------------------------------------------------------------------

#: The four 2x2 neighbours, as (row offset, column offset), in the order the original
#: ``PatchMerging`` concatenates them along channels: x[0::2, 0::2], x[1::2, 0::2],
#: x[0::2, 1::2], x[1::2, 1::2] of a (B, H, W, C) map.
SWIN_MERGE_ORDER_ORIGINAL: Tuple[Tuple[int, int], ...] = ((0, 0), (1, 0), (0, 1), (1, 1))
#: The same for torchvision's ``_patch_merging_pad`` (torchvision/models/swin_transformer.py),
#: which slices x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :],
#: x[..., 1::2, 1::2, :].
SWIN_MERGE_ORDER_TORCHVISION: Tuple[Tuple[int, int], ...] = ((0, 0), (1, 0), (0, 1), (1, 1))

#: Whole-key renames (not per stage or block).
_SWIN_FIXED = {
    'patch_embed.proj.weight': 'features.0.0.weight',
    'patch_embed.proj.bias': 'features.0.0.bias',
    'patch_embed.norm.weight': 'features.0.2.weight',
    'patch_embed.norm.bias': 'features.0.2.bias',
}
#: Per-block renames (after ``layers.{i}.blocks.{j}.`` -> ``features.{2i+1}.{j}.``).
_SWIN_BLOCK_PARAMS = {
    **{f'{m}.{p}': f'{m}.{p}' for m in ('norm1', 'norm2', 'attn.qkv', 'attn.proj')
       for p in ('weight', 'bias')},
    'attn.relative_position_bias_table': 'attn.relative_position_bias_table',
    'attn.relative_position_index': 'attn.relative_position_index',
    'mlp.fc1.weight': 'mlp.0.weight', 'mlp.fc1.bias': 'mlp.0.bias',
    'mlp.fc2.weight': 'mlp.3.weight', 'mlp.fc2.bias': 'mlp.3.bias',
}
_SWIN_BLOCK = re.compile(r'^layers\.([0-3])\.blocks\.(\d+)\.(.+)$')
_SWIN_MERGE = re.compile(r'^layers\.([0-2])\.downsample\.(reduction\.weight|norm\.weight|'
                         r'norm\.bias)$')
_SWIN_OUT_NORM = re.compile(r'^norm([0-3])\.(weight|bias)$')
#: Keys of the original layout that are dropped on purpose, with the reason.
_SWIN_DROPPED = (
    (re.compile(r'^layers\.[0-3]\.blocks\.\d+\.attn_mask$'),
     'shifted-window attention mask buffer: recomputed for each input'),
    (re.compile(r'^(norm|head)\.(weight|bias)$'),
     'ImageNet classifier (final norm / head): not part of the backbone'),
)
#: Keys of the original layout detected as a Swin backbone (after ``module.``/``backbone.``).
_SWIN_DETECT = re.compile(r'^(patch_embed\.proj\.weight|layers\.\d+\.blocks\.\d+\.)')


def detect_backbone_layout(state_dict: Dict[str, Tensor]) -> str:
    """``'swin'`` when the keys hold an original Swin backbone (``patch_embed.proj.weight`` or
    ``layers.{i}.blocks.{j}.*``, under ``backbone.`` or at the top level), else ``'keep'``."""
    for key in state_dict:
        key = _strip_module(key)
        if _SWIN_DETECT.match(key[len('backbone.'):] if key.startswith('backbone.') else key):
            return 'swin'
    return 'keep'


def _swin_prefix(state_dict: Dict[str, Tensor]) -> str:
    """``'backbone.'`` for a detector checkpoint, ``''`` for a bare backbone one."""
    return 'backbone.' if any(_strip_module(k).startswith('backbone.') for k in state_dict) else ''


def map_swin_key(key: str) -> Optional[str]:
    """Our (``TVSwin``) name of an original Swin backbone key without prefix, or None."""
    if key in _SWIN_FIXED:
        return _SWIN_FIXED[key]
    block = _SWIN_BLOCK.match(key)
    if block and block.group(3) in _SWIN_BLOCK_PARAMS:
        stage, index, param = int(block.group(1)), block.group(2), block.group(3)
        return f'features.{2 * stage + 1}.{index}.{_SWIN_BLOCK_PARAMS[param]}'
    merge = _SWIN_MERGE.match(key)
    if merge:
        return f'features.{2 * int(merge.group(1)) + 2}.{merge.group(2)}'
    if _SWIN_OUT_NORM.match(key):
        return key
    return None


def patch_merging_permutation(
        dim: int,
        src_order: Sequence[Tuple[int, int]] = SWIN_MERGE_ORDER_ORIGINAL,
        dst_order: Sequence[Tuple[int, int]] = SWIN_MERGE_ORDER_TORCHVISION) -> Tensor:
    """Channel index ``perm`` of a 2x2 patch merging of ``dim``-channel maps such that
    ``merged_dst[..., k] == merged_src[..., perm[k]]``.

    Args:
        dim: channels of the map before merging (the merged map has ``4 * dim``).
        src_order: (row, column) offsets of the four parts in the source concatenation.
        dst_order: the same for the destination.

    Returns:
        A ``(4 * dim,)`` long tensor; apply it to the merging ``norm`` parameters and to the
        input dimension of ``reduction.weight``.
    """
    if sorted(src_order) != sorted(dst_order) or len(set(src_order)) != 4:
        raise ValueError(f'merge orders must be permutations of the 4 offsets of a 2x2 patch, got '
                         f'{tuple(src_order)} and {tuple(dst_order)}')
    parts = [list(src_order).index(offset) for offset in dst_order]
    return torch.cat([torch.arange(dim) + part * dim for part in parts])


def swin_relative_position_index(window: int) -> Tensor:
    """Flattened ``(window**4,)`` index of token pair (p, q) of a window into the
    ``[(2 * window - 1)**2, heads]`` bias table: ``(dr + window - 1) * (2 * window - 1) +
    (dc + window - 1)`` with (dr, dc) the row and column offsets of p from q."""
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing='ij')
    rows, cols = rows.flatten(), cols.flatten()
    d_row = rows[:, None] - rows[None, :] + window - 1
    d_col = cols[:, None] - cols[None, :] + window - 1
    return (d_row * (2 * window - 1) + d_col).flatten()


def _window_of_table(key: str, table: Tensor) -> int:
    """Window size w of a ``[(2w-1)**2, heads]`` relative-position bias table."""
    side = math.isqrt(table.shape[0]) if table.dim() == 2 else 0
    if table.dim() != 2 or side * side != table.shape[0] or side % 2 == 0:
        raise ValueError(f'Swin key {key!r}: a relative-position bias table must be '
                         f'[(2w-1)**2, heads], got {tuple(table.shape)}')
    return (side + 1) // 2


def _convert_swin_value(key: str, old: str, value: Tensor, window: int) -> Tensor:
    """The value of original key ``old`` (``key`` with its prefixes, for messages) in our
    layout: flattened and checked position indexes, reordered patch-merging channels."""
    if old.endswith('attn.relative_position_index'):
        expected = swin_relative_position_index(window)
        if value.numel() != expected.numel() or not torch.equal(value.flatten().long(),
                                                                 expected):
            raise ValueError(f'Swin key {key!r}: relative position index of shape '
                             f'{tuple(value.shape)} differs from the one of a {window}x{window} '
                             'window that torchvision builds')
        return expected.to(value.dtype)
    if old.endswith('downsample.norm.weight') or old.endswith('downsample.norm.bias'):
        return value[patch_merging_permutation(value.shape[0] // 4)]
    if old.endswith('downsample.reduction.weight'):
        return value[:, patch_merging_permutation(value.shape[1] // 4)]
    return value


def convert_swin_backbone(state_dict: Dict[str, Tensor], prefix: str = 'backbone.'
                          ) -> ConversionResult:
    """Convert the original Swin backbone keys under ``prefix`` to ``TVSwin`` names.

    Keys outside ``prefix`` (after stripping ``module.``) are ignored; with ``prefix=''`` every
    key is taken as a backbone key (a bare backbone checkpoint).

    Args:
        state_dict: original ``{key: tensor}``.
        prefix: the backbone's prefix, kept on the converted keys.

    Returns:
        :class:`ConversionResult` (``unmatched`` is always empty: such keys raise).

    Raises:
        ValueError: a key under ``prefix`` that is neither mapped nor expected (named in the
            message), inconsistent window sizes, or an unexpected relative position index.
    """
    keys = {key: _strip_module(key)[len(prefix):] for key in state_dict
            if _strip_module(key).startswith(prefix)}
    windows = {_window_of_table(key, state_dict[key]) for key, old in keys.items()
               if old.endswith('attn.relative_position_bias_table')}
    if len(windows) > 1:
        raise ValueError(f'Swin backbone with several window sizes {sorted(windows)}: TVSwin has '
                         'one window size')
    window = windows.pop() if windows else 7
    converted: Dict[str, Tensor] = {}
    dropped: Dict[str, str] = {}
    for key, old in keys.items():
        new = map_swin_key(old)
        if new is not None:
            converted[prefix + new] = _convert_swin_value(key, old, state_dict[key], window)
            continue
        reason = next((why for pattern, why in _SWIN_DROPPED if pattern.match(old)), None)
        if reason is None:
            hint = (' (absolute position embeddings, use_abs_pos_embed=True, have no TVSwin '
                    'counterpart)' if old == 'absolute_pos_embed' else '')
            raise ValueError(f'Swin backbone key {key!r} is neither mapped to TVSwin nor an '
                             f'expected extra{hint}; see the Swin map of '
                             'knet/models/utils/ckpt_convert.py')
        dropped[key] = reason
    return ConversionResult(converted, dropped, [])


def infer_swin_arch(state_dict: Dict[str, Tensor], prefix: str = 'backbone.'
                    ) -> Optional[dict]:
    """``TVSwin`` arguments of a converted Swin state dict: ``dict(arch=dict(embed_dim, depths,
    num_heads), window_size, out_indices)``, or None without a Swin patch embedding."""
    stem = state_dict.get(f'{prefix}features.0.0.weight')
    if stem is None:
        return None
    depths, heads, window = [], [], 7
    for stage in range(4):
        blocks = {k[len(prefix):].split('.')[2] for k in state_dict
                  if k.startswith(f'{prefix}features.{2 * stage + 1}.')}
        depths.append(len(blocks))
        table = state_dict.get(f'{prefix}features.{2 * stage + 1}.0.attn.'
                               'relative_position_bias_table')
        heads.append(int(table.shape[1]) if table is not None else 0)
        if table is not None:
            window = _window_of_table(f'{prefix}features.{2 * stage + 1}.0', table)
    out_indices = tuple(i for i in range(4) if f'{prefix}norm{i}.weight' in state_dict)
    return dict(arch=dict(embed_dim=int(stem.shape[0]), depths=tuple(depths),
                          num_heads=tuple(heads)),
                window_size=window, out_indices=out_indices)


def compare_with_model(state_dict: Dict[str, Tensor],
                       model: nn.Module) -> Tuple[List[str], List[str], List[str]]:
    """Check a converted state dict against a model.

    Returns:
        ``(missing, unexpected, shape_mismatch)``: model keys absent from ``state_dict``,
        ``state_dict`` keys the model lacks, and ``'key: ckpt shape vs model shape'`` lines.
    """
    model_state = model.state_dict()
    missing = sorted(set(model_state) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(model_state))
    mismatch = [f'{k}: {tuple(state_dict[k].shape)} vs {tuple(model_state[k].shape)}'
                for k in sorted(set(state_dict) & set(model_state))
                if state_dict[k].shape != model_state[k].shape]
    return missing, unexpected, mismatch
