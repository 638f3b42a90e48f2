"""Convert an original K-Net / Video K-Net (mmcv, mmdet 2.x) checkpoint to our key layout.

Usage::

    python tools/convert_checkpoint.py IN.pth OUT.pth [--keep-all-link-stages]
        [--backbone {auto,swin,keep}] [--config CONFIG] [--strict] [--force]

The key mapping lives in :mod:`knet.models.utils.ckpt_convert`. The backbone layout is detected
from the keys (``--backbone auto``): a Swin-B/L backbone of the original
(``SwinTransformerDIY``: ``backbone.patch_embed.*``, ``backbone.layers.{i}.blocks.{j}.*``, ...)
is renamed to our ``TVSwin`` (``backbone.features.*``), the patch-merging channels reordered to
torchvision's concatenation order; any other backbone (ResNet) keeps its names. A bare Swin
backbone file (e.g. an ImageNet ``{'model': ...}`` checkpoint) converts to ``features.*`` keys
that ``TVSwin(pretrained=OUT.pth)`` loads. A Swin key that is neither mapped nor expected is an
error naming it; for a Swin backbone the tool also prints the ``TVSwin`` arguments it implies.
``--backbone swin`` / ``keep`` force the layout. The tool prints
how many keys were converted, the dropped keys (with the reason) and the unmatched ones. With
``--config`` it also builds that config's model and reports missing / unexpected keys and shape
mismatches; ``--strict`` then fails on any of them. Only convert checkpoints you trust: loading
them unpickles arbitrary objects. The output holds ``state_dict`` and a small ``meta``.

The output never replaces the input (``OUT.pth`` being ``IN.pth``, or another name of the same
file, is refused even with ``--force``), an existing ``OUT.pth`` is refused unless ``--force``,
and the file is written atomically (a failed write leaves nothing; a link at ``OUT.pth`` is
replaced, not written through).
"""
import argparse
import io
import os.path as osp
import sys
from typing import List, Optional, Sequence

import torch

from knet.models.utils.ckpt_convert import (
    BACKBONE_LAYOUTS,
    compare_with_model,
    convert_state_dict,
    detect_backbone_layout,
    extract_state_dict,
    infer_swin_arch,
)
from vseg.io import write_bytes_atomic


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Convert an original (Video) K-Net checkpoint')
    parser.add_argument('src', help='original checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--keep-all-link-stages', action='store_true',
                        help='keep the temporal-link keys of every update stage (default: last '
                        'stage only, as our Video K-Net builds them)')
    parser.add_argument('--backbone', choices=BACKBONE_LAYOUTS, default='auto',
                        help="backbone key layout: 'auto' detects it from the keys (default), "
                        "'swin' converts the original Swin (patch_embed/layers/norm{i}) to "
                        "TVSwin's torchvision names (features.*), 'keep' keeps the names "
                        '(ResNet)')
    parser.add_argument('--config', help='config whose model the result is checked against')
    parser.add_argument('--strict', action='store_true',
                        help='with --config: fail on missing/unexpected keys or shape mismatch')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing output file (never the input)')
    return parser.parse_args(argv)


def check_paths(src: str, dst: str, force: bool) -> None:
    """Refuse a missing input, an output that is the input, and an existing output without
    ``force`` (checked before the checkpoint is read).

    Raises:
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: ``dst`` is ``src`` (any name of it), or exists and ``force`` is False.
    """
    if not osp.isfile(src):
        raise FileNotFoundError(f'checkpoint file {src} does not exist')
    if not osp.lexists(dst):
        return
    if osp.exists(dst) and osp.samefile(src, dst):
        raise FileExistsError(f'{dst} is the input checkpoint {src}: refusing to replace it '
                              '(even with --force); choose another output file')
    if not force:
        raise FileExistsError(f'{dst} exists: refusing to replace it; pass --force to replace '
                              'it or choose another output file')


def _report(title: str, lines: List[str], limit: int = 20) -> None:
    """Print a titled list, truncated to ``limit`` lines."""
    print(f'{title}: {len(lines)}')
    for line in lines[:limit]:
        print(f'  {line}')
    if len(lines) > limit:
        print(f'  ... ({len(lines) - limit} more)')


def check_against_config(state_dict: dict, config: str) -> List[str]:
    """Build ``config``'s model, print the comparison and return the problem lines."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import knet  # noqa: F401  (registers the modules)
    from knet.registry import MODELS

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'knet'))
    missing, unexpected, mismatch = compare_with_model(state_dict, MODELS.build(cfg.model))
    _report('missing in checkpoint', missing)
    _report('unexpected in checkpoint', unexpected)
    _report('shape mismatches', mismatch)
    return missing + unexpected + mismatch


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Convert ``src`` into ``dst``; return the saved checkpoint dict."""
    args = parse_args(argv)
    check_paths(args.src, args.dst, args.force)
    original = torch.load(args.src, map_location='cpu', weights_only=False)
    state_dict = extract_state_dict(original)
    layout = (detect_backbone_layout(state_dict) if args.backbone == 'auto' else args.backbone)
    result = convert_state_dict(state_dict, keep_all_link_stages=args.keep_all_link_stages,
                                backbone=layout)
    print(f'backbone layout: {layout}')
    if layout == 'swin':
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in result.state_dict) else ''
        print(f'TVSwin arguments: {infer_swin_arch(result.state_dict, prefix)}')
    print(f'converted keys: {len(result.state_dict)}')
    _report('dropped keys', [f'{k} ({why})' for k, why in result.dropped.items()])
    _report('unmatched keys (dropped)', result.unmatched)
    if args.config:
        problems = check_against_config(result.state_dict, args.config)
        if args.strict and problems:
            raise RuntimeError(f'{len(problems)} key problems against {args.config} (see above)')
    meta = dict(converted_from=osp.basename(args.src), backbone_layout=layout,
                dropped=sorted(result.dropped), unmatched=result.unmatched)
    if isinstance(original, dict) and isinstance(original.get('meta'), dict):
        meta.update({k: v for k, v in original['meta'].items()
                     if k in ('epoch', 'iter', 'mmdet_version') and
                     isinstance(v, (int, str))})
    checkpoint = dict(state_dict=result.state_dict, meta=meta)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_bytes_atomic(args.dst, buffer.getvalue())
    print(f'saved {args.dst}')
    return checkpoint


if __name__ == '__main__':
    try:
        main()
    except (OSError, RuntimeError, ValueError) as error:
        sys.exit(f'error: {error}')
