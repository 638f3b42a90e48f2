"""The ablation study of ``tools/ablate.py``: configs, their diffs, tables and figures.

A study is a list of config files, one experiment per file. An experiment whose config inherits a
single ``_base_`` file is grouped with that parent by the keys it changes (:func:`config_diff`:
``{dotted key: (old, new)}``, a changed ``type`` standing for its whole sub-config); each group
is one Markdown table (:func:`table_groups`, :func:`results_markdown`) whose rows are
``| experiment | value | STQ | AQ | SQ | VPQ | VPQ k=1 |`` in percent with one decimal. The
figures of an experiment come from the ``--json`` outputs of ``tools/evaluate_stq.py`` (keys
``STQ``, ``AQ``, ``SQ``) and ``tools/evaluate_vpq.py`` (``VPQ``, the mean over the windows, and
``per_window['1']['VPQ']``), read by :func:`read_figures` into the keys of :data:`COLUMNS`.
Running the stages (train, inference, evaluation as subprocesses) is
:mod:`video_knet.apis.ablation_runner`.
"""
import ast
import functools
import glob
import json
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

#: The stages of an experiment, in order.
STAGES = ('train', 'inference', 'stq', 'vpq')
#: Table columns: header -> key of the figures dict.
COLUMNS = OrderedDict([('STQ', 'STQ'), ('AQ', 'AQ'), ('SQ', 'SQ'), ('VPQ', 'VPQ'),
                       ('VPQ k=1', 'VPQ_k1')])
#: VPQ window sizes averaged into the ``VPQ`` column.
VPQ_WINDOWS = (1, 2, 3, 4)
#: Shown for a key that one of two compared configs does not have.
ABSENT = '-'

#: A table row: experiment label, value cell, figures (None until done), status.
Row = Tuple[str, str, Optional[Dict[str, Optional[float]]], str]
#: A table: the parent config (None: experiments of no table) and the keys changed from it.
GroupKey = Tuple[Optional[str], Tuple[str, ...]]


class StageError(RuntimeError):
    """A stage command failed; the message names the stage, the command and its log."""


# ------------------------------------------------------------------------ configs and diffs


def expand_configs(patterns: Sequence[str], root: str = '.') -> List[str]:
    """Config files named by ``patterns`` (paths or globs, relative to ``root``), in order.

    A glob expands to its sorted matches; a file named twice is kept once.

    Raises:
        FileNotFoundError: for a path that does not exist or a glob without a match.
    """
    configs: List[str] = []
    for pattern in patterns:
        full = pattern if osp.isabs(pattern) else osp.join(root, pattern)
        if glob.has_magic(full):
            matches = sorted(glob.glob(full))
            if not matches:
                raise FileNotFoundError(f'no config file matches {pattern}')
        elif osp.isfile(full):
            matches = [full]
        else:
            raise FileNotFoundError(f'config {pattern} does not exist')
        configs.extend(osp.abspath(path) for path in matches)
    return list(OrderedDict.fromkeys(configs))


def experiment_names(configs: Sequence[str]) -> List[str]:
    """Folder names: each config's file stem (``-2``, ``-3`` ... when two stems clash)."""
    names: List[str] = []
    seen: Dict[str, int] = {}
    for config in configs:
        stem = osp.splitext(osp.basename(config))[0]
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f'{stem}-{seen[stem]}')
    return names


def config_parent(config: str) -> Optional[str]:
    """The absolute path of the single ``_base_`` file of ``config`` (None for zero or several)."""
    with open(config) as f:
        tree = ast.parse(f.read(), config)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == '_base_' for target in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
            if len(bases) == 1:
                return osp.abspath(osp.join(osp.dirname(config), bases[0]))
    return None


def flatten(value: Any, prefix: str = '') -> Dict[str, Any]:
    """Nested dicts -> ``{'a.b.c': leaf}``; lists stay leaves, tuples become lists."""
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, dict):
        return {prefix: value}
    flat: Dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f'{prefix}.{key}' if prefix else str(key)))
    return flat


@functools.lru_cache(maxsize=None)
def load_config(config: str) -> Config:
    """``config`` as read by mmengine, once per process (read-only: for comparisons)."""
    return Config.fromfile(config)


