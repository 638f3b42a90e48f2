"""Run an ablation study end to end: train, infer, evaluate, tabulate.

Usage::

    python tools/ablate.py CONFIG_OR_GLOB [...] --work-root DIR [--gpus N] [--device cpu|cuda]
        [--cfg-options k=v ...] [--data-root DIR] [--gt-dir DIR] [--split val] [--dry-run]
    python tools/ablate.py --toy --work-root DIR [--toy-iters N]

The config files are the only declaration of a study: one experiment per file (quote globs, e.g.
``'configs/video_knet_kitti_step/ablations/*.py'``). ``--toy`` is the preset of :data:`TOY`: the toy
Video K-Net and its variants under ``configs/toy/ablations/`` (four kernel-updater modes, three
reference intervals) on the synthetic KITTI-STEP data on CPU, generated with
``tools/make_toy_step.py`` when missing.

For every experiment: train with ``tools/train.py`` (``tools/dist_train.sh`` when ``--gpus`` > 1),
run ``tools/inference.py`` on the split with the last checkpoint, score the results with
``tools/evaluate_stq.py`` and ``tools/evaluate_vpq.py`` (``--json``); each stage is a subprocess.
Then ``DIR/results.md`` gets one Markdown table per knob, ``| experiment | value | STQ | AQ | SQ |
VPQ | VPQ k=1 |`` in percent with one decimal. The tables come from the configs themselves: an
experiment whose config inherits a single ``_base_`` file is grouped by that parent and by the keys
it changes (its diff to the parent; a changed ``type`` stands for its whole sub-config), and the
parent, when it is in the run too, is the first row of each of its tables. VPQ is the mean over the
windows k = 1..4; ``VPQ k=1`` is the per-frame figure that the original README reports.

Per experiment, ``DIR/{name}/`` (``name``: the config file's stem) holds ``config.py`` (the merged
config that training and inference both use), ``train/`` (work dir), ``results/`` (inference
output), ``stq.json``, ``vpq.json``, ``logs/{stage}.log``, ``state.json`` (finished stages) and,
once everything is done, ``done.json`` with the figures. Re-running is idempotent: finished
experiments are skipped, a crashed one continues at its first unfinished stage (training with
``--resume``, i.e. from the latest checkpoint of its work dir; inference skips complete
sequences). Changing an unfinished experiment's config is refused (delete ``DIR/{name}`` to start
it again). Experiments whose merged configs are identical are run once.
"""
import argparse
import ast
import functools
import glob
import json
import os
import os.path as osp
import shlex
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The ``--toy`` preset: the toy Video K-Net (the base of every table) and its ablations.
TOY = ('configs/toy/video-knet_r18_toy.py', 'configs/toy/ablations/*.py')
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


@dataclass
class Settings:
    """Options shared by every experiment of a run (from the command line)."""

    work_root: str
    gpus: int = 1
    device: str = 'cpu'
    split: str = 'val'
    legacy_stq: bool = False
    validate: bool = False
    verbose: bool = False


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


def write_results(path: str, plans: List[Plan], records: Dict[str, dict], settings: Settings,
                  failures: Dict[str, str]) -> str:
    """Write ``results.md`` (see :func:`results_markdown`) and return its text."""
    stq_mode = 'legacy (original evaluate_stq.py)' if settings.legacy_stq else 'official'
    text = results_markdown(plans, records, failures, (
        f'Split `{settings.split}`. STQ / AQ / SQ: `tools/evaluate_stq.py` ({stq_mode} thing '
        f'classes); VPQ: `tools/evaluate_vpq.py`, mean over windows k = '
        f'{", ".join(map(str, VPQ_WINDOWS))}; VPQ k=1: the per-frame figure of the original '
        'README. Each table is one knob: the keys its configs change with respect to the base '
        'config named in its heading. Percent; best of each column in bold.'))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return text


# ------------------------------------------------------------------------------- execution


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


def free_port() -> int:
    """A TCP port that is free now (for torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def tail(path: str, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file."""
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def run_command(cmd: List[str], log_path: str, env: Optional[Dict[str, str]] = None,
                verbose: bool = False) -> None:
    """Run ``cmd`` with its output appended to ``log_path`` (and echoed when ``verbose``).

    Raises:
        StageError: on a non-zero exit status, with the last lines of the log.
    """
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    with open(log_path, 'a') as log:
        log.write(f'\n$ {shlex.join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                text=True, errors='replace')
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if verbose:
                sys.stdout.write(line)
        status = proc.wait()
    if status != 0:
        raise StageError(f'`{shlex.join(cmd)}` exited with status {status}; last lines of '
                         f'{log_path}:\n{tail(log_path)}')


def stage_env(settings: Settings) -> Dict[str, str]:
    """Environment of the stage commands (no visible GPU when ``device`` is cpu)."""
    env = dict(os.environ)
    if settings.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in ``work_dir/last_checkpoint`` (mmengine), if it exists."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if path and osp.isfile(path) else None


def train_command(config: str, work_dir: str, settings: Settings) -> List[str]:
    """``tools/train.py`` (or ``tools/dist_train.sh`` for several GPUs) with auto-resume."""
    args = ['--resume'] + ([] if settings.validate else ['--no-validate'])
    if settings.gpus > 1:
        return ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config,
                str(settings.gpus), work_dir] + args
    return [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
            work_dir] + args


