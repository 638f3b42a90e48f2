"""Count the parameters of the model of a config (compared with the original in the tests).

Usage::

    python tools/analysis/count_params.py CONFIG [--cfg-options KEY=VALUE ...]

Prints one line ``name: N`` per top-level child module of the model (plus ``(direct): N`` for
parameters held by the model itself, if any) and a last line ``total: N``. Parameters shared
between modules are counted once in the total.
"""
import argparse
from collections import OrderedDict
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from torch import nn


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """Count parameters per top-level child module.

    Args:
        model: Any module.

    Returns:
        Ordered ``{child_name: N}`` for every direct child (in registration order), an entry
        ``'(direct)'`` when the model itself owns parameters, and ``'total'`` (every distinct
        parameter of the model once).
    """
    counts: Dict[str, int] = OrderedDict()
    for name, child in model.named_children():
        counts[name] = sum(p.numel() for p in child.parameters())
    direct = sum(p.numel() for p in model.parameters(recurse=False))
    if direct:
        counts['(direct)'] = direct
    counts['total'] = sum(p.numel() for p in model.parameters())
    return counts


def build_model_from_config(config: str, cfg_options: Optional[dict] = None) -> nn.Module:
    """Build ``cfg.model`` with the knet registries (``default_scope`` of the config or 'knet')."""
    import knet  # noqa: F401  (registers the modules)
    import video_knet  # noqa: F401
    from knet.registry import MODELS

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'{config}: no `model` key to build')
    init_default_scope(cfg.get('default_scope', 'knet'))
    return MODELS.build(cfg.model)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Count the parameters of a config\'s model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.backbone.depth=18')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    """Print per-child counts and the total; return them."""
    args = parse_args(argv)
    counts = count_parameters(build_model_from_config(args.config, args.cfg_options))
    for name, num in counts.items():
        print(f'{name}: {num}')
    return counts


if __name__ == '__main__':
    main()