def config_diff(config: str, parent: str) -> Dict[str, Tuple[Any, Any]]:
    """The keys ``config`` changes with respect to ``parent``: ``{dotted key: (old, new)}``.

    Both files are read as they are (no overrides); a key missing on one side is :data:`ABSENT`.
    Where ``X.type`` changes, ``X.type`` stands for every changed key under ``X`` (a replaced
    sub-config, e.g. another backbone).
    """
    old = flatten(load_config(parent).to_dict())
    new = flatten(load_config(config).to_dict())
    changed = {key: (old.get(key, ABSENT), new.get(key, ABSENT))
               for key in sorted(set(old) | set(new))
               if old.get(key, ABSENT) != new.get(key, ABSENT)}
    replaced = [key[:-len('.type')] for key in changed if key.endswith('.type')]
    return {key: values for key, values in changed.items()
            if not any(key.startswith(f'{p}.') and key != f'{p}.type' for p in replaced)}


def short_key(key: str) -> str:
    """The last two components of a dotted key (``kernel_updator_cfg.update_mode``)."""
    return '.'.join(key.split('.')[-2:])


def format_value(value: Any) -> str:
    """A config value as a table cell (``|`` escaped)."""
    return str(value).replace('|', '\\|')


def data_root_of(cfg: Config) -> str:
    """The ``data_root`` of the test (else val) dataloader's dataset."""
    for section in ('test_dataloader', 'val_dataloader'):
        for key, value in flatten(cfg.get(section) or {}, section).items():
            if key.split('.')[-1] == 'data_root':
                return str(value)
    raise KeyError(f'{cfg.filename}: no data_root in test_dataloader / val_dataloader; pass '
                   f'--gt-dir')


def data_root_options(cfg: Config, data_root: str) -> Dict[str, str]:
    """Overrides setting every ``data_root`` of the train/val/test dataloaders to ``data_root``."""
    options = {}
    for section in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for key in flatten(cfg.get(section) or {}, section):
            if key.split('.')[-1] == 'data_root':
                options[key] = data_root
    if not options:
        raise KeyError(f'{cfg.filename}: no dataloader has a `data_root` to override')
    return options


def merged_config(config: str, options: Dict[str, Any], data_root: Optional[str]) -> Config:
    """``config`` with every dataloader's ``data_root`` set (if given), then ``options``."""
    cfg = Config.fromfile(config)
    if data_root is not None:
        cfg.merge_from_dict(data_root_options(cfg, data_root))
    cfg.merge_from_dict(dict(options))
    return cfg