def inference_command(config: str, checkpoint: str, results: str,
                      settings: Settings) -> List[str]:
    """``tools/inference.py`` on ``settings.split`` (torchrun over ``gpus`` processes if > 1)."""
    tool = osp.join(REPO_ROOT, 'tools', 'inference.py')
    args = [config, checkpoint, results, '--split', settings.split, '--device', settings.device]
    if not settings.verbose:
        args.append('--no-progress')
    if settings.gpus > 1:
        return [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node', str(settings.gpus), tool] + args + ['--launcher', 'pytorch']
    return [sys.executable, tool] + args


def evaluate_command(metric: str, results: str, gt_dir: str, out_json: str,
                     settings: Settings) -> List[str]:
    """``tools/evaluate_{stq,vpq}.py RESULTS --gt-dir GT --json OUT``."""
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', f'evaluate_{metric}.py'), results,
           '--gt-dir', gt_dir, '--json', out_json, '--no-progress']
    if metric == 'vpq':
        cmd += ['--window-sizes'] + [str(k) for k in VPQ_WINDOWS]
    elif settings.legacy_stq:
        cmd.append('--legacy')
    return cmd


def run_stage(stage: str, plan: Plan, settings: Settings, state: dict) -> dict:
    """Run one stage of ``plan``; returns what ``state.json`` records for it."""
    root = settings.work_root
    config, work_dir = plan.path(root, 'config.py'), plan.path(root, 'train')
    results, log = plan.path(root, 'results'), plan.path(root, 'logs', f'{stage}.log')
    env = stage_env(settings)
    if stage == 'train':
        resumed = latest_checkpoint(work_dir)
        if resumed is not None:
            print(f'[ablate] {plan.name}: resuming training from {resumed}', flush=True)
        if settings.gpus > 1:
            env['PORT'] = str(free_port())
        run_command(train_command(config, work_dir, settings), log, env, settings.verbose)
        checkpoint = latest_checkpoint(work_dir)
        if checkpoint is None:
            raise StageError(f'{plan.name}: training finished but {work_dir}/last_checkpoint '
                             f'names no checkpoint (is the CheckpointHook disabled?)')
        return dict(checkpoint=checkpoint, resumed_from=resumed)
    if stage == 'inference':
        run_command(inference_command(config, state['train']['checkpoint'], results, settings),
                    log, env, settings.verbose)
        return dict(results=results)
    out_json = plan.path(root, f'{stage}.json')
    run_command(evaluate_command(stage, results, plan.gt_dir, out_json, settings), log, env,
                settings.verbose)
    if read_json(out_json) is None:
        raise StageError(f'{plan.name}: evaluate_{stage}.py wrote no readable {out_json}')
    return dict(json=out_json)


def read_figures(stq_json: str, vpq_json: str) -> Dict[str, Optional[float]]:
    """STQ, AQ, SQ, VPQ (mean over windows) and VPQ_k1 (fractions; None where undefined)."""
    stq, vpq = read_json(stq_json), read_json(vpq_json)
    if stq is None or vpq is None:
        raise StageError(f'cannot read {stq_json} / {vpq_json}')
    per_window = vpq.get('per_window') or {}
    window1 = per_window.get('1') or per_window.get(1) or {}
    return dict(STQ=stq.get('STQ'), AQ=stq.get('AQ'), SQ=stq.get('SQ'), VPQ=vpq.get('VPQ'),
                VPQ_k1=window1.get('VPQ'))


