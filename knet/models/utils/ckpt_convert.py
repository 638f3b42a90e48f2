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
* keys under any other prefix are reported as unmatched and dropped.
"""
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

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
    """Return the tensor entries of a checkpoint (``{'state_dict': ...}`` or a plain dict)."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        checkpoint = checkpoint['state_dict']
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


def convert_state_dict(state_dict: Dict[str, Tensor],
                       keep_all_link_stages: bool = False) -> ConversionResult:
    """Convert an original state dict to our key names.

    Args:
        state_dict: original ``{key: tensor}``.
        keep_all_link_stages: keep the temporal-link keys of every stage instead of the last
            stage only.

    Returns:
        :class:`ConversionResult`.
    """
    mapped = {key: map_key(key) for key in state_dict}
    stages = [int(m.group(1)) for m in map(STAGE_KEY.match, filter(None, mapped.values())) if m]
    last_stage = max(stages) if stages else -1
    converted: Dict[str, Tensor] = {}
    dropped: Dict[str, str] = {}
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
