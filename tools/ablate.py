"""Run an ablation study end to end: train, infer, evaluate, tabulate (DESIGN.md §4, §5.4, §11.1).

Usage::

    python tools/ablate.py --configs C1.py C2.py ... --work-root DIR [--gpus N]
        [--cfg-options k=v ...] [--device cpu|cuda] [--gt-dir DIR] [--data-root DIR]
    python tools/ablate.py --experiments EXPERIMENTS.py --work-root DIR [...]
    python tools/ablate.py --toy --work-root DIR [--toy-iters N] [--toy-config CFG]

For every experiment: train with ``tools/train.py`` (``tools/dist_train.sh`` when ``--gpus`` > 1),
run ``tools/inference.py`` on the val split with the last checkpoint, score the results with
``tools/evaluate_stq.py`` and ``tools/evaluate_vpq.py`` (``--json``), then write
``DIR/results.md``: one Markdown table ``| experiment | STQ | AQ | SQ | VPQ | VPQ k=1 |`` per
group, in percent with one decimal like the tables of DESIGN.md §11.1. VPQ is the mean over the
windows k = 1..4 (a true video metric, §12 item 18); ``VPQ k=1`` is the per-frame figure that the
original README reports.

Per experiment, ``DIR/{name}/`` holds ``config.py`` (the merged config that training and
inference both use), ``train/`` (work dir), ``results/`` (inference output), ``stq.json``,
``vpq.json``, ``logs/{stage}.log``, ``state.json`` (finished stages) and, once everything is
done, ``done.json`` with the figures. Re-running is idempotent: finished experiments are skipped,
a crashed one continues at its first unfinished stage (training with ``--resume``, i.e. from the
latest checkpoint of its work dir; inference skips complete sequences). Changing an unfinished
experiment's config is refused (delete ``DIR/{name}`` to start it again).

``--experiments FILE.py`` is an mmengine config file defining ``experiments = [dict(name=...,
config=..., cfg_options=dict(...), group=...), ...]`` (``cfg_options`` and ``group`` optional).
Global ``--cfg-options`` apply to every experiment, before the experiment's own options.

``--toy`` runs the study of the ablation README on the synthetic KITTI-STEP data on CPU
(generated with :func:`knet.datasets.make_toy_step` when missing): the five kernel-updater modes
(§4; reference offsets [-2, -1, 1, 2]) and the four reference intervals (§5.4; updater
``gated``). The "base [-2, 2]" run has the same config as ``updator-gated``, so it is trained
once and reported in both tables.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from video_knet.apis.ablation import (COLUMNS, VPQ_WINDOWS, Experiment, Row, config_experiments,
                                      data_root_of, format_percent, load_experiments_file,
                                      merged_config, results_markdown, study_experiments)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_TOY_CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'video-knet_r18_toy.py')
STAGES = ('train', 'inference', 'stq', 'vpq')


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


# ------------------------------------------------------------------------------- execution


@dataclass
class Plan:
    """An experiment ready to run: its merged config text and its ground-truth folder."""

    exp: Experiment
    config_text: str
    gt_dir: str
    same_as: Optional[str] = None

    def path(self, root: str, *parts: str) -> str:
        """A path inside the experiment folder ``root/{name}``."""
        return osp.join(root, self.exp.name, *parts)


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
            print(f'[ablate] {plan.exp.name}: resuming training from {resumed}', flush=True)
        if settings.gpus > 1:
            env['PORT'] = str(free_port())
        run_command(train_command(config, work_dir, settings), log, env, settings.verbose)
        checkpoint = latest_checkpoint(work_dir)
        if checkpoint is None:
            raise StageError(f'{plan.exp.name}: training finished but {work_dir}/last_checkpoint '
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
        raise StageError(f'{plan.exp.name}: evaluate_{stage}.py wrote no readable {out_json}')
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
            print(f'[ablate] warning: {plan.exp.name} finished with a different config; '
                  f'showing its old figures (delete {osp.dirname(config_path)} to re-run)')
        return done
    if old_text is not None and old_text != plan.config_text:
        raise ValueError(f'{config_path} differs from the config now requested for '
                         f'{plan.exp.name} (config or --cfg-options changed); delete '
                         f'{osp.dirname(config_path)} to restart it, or use another name')
    if old_text is None:
        os.makedirs(osp.dirname(config_path), exist_ok=True)
        with open(config_path, 'w') as f:
            f.write(plan.config_text)
    return None


def run_experiment(plan: Plan, settings: Settings, index: str) -> dict:
    """Run the unfinished stages of a prepared experiment and write its ``done.json``.

    Returns:
        The done record: name, label, group, config, cfg_options, figures, stage times.
    """
    name = plan.exp.name
    state_path = plan.path(settings.work_root, 'state.json')
    state = read_json(state_path) or {}
    for stage in STAGES:
        if stage in state:
            print(f'[ablate] {index} {name}: {stage} already done', flush=True)
            continue
        print(f'[ablate] {index} {name}: {stage} ...', flush=True)
        start = time.time()
        state[stage] = dict(run_stage(stage, plan, settings, state),
                            seconds=round(time.time() - start, 1))
        write_json(state_path, state)
        print(f'[ablate] {index} {name}: {stage} done in {state[stage]["seconds"]:.0f}s',
              flush=True)
    figures = read_figures(state['stq']['json'], state['vpq']['json'])
    record = dict(name=name, label=plan.exp.label, group=plan.exp.group, config=plan.exp.config,
                  cfg_options=plan.exp.cfg_options, checkpoint=state['train']['checkpoint'],
                  figures=figures, seconds={s: state[s]['seconds'] for s in STAGES},
                  finished=time.strftime('%Y-%m-%d %H:%M:%S'))
    write_json(plan.path(settings.work_root, 'done.json'), record)
    print(f'[ablate] {index} {name}: ' + '  '.join(
        f'{header} {format_percent(figures[key])}' for header, key in COLUMNS.items()),
        flush=True)
    return record


def alias_record(plan: Plan, source: dict, settings: Settings) -> dict:
    """Done record of an experiment whose config equals the finished ``source``'s."""
    record = dict(source, name=plan.exp.name, label=plan.exp.label, group=plan.exp.group,
                  cfg_options=plan.exp.cfg_options, same_as=source['name'])
    os.makedirs(plan.path(settings.work_root), exist_ok=True)
    with open(plan.path(settings.work_root, 'config.py'), 'w') as f:
        f.write(plan.config_text)
    write_json(plan.path(settings.work_root, 'done.json'), record)
    return record