# ------------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """An experiment ready to run.

    Args:
        name: folder name under the work root (the config's stem).
        config: config file (absolute path).
        config_text: merged config (data root and ``--cfg-options`` applied).
        gt_dir: ground-truth folder of the evaluators.
        parent: the config's single ``_base_`` file, if any.
        diff: what ``config`` changes with respect to ``parent`` (:func:`config_diff`).
        same_as: name of an earlier experiment with the same merged config (run once).
    """

    name: str
    config: str
    config_text: str
    gt_dir: str
    parent: Optional[str] = None
    diff: Dict[str, Tuple[Any, Any]] = field(default_factory=dict)
    same_as: Optional[str] = None

    def path(self, root: str, *parts: str) -> str:
        """A path inside the experiment folder ``root/{name}``."""
        return osp.join(root, self.name, *parts)


def make_plans(configs: Sequence[str], options: Dict[str, Any], data_root: Optional[str],
               gt_dir: Optional[str], split: str) -> List[Plan]:
    """Merge every config up front (errors surface before anything runs); find duplicates."""
    plans: List[Plan] = []
    first_with_text: Dict[str, str] = {}
    for name, config in zip(experiment_names(configs), configs):
        cfg = merged_config(config, options, data_root)
        text = cfg.pretty_text
        gt = gt_dir or osp.join(data_root_of(cfg), 'video_sequence', split)
        parent = config_parent(config)
        diff = config_diff(config, parent) if parent is not None else {}
        plans.append(Plan(name, config, text, gt, parent, diff, first_with_text.get(text)))
        first_with_text.setdefault(text, name)
    return plans


def table_groups(plans: Sequence[Plan]) -> Dict[GroupKey, List[Tuple[Plan, str]]]:
    """The tables of a run, in order: ``(parent, changed keys) -> [(plan, value cell), ...]``.

    An experiment with a parent and a non-empty diff joins the table of that parent and those
    keys, after the parent's own row when the parent is in the run; every other experiment that
    is no parent of a table goes to the table ``(None, ())`` with an empty value cell.
    """
    by_config = {plan.config: plan for plan in plans}
    groups: Dict[GroupKey, List[Tuple[Plan, str]]] = {}
    for plan in plans:
        if plan.parent is None or not plan.diff:
            continue
        keys = tuple(plan.diff)
        rows = groups.setdefault((plan.parent, keys), [])
        if not rows and plan.parent in by_config:
            base_value = '; '.join(format_value(plan.diff[key][0]) for key in keys)
            rows.append((by_config[plan.parent], base_value))
        rows.append((plan, '; '.join(format_value(plan.diff[key][1]) for key in keys)))
    in_tables = {plan.config for rows in groups.values() for plan, _ in rows}
    for plan in plans:
        if plan.config not in in_tables:
            groups.setdefault((None, ()), []).append((plan, ''))
    return groups


def group_title(parent: Optional[str], keys: Tuple[str, ...]) -> str:
    """Heading of a table: the changed keys and the config they are changed from."""
    if parent is None:
        return 'Other experiments'
    names = ', '.join(f'`{short_key(key)}`' for key in keys)
    return f'{names} (vs `{osp.splitext(osp.basename(parent))[0]}`)'


# ------------------------------------------------------------------------------- results


def format_percent(value: Optional[float]) -> str:
    """A fraction as a percentage with one decimal (``n/a`` when undefined)."""
    return 'n/a' if value is None else f'{100 * value:.1f}'


def results_table(rows: Sequence[Row]) -> List[str]:
    """Markdown lines of one table; the best value of each column is bold.

    Args:
        rows: ``(label, value, figures or None, status)``; rows without figures show ``status``.
    """
    best = {}
    for key in COLUMNS.values():
        values = [value for _, _, figures, _ in rows if figures is not None
                  for value in [figures.get(key)] if value is not None]
        if len(values) > 1:
            best[key] = format_percent(max(values))
    lines = ['| experiment | value | ' + ' | '.join(COLUMNS) + ' |',
             '|---|---|' + '---|' * len(COLUMNS)]
    for label, value, figures, status in rows:
        if figures is None:
            cells = [status] + [''] * (len(COLUMNS) - 1)
        else:
            cells = []
            for key in COLUMNS.values():
                text = format_percent(figures.get(key))
                cells.append(f'**{text}**' if best.get(key) == text else text)
        lines.append(f'| {label} | {value} | ' + ' | '.join(cells) + ' |')
    return lines


def results_markdown(plans: Sequence[Plan], records: Dict[str, dict],
                     failures: Dict[str, str], intro: str) -> str:
    """The results page: a title, ``intro``, then one table per :func:`table_groups` entry.

    Args:
        plans: every experiment of the run.
        records: done records by experiment name.
        failures: failed stage by experiment name (other rows without a record are pending).
        intro: paragraph under the title (how the figures were obtained).
    """
    lines = ['# Ablation results', '', intro, '']
    for (parent, keys), members in table_groups(plans).items():
        rows: List[Row] = []
        for plan, value in members:
            record = records.get(plan.name)
            label = plan.name + (' (base)' if plan.config == parent else '')
            if record is not None and record.get('same_as'):
                label += f' (= {record["same_as"]})'
            status = f'failed ({failures[plan.name]})' if plan.name in failures else 'pending'
            rows.append((label, value, None if record is None else record['figures'], status))
        lines += [f'## {group_title(parent, keys)}', ''] + results_table(rows) + ['']
    return '\n'.join(lines)


# ------------------------------------------------------------------------------- records


def read_json(path: str) -> Optional[dict]:
    """The JSON object in ``path``, or None if it is missing or unreadable (e.g. half-written)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: str, data: dict) -> None:
    """Write ``data`` as JSON atomically (temporary file + rename)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def read_figures(stq_json: str, vpq_json: str) -> Dict[str, Optional[float]]:
    """STQ, AQ, SQ, VPQ (mean over windows) and VPQ_k1 (fractions; None where undefined)."""
    stq, vpq = read_json(stq_json), read_json(vpq_json)
    if stq is None or vpq is None:
        raise StageError(f'cannot read {stq_json} / {vpq_json}')
    per_window = vpq.get('per_window') or {}
    window1 = per_window.get('1') or per_window.get(1) or {}
    return dict(STQ=stq.get('STQ'), AQ=stq.get('AQ'), SQ=stq.get('SQ'), VPQ=vpq.get('VPQ'),
                VPQ_k1=window1.get('VPQ'))