def prepare_folder(plan: Plan, settings: Settings) -> Optional[dict]:
    """Return the finished record of ``plan`` if any; else write/check its ``config.py``.

    Raises:
        ValueError: if an unfinished experiment's ``config.py`` differs from the merged config.
    """
    config_path = plan.path(settings.work_root, 'config.py')
    old_text = None
    if osp.isfile(config_path):
        with open(config_path) as f:
            old_text = f.read()
    done = read_json(plan.path(settings.work_root, 'done.json'))
    if done is not None and 'figures' in done:
        if old_text is not None and old_text != plan.config_text:
            print(f'[ablate] warning: {plan.name} finished with a different config; '
                  f'showing its old figures (delete {osp.dirname(config_path)} to re-run)')
        return done
    if old_text is not None and old_text != plan.config_text:
        raise ValueError(f'{config_path} differs from the config now requested for '
                         f'{plan.name} (config or --cfg-options changed); delete '
                         f'{osp.dirname(config_path)} to restart it')
    if old_text is None:
        os.makedirs(osp.dirname(config_path), exist_ok=True)
        with open(config_path, 'w') as f:
            f.write(plan.config_text)
    return None


def run_experiment(plan: Plan, settings: Settings, index: str) -> dict:
    """Run the unfinished stages of a prepared experiment and write its ``done.json``.

    Returns:
        The done record: name, config, checkpoint, figures, stage times.
    """
    state_path = plan.path(settings.work_root, 'state.json')
    state = read_json(state_path) or {}
    for stage in STAGES:
        if stage in state:
            print(f'[ablate] {index} {plan.name}: {stage} already done', flush=True)
            continue
        print(f'[ablate] {index} {plan.name}: {stage} ...', flush=True)
        start = time.time()
        state[stage] = dict(run_stage(stage, plan, settings, state),
                            seconds=round(time.time() - start, 1))
        write_json(state_path, state)
        print(f'[ablate] {index} {plan.name}: {stage} done in {state[stage]["seconds"]:.0f}s',
              flush=True)
    figures = read_figures(state['stq']['json'], state['vpq']['json'])
    record = dict(name=plan.name, config=plan.config, checkpoint=state['train']['checkpoint'],
                  figures=figures, seconds={s: state[s]['seconds'] for s in STAGES},
                  finished=time.strftime('%Y-%m-%d %H:%M:%S'))
    write_json(plan.path(settings.work_root, 'done.json'), record)
    print(f'[ablate] {index} {plan.name}: ' + '  '.join(
        f'{header} {format_percent(figures[key])}' for header, key in COLUMNS.items()),
        flush=True)
    return record


def alias_record(plan: Plan, source: dict, settings: Settings) -> dict:
    """Done record of an experiment whose merged config equals the finished ``source``'s."""
    record = dict(source, name=plan.name, config=plan.config, same_as=source['name'])
    os.makedirs(plan.path(settings.work_root), exist_ok=True)
    with open(plan.path(settings.work_root, 'config.py'), 'w') as f:
        f.write(plan.config_text)
    write_json(plan.path(settings.work_root, 'done.json'), record)
    return record


def run_plan(plan: Plan, settings: Settings, index: str, records: Dict[str, dict],
             finished: Optional[dict]) -> Optional[str]:
    """Run (or reuse) one experiment, adding its record; returns the failed stage, if any."""
    if plan.same_as is not None:
        if plan.same_as not in records:
            return f'as {plan.same_as}'
        records[plan.name] = alias_record(plan, records[plan.same_as], settings)
        print(f'[ablate] {index} {plan.name}: same config as {plan.same_as}, reused')
        return None
    if finished is not None:
        records[plan.name] = finished
        print(f'[ablate] {index} {plan.name}: already done, skipped', flush=True)
        return None
    try:
        records[plan.name] = run_experiment(plan, settings, index)
    except StageError as error:
        state = read_json(plan.path(settings.work_root, 'state.json')) or {}
        stage = next(s for s in STAGES if s not in state)
        print(f'[ablate] {index} {plan.name}: FAILED in {stage}: {error}', flush=True)
        return stage
    return None


def run_all(plans: List[Plan], settings: Settings) -> Tuple[Dict[str, dict], Dict[str, str]]:
    """Run every plan in order, rewriting ``results.md`` after each.

    Returns:
        ``(records, failures)``: done records and failed stages by experiment name.
    """
    finished = {plan.name: prepare_folder(plan, settings)
                for plan in plans if plan.same_as is None}
    results_md = osp.join(settings.work_root, 'results.md')
    records: Dict[str, dict] = {}
    failures: Dict[str, str] = {}
    for number, plan in enumerate(plans, 1):
        failed = run_plan(plan, settings, f'({number}/{len(plans)})', records,
                          finished.get(plan.name))
        if failed is not None:
            failures[plan.name] = failed
        write_results(results_md, plans, records, settings, failures)
    print(f'[ablate] {len(records)}/{len(plans)} experiments done; table: {results_md}',
          flush=True)
    return records, failures