def write_results(path: str, plans: List[Plan], records: Dict[str, dict], settings: Settings,
                  failures: Dict[str, str]) -> str:
    """Write ``results.md``: one table per group, in the experiments' order.

    Args:
        path: output Markdown file.
        plans: every experiment of the run.
        records: done records by experiment name.
        settings: run settings (for the header).
        failures: failed stage by experiment name.

    Returns:
        The Markdown text.
    """
    groups: Dict[Optional[str], List[Row]] = OrderedDict()
    for plan in plans:
        record = records.get(plan.exp.name)
        status = f'failed ({failures[plan.exp.name]})' if plan.exp.name in failures else 'pending'
        label = str(plan.exp.label)
        if record is not None and record.get('same_as'):
            label += f' (= {record["same_as"]})'
        groups.setdefault(plan.exp.group, []).append(
            (label, None if record is None else record['figures'], status))
    stq_mode = 'legacy (original evaluate_stq.py)' if settings.legacy_stq else 'official'
    text = results_markdown(groups, (
        f'Split `{settings.split}`. STQ / AQ / SQ: `tools/evaluate_stq.py` ({stq_mode} thing '
        f'classes); VPQ: `tools/evaluate_vpq.py`, mean over windows k = '
        f'{", ".join(map(str, VPQ_WINDOWS))}; VPQ k=1: the per-frame figure of the original '
        'README (DESIGN.md §11.1, §12 item 18). Percent; best of each column in bold.'))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return text


# ------------------------------------------------------------------------------------- main


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv=None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Train, infer and evaluate a set of ablation '
                                     'experiments; write WORK_ROOT/results.md')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--configs', nargs='+', help='one experiment per config file')
    source.add_argument('--experiments', metavar='FILE.py',
                        help='config file defining `experiments = [dict(name, config, '
                        'cfg_options, group), ...]`')
    source.add_argument('--toy', action='store_true',
                        help='the 9-run updater / reference-interval study on synthetic data')
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
    parser.add_argument('--toy-config', default=DEFAULT_TOY_CONFIG,
                        help='config of --toy (default: %(default)s)')
    parser.add_argument('--toy-data', help='synthetic data root of --toy (default: the toy '
                        "config's data_root); generated when missing")
    parser.add_argument('--toy-iters', type=int, help='shorten --toy training to N iterations')
    parser.add_argument('--dry-run', action='store_true', help='print the plan and stop')
    parser.add_argument('--verbose', action='store_true', help='echo the stage outputs')
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f'--gpus must be >= 1, got {args.gpus}')
    return args


