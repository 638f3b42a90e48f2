"""Ablation studies: experiment lists, merged configs and the Markdown results table.

DESIGN.md §4 (the five kernel-updater modes), §5.4 (the four reference-frame intervals) and
§11.1 (the ablation README's tables: STQ, AQ, SQ, VPQ in percent with one decimal). Used by
``tools/ablate.py``, which runs the experiments (train, infer, evaluate); this module only
describes them and formats their figures, so it needs no model or data.

An experiment is a config plus ``cfg_options`` overrides (dotted keys, mmengine
``Config.merge_from_dict``). The nine-run study finds its override keys in the config itself
(:func:`find_key_paths`), so it keeps working when the config's nesting changes.
"""
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

#: Kernel-updater modes of DESIGN.md §4 (``KernelUpdator(update_mode=...)``) -> README label.
UPDATE_MODES = OrderedDict([('gated', 'Original'), ('concat', 'Concatenation'),
                            ('skip', 'Skip connections'), ('concat_skip', 'Concatenation + skip'),
                            ('mlp', 'MLP')])
#: Reference intervals of DESIGN.md §5.4: name -> (README label, ``ref_seq_index``).
REF_INTERVALS = OrderedDict([
    ('base', ('Original [-2, 2]', [-2, -1, 1, 2])),
    ('causal', ('Causal [-2, -1]', [-2, -1])),
    ('local', ('More local [-1, 1]', [-1, 1])),
    ('global', ('More global [-3, 3]', [-3, -2, -1, 1, 2, 3])),
])
STUDY_GROUPS = ('Adaptive feature update', 'Temporal neighborhood')
#: Table columns: header -> key of the figures dict.
COLUMNS = OrderedDict([('STQ', 'STQ'), ('AQ', 'AQ'), ('SQ', 'SQ'), ('VPQ', 'VPQ'),
                       ('VPQ k=1', 'VPQ_k1')])
#: VPQ window sizes averaged into the ``VPQ`` column (DESIGN.md §12 item 18).
VPQ_WINDOWS = (1, 2, 3, 4)

Row = Tuple[str, Optional[Dict[str, Optional[float]]], str]


@dataclass
class Experiment:
    """One ablation run.

    Args:
        name: folder name under the work root and row label (letters, digits, ``-_.+``).
        config: config file path.
        cfg_options: overrides merged into the config (dotted keys, e.g.
            ``{'model.roi_head.mask_head.kernel_updator_cfg.update_mode': 'skip'}``).
        group: table the row belongs to (None: the default table).
        label: row label (default: ``name``).
    """

    name: str
    config: str
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    group: Optional[str] = None
    label: Optional[str] = None

    def __post_init__(self) -> None:
        allowed = set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+')
        if not self.name or not set(self.name) <= allowed or self.name.startswith('.'):
            raise ValueError(f"experiment name {self.name!r} must be a non-empty folder name of "
                             "letters, digits and '-_.+'")
        self.label = self.label or self.name


def find_key_paths(node: Any, key: str, prefix: str = '') -> List[str]:
    """Dotted paths (list items as indices) of every dict entry named ``key`` under ``node``.

    Example: ``find_key_paths(cfg.model, 'update_mode', 'model')`` ->
    ``['model.roi_head.mask_head.kernel_updator_cfg.update_mode']``.
    """
    paths = []
    if isinstance(node, dict):
        items: Iterator[Tuple[Any, Any]] = iter(node.items())
    elif isinstance(node, (list, tuple)):
        items = iter(enumerate(node))
    else:
        return paths
    for name, child in items:
        path = f'{prefix}.{name}' if prefix else str(name)
        if name == key:
            paths.append(path)
        else:
            paths.extend(find_key_paths(child, key, path))
    return paths


def required_paths(cfg: Config, section: str, key: str) -> List[str]:
    """:func:`find_key_paths` of ``key`` in ``cfg[section]``; raises if there is none."""
    paths = find_key_paths(cfg.get(section), key, section)
    if not paths:
        raise KeyError(f'{cfg.filename}: no `{key}` under `{section}`; cannot build the '
                       f'ablation override for it')
    return paths


def data_root_options(cfg: Config, data_root: str) -> Dict[str, str]:
    """Overrides setting every ``data_root`` of the train/val/test dataloaders to ``data_root``."""
    options = {}
    for section in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for path in find_key_paths(cfg.get(section), 'data_root', section):
            options[path] = data_root
    if not options:
        raise KeyError(f'{cfg.filename}: no dataloader has a `data_root` to override')
    return options