# ------------------------------------------------------------------------------------- main


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Train, infer and evaluate one experiment per '
                                     'config file; write WORK_ROOT/results.md')
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='config files or quoted globs, one experiment per file')
    parser.add_argument('--toy', action='store_true', help='the toy preset: ' + ' '.join(TOY)
                        + ' on the synthetic KITTI-STEP data (CPU)')
    parser.add_argument('--work-root', required=True, help='folder of all experiment outputs')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes per experiment (>1: dist_train.sh and torchrun '
                        'inference)')
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='device (default: cuda if available, cpu with --toy)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides for every experiment, e.g. train_cfg.max_iters=100')
    parser.add_argument('--data-root', help='override the data_root of every dataloader')
    parser.add_argument('--split', default='val', help='split inferred and evaluated')
    parser.add_argument('--gt-dir', help='ground-truth folder of the evaluators (default: '
                        'DATA_ROOT/video_sequence/SPLIT)')
    parser.add_argument('--legacy-stq', action='store_true',
                        help="STQ as the original evaluate_stq.py (README parity)")
    parser.add_argument('--validate', action='store_true',
                        help='keep the validation loop during training (off by default)')
    parser.add_argument('--toy-iters', type=int,
                        help='with --toy: train N iterations (train_cfg.max_iters=N)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the plan and the empty tables; run nothing')
    parser.add_argument('--verbose', action='store_true', help='echo the stage outputs')
    args = parser.parse_args(argv)
    if bool(args.configs) == args.toy:
        parser.error('give config files or --toy (not both)')
    if args.toy_iters is not None and not args.toy:
        parser.error('--toy-iters applies to --toy only; use --cfg-options '
                     'train_cfg.max_iters=N')
    if args.gpus < 1:
        parser.error(f'--gpus must be >= 1, got {args.gpus}')
    return args


def ensure_toy_data(root: str, log_path: str) -> None:
    """Generate the synthetic KITTI-STEP data in ``root`` unless both splits exist."""
    splits = [osp.join(root, 'video_sequence', split) for split in ('train', 'val')]
    if all(osp.isdir(path) and os.listdir(path) for path in splits):
        print(f'[ablate] toy data: {root}', flush=True)
        return
    print(f'[ablate] generating the synthetic KITTI-STEP data in {root} ...', flush=True)
    run_command([sys.executable, osp.join(REPO_ROOT, 'tools', 'make_toy_step.py'), '--out',
                 root], log_path)


def select_configs(args: argparse.Namespace) -> Tuple[List[str], Dict[str, Any], Optional[str]]:
    """The config files, the global overrides and the data root override of the command line.

    With ``--toy``: the :data:`TOY` configs, ``--toy-iters`` as ``train_cfg.max_iters`` and the
    toy data root (the toy config's unless ``--data-root``), generated when missing.
    """
    options = dict(args.cfg_options)
    if not args.toy:
        return expand_configs(args.configs), options, args.data_root
    configs = expand_configs(TOY, REPO_ROOT)
    if args.toy_iters is not None:
        options['train_cfg.max_iters'] = int(args.toy_iters)
    data_root = args.data_root or data_root_of(load_config(configs[0]))
    if not args.dry_run:
        ensure_toy_data(data_root, osp.join(osp.abspath(args.work_root), 'toy_data.log'))
    return configs, options, data_root


def describe(plans: Sequence[Plan]) -> Iterator[str]:
    """One line per experiment: its config and what it changes with respect to its parent."""
    for number, plan in enumerate(plans, 1):
        changes = ' '.join(f'{short_key(key)}={format_value(new)}'
                           for key, (_, new) in plan.diff.items())
        same = f' (same config as {plan.same_as})' if plan.same_as else ''
        yield (f'[ablate] ({number}/{len(plans)}) {plan.name}: '
               f'{osp.relpath(plan.config, REPO_ROOT)} {changes}{same}')


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Run the study; returns the done records by experiment name (exit 1 on failures)."""
    args = parse_args(argv)
    load_config.cache_clear()  # configs as they are on disk now
    device = args.device
    if device is None:
        import torch
        device = 'cuda' if torch.cuda.is_available() and not args.toy else 'cpu'
    settings = Settings(work_root=osp.abspath(args.work_root), gpus=args.gpus, device=device,
                        split=args.split, legacy_stq=args.legacy_stq, validate=args.validate,
                        verbose=args.verbose)
    configs, options, data_root = select_configs(args)
    plans = make_plans(configs, options, data_root, args.gt_dir, args.split)
    for line in describe(plans):
        print(line, flush=True)
    if args.dry_run:
        print(results_markdown(plans, {}, {}, 'Dry run: nothing was trained.'))
        return {}
    records, failures = run_all(plans, settings)
    if failures:
        print(f'[ablate] failed: {", ".join(failures)} (re-run the same command to resume)')
        sys.exit(1)
    return records


if __name__ == '__main__':
    main()
