"""Loading of local ImageNet / mmcv backbone checkpoints (docs/model.md, backbone).

Accepts a torchvision state dict (``conv1.weight``, ..., ``fc.*``), an mmcv/mmengine checkpoint
(``{'state_dict': {...}}``, keys possibly prefixed with ``backbone.``) or a plain dict of tensors.
Never downloads: the path must be a local file.
"""
import os.path as osp
from typing import Dict, Iterable, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn


def resolve_pretrained(pretrained: Optional[str], init_cfg: Optional[dict],
                       owner: str) -> Optional[str]:
    """Return the local checkpoint path given by ``pretrained`` or ``init_cfg``.

    Args:
        pretrained: A local checkpoint path or None.
        init_cfg: mmengine-style ``dict(type='Pretrained', checkpoint=PATH)`` or None.
        owner: Class name used in error messages.

    Returns:
        The checkpoint path, or None when neither argument asks for one.
    """
    if init_cfg is None:
        return pretrained
    if pretrained is not None:
        raise ValueError(f'{owner}: give either `pretrained` or `init_cfg`, not both')
    if init_cfg.get('type') != 'Pretrained' or 'checkpoint' not in init_cfg:
        raise ValueError(f'{owner}: init_cfg must be dict(type="Pretrained", checkpoint=PATH), '
                         f'got {init_cfg}')
    return init_cfg['checkpoint']


def _extract_state_dict(ckpt: object, path: str) -> Dict[str, Tensor]:
    """Unwrap ``state_dict`` / ``model`` containers and keep tensor entries only."""
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model'):
            if key in ckpt and isinstance(ckpt[key], dict):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, dict):
        raise TypeError(f'checkpoint {path}: expected a dict of tensors, got {type(ckpt)}')
    state = {k: v for k, v in ckpt.items() if isinstance(v, Tensor)}
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return state


def load_pretrained_backbone(module: nn.Module, path: str,
                             drop_prefixes: Iterable[str] = (),
                             allow_missing: Iterable[str] = ()) -> Tuple[list, list]:
    """Load a local backbone checkpoint into ``module`` (no downloads).

    Keys under ``drop_prefixes`` (e.g. the classifier ``fc.``) are discarded. Missing keys other
    than BN ``num_batches_tracked`` and those under ``allow_missing`` (layers the checkpoint
    cannot have) raise, so a wrong file cannot silently leave a random backbone; unexpected keys
    (e.g. layers removed by ``num_stages``) are only logged.

    Args:
        module: The backbone to fill.
        path: Local file path of the checkpoint.
        drop_prefixes: Key prefixes to ignore.
        allow_missing: Key prefixes that may be absent from the checkpoint.

    Returns:
        (missing_keys, unexpected_keys) as reported by ``load_state_dict``.
    """
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{type(module).__name__}: pretrained checkpoint {path} does not exist (downloads '
            'are disabled; put the torchvision/mmcv .pth file there or set pretrained=None)')
    state = _extract_state_dict(torch.load(path, map_location='cpu', weights_only=False), path)
    prefixes = tuple(drop_prefixes)
    state = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    missing, unexpected = module.load_state_dict(state, strict=False)
    allowed = tuple(allow_missing)
    real_missing = [k for k in missing if not k.endswith('num_batches_tracked')
                    and not (allowed and k.startswith(allowed))]
    if real_missing:
        raise KeyError(f'{type(module).__name__}: checkpoint {path} lacks {len(real_missing)} '
                       f'keys, e.g. {real_missing[:5]}')
    if unexpected:
        print_log(f'{type(module).__name__}: ignored {len(unexpected)} unexpected keys from '
                  f'{path}, e.g. {unexpected[:5]}', logger='current')
    return missing, unexpected