def study_experiments(config: str, iters: Optional[int] = None) -> List[Experiment]:
    """The nine runs of the ablation study on one config: the five updater modes (reference
    offsets [-2, -1, 1, 2], as the ablation's updater configs) and the four reference intervals
    (updater ``gated``). ``ref-base`` therefore equals ``updator-gated``.

    Args:
        config: a Video K-Net config whose model has ``update_mode`` keys and whose training
            dataset has ``ref_seq_index`` (e.g. ``configs/toy/video-knet_r18_toy.py``).
        iters: if given, override ``train_cfg.max_iters`` (needs an iteration-based loop).
    """
    cfg = Config.fromfile(config)
    mode_paths = required_paths(cfg, 'model', 'update_mode')
    ref_paths = required_paths(cfg, 'train_dataloader', 'ref_seq_index')
    common: Dict[str, Any] = {}
    if iters is not None:
        if 'max_iters' not in cfg.get('train_cfg', {}):
            raise KeyError(f'{config}: iters (--toy-iters) needs an iteration-based `train_cfg` '
                           f'with max_iters, got {cfg.get("train_cfg")}')
        common['train_cfg.max_iters'] = int(iters)

    def knobs(mode: str, offsets: List[int]) -> Dict[str, Any]:
        options = dict(common)
        options.update({path: mode for path in mode_paths})
        options.update({path: list(offsets) for path in ref_paths})
        return options

    base_offsets = REF_INTERVALS['base'][1]
    runs = [Experiment(f'updator-{mode}', config, knobs(mode, base_offsets), STUDY_GROUPS[0],
                       label) for mode, label in UPDATE_MODES.items()]
    runs += [Experiment(f'ref-{name}', config, knobs('gated', offsets), STUDY_GROUPS[1], label)
             for name, (label, offsets) in REF_INTERVALS.items()]
    return runs


def load_experiments_file(path: str) -> List[Experiment]:
    """Experiments listed in ``path`` (an mmengine config defining ``experiments``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'--experiments file {path} does not exist')
    entries = Config.fromfile(path).get('experiments')
    if not isinstance(entries, (list, tuple)) or not entries:
        raise KeyError(f'{path}: expected `experiments = [dict(name=..., config=..., '
                       f'cfg_options=dict(...)), ...]`')
    base = osp.dirname(osp.abspath(path))
    runs = []
    for index, entry in enumerate(entries):
        unknown = set(entry) - {'name', 'config', 'cfg_options', 'group', 'label'}
        if unknown or 'config' not in entry:
            raise KeyError(f'{path}: experiments[{index}] needs `config` (and may have name, '
                           f'cfg_options, group, label); got keys {sorted(entry)}')
        config = entry['config']
        if not osp.isabs(config) and not osp.isfile(config):
            config = osp.join(base, config)
        name = entry.get('name') or osp.splitext(osp.basename(config))[0]
        runs.append(Experiment(name, config, dict(entry.get('cfg_options') or {}),
                               entry.get('group'), entry.get('label')))
    return runs


def config_experiments(configs: Sequence[str]) -> List[Experiment]:
    """One experiment per config file, named after the file (``-2``, ``-3`` ... on clashes)."""
    runs, seen = [], {}
    for config in configs:
        stem = osp.splitext(osp.basename(config))[0]
        seen[stem] = seen.get(stem, 0) + 1
        runs.append(Experiment(stem if seen[stem] == 1 else f'{stem}-{seen[stem]}', config))
    return runs


def merged_config(exp: Experiment, options: Optional[Dict[str, Any]] = None,
                  data_root: Optional[str] = None) -> Config:
    """Load ``exp.config`` and apply ``data_root``, the global ``options``, then the
    experiment's own ``cfg_options``."""
    if not osp.isfile(exp.config):
        raise FileNotFoundError(f'experiment {exp.name}: config {exp.config} does not exist')
    cfg = Config.fromfile(exp.config)
    if data_root is not None:
        cfg.merge_from_dict(data_root_options(cfg, data_root))
    cfg.merge_from_dict(dict(options or {}))
    cfg.merge_from_dict(dict(exp.cfg_options))
    return cfg


def data_root_of(cfg: Config) -> str:
    """The ``data_root`` of the test (else val) dataloader's dataset."""
    for section in ('test_dataloader', 'val_dataloader'):
        for path in find_key_paths(cfg.get(section), 'data_root', section):
            node: Any = cfg
            for part in path.split('.'):
                node = node[int(part)] if isinstance(node, (list, tuple)) else node[part]
            return str(node)
    raise KeyError(f'{cfg.filename}: no data_root in test_dataloader / val_dataloader; pass '
                   f'--gt-dir')


def format_percent(value: Optional[float]) -> str:
    """A fraction as a percentage with one decimal (``n/a`` when undefined)."""
    return 'n/a' if value is None else f'{100 * value:.1f}'


def results_table(rows: Sequence[Row]) -> List[str]:
    """Markdown lines of one table; the best value of each column is bold.

    Args:
        rows: ``(label, figures or None, status)``; rows without figures show ``status``.
    """
    best = {}
    for key in COLUMNS.values():
        values = [figures[key] for _, figures, _ in rows
                  if figures is not None and figures.get(key) is not None]
        if len(values) > 1:
            best[key] = format_percent(max(values))
    lines = ['| experiment | ' + ' | '.join(COLUMNS) + ' |',
             '|---|' + '---|' * len(COLUMNS)]
    for label, figures, status in rows:
        if figures is None:
            cells = [status] + [''] * (len(COLUMNS) - 1)
        else:
            cells = []
            for key in COLUMNS.values():
                text = format_percent(figures.get(key))
                cells.append(f'**{text}**' if best.get(key) == text else text)
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return lines


def results_markdown(groups: Dict[Optional[str], List[Row]], intro: str) -> str:
    """The results page: a title, ``intro``, then one table per group (``## group``).

    Args:
        groups: rows by group name, in display order (None: a table without heading).
        intro: paragraph under the title (how the figures were obtained).
    """
    lines = ['# Ablation results', '', intro, '']
    for group, rows in groups.items():
        if group is not None:
            lines += [f'## {group}', '']
        lines += results_table(rows) + ['']
    return '\n'.join(lines)