def ensure_toy_data(root: str) -> None:
    """Generate the synthetic KITTI-STEP data in ``root`` unless both splits exist."""
    splits = [osp.join(root, 'video_sequence', split) for split in ('train', 'val')]
    if all(osp.isdir(path) and os.listdir(path) for path in splits):
        print(f'[ablate] toy data: {root}', flush=True)
        return
    from knet.datasets.toy_step import make_toy_step
    print(f'[ablate] generating the synthetic KITTI-STEP data in {root} ...', flush=True)
    counts = make_toy_step(root)
    print(f'[ablate] toy data written: {counts}', flush=True)


def make_plans(experiments: List[Experiment], options: Dict[str, Any],
               data_root: Optional[str], gt_dir: Optional[str], split: str) -> List[Plan]:
    """Merge every config up front (errors surface before anything runs); find duplicates."""
    names = [exp.name for exp in experiments]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f'experiment names must be unique, repeated: {clashes}')
    plans: List[Plan] = []
    first_with_text: Dict[str, str] = {}
    for exp in experiments:
        cfg = merged_config(exp, options, data_root)
        text = cfg.pretty_text
        gt = gt_dir or osp.join(data_root_of(cfg), 'video_sequence', split)
        plans.append(Plan(exp, text, gt, first_with_text.get(text)))
        first_with_text.setdefault(text, exp.name)
    return plans


def select_experiments(args: argparse.Namespace) -> Tuple[List[Experiment], Optional[str]]:
    """The experiments of the command line and the data root override (toy data for --toy)."""
    if args.toy:
        data_root = args.data_root or args.toy_data or data_root_of(
            Config.fromfile(args.toy_config))
        if not args.dry_run:
            ensure_toy_data(data_root)
        return study_experiments(args.toy_config, args.toy_iters), data_root
    if args.toy_iters is not None:
        raise ValueError('--toy-iters applies to --toy only; use --cfg-options '
                         'train_cfg.max_iters=N')
    if args.experiments:
        return load_experiments_file(args.experiments), args.data_root
    return config_experiments(args.configs), args.data_root


def run_all(plans: List[Plan], settings: Settings) -> Tuple[Dict[str, dict], Dict[str, str]]:
    """Run every plan in order, rewriting ``results.md`` after each.

    Returns:
        ``(records, failures)``: done records and failed stages by experiment name.
    """
    finished = {plan.exp.name: prepare_folder(plan, settings)
                for plan in plans if plan.same_as is None}
    results_md = osp.join(settings.work_root, 'results.md')
    records: Dict[str, dict] = {}
    failures: Dict[str, str] = {}
    for number, plan in enumerate(plans, 1):
        index, name = f'({number}/{len(plans)})', plan.exp.name
        if plan.same_as is not None:
            if plan.same_as in records:
                records[name] = alias_record(plan, records[plan.same_as], settings)
                print(f'[ablate] {index} {name}: same config as {plan.same_as}, reused')
            else:
                failures[name] = f'as {plan.same_as}'
        elif finished[name] is not None:
            records[name] = finished[name]
            print(f'[ablate] {index} {name}: already done, skipped', flush=True)
        else:
            try:
                records[name] = run_experiment(plan, settings, index)
            except StageError as error:
                state = read_json(plan.path(settings.work_root, 'state.json')) or {}
                failures[name] = next(s for s in STAGES if s not in state)
                print(f'[ablate] {index} {name}: FAILED in {failures[name]}: {error}',
                      flush=True)
        write_results(results_md, plans, records, settings, failures)
    print(f'[ablate] {len(records)}/{len(plans)} experiments done; table: {results_md}',
          flush=True)
    return records, failures


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Run the study; returns the done records by experiment name (exit 1 on failures)."""
    args = parse_args(argv)
    device = args.device
    if device is None:
        import torch
        device = 'cuda' if torch.cuda.is_available() and not args.toy else 'cpu'
    settings = Settings(work_root=osp.abspath(args.work_root), gpus=args.gpus, device=device,
                        split=args.split, legacy_stq=args.legacy_stq, validate=args.validate,
                        verbose=args.verbose)
    experiments, data_root = select_experiments(args)
    plans = make_plans(experiments, args.cfg_options, data_root, args.gt_dir, args.split)
    for number, plan in enumerate(plans, 1):
        knobs = ' '.join(f'{k}={v}' for k, v in plan.exp.cfg_options.items())
        same = f' (same config as {plan.same_as})' if plan.same_as else ''
        print(f'[ablate] ({number}/{len(plans)}) {plan.exp.name}: {plan.exp.config} '
              f'{knobs}{same}', flush=True)
    if args.dry_run:
        return {}
    records, failures = run_all(plans, settings)
    if failures:
        print(f'[ablate] failed: {", ".join(failures)} (re-run the same command to resume)')
        sys.exit(1)
    return records


if __name__ == '__main__':
    main()
