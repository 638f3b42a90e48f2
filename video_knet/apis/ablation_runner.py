"""The stages of an ablation experiment, each a subprocess of a tool, and the run of a study.

For an experiment (a :class:`~video_knet.apis.ablation.Plan`) the stages of
:data:`~video_knet.apis.ablation.STAGES` run in order: ``train.py`` (``dist_train.sh`` when
``gpus`` > 1), ``inference.py`` on the split with the last checkpoint, then ``evaluate_stq.py``
and ``evaluate_vpq.py`` with ``--json``, all from :attr:`Settings.tools_dir`. Under
``Settings.work_root/{name}/`` an experiment keeps ``config.py`` (the merged config),
``train/``, ``results/``, ``stq.json``, ``vpq.json``, ``logs/{stage}.log``, ``state.json``
(``{stage: {..., 'seconds': s}}`` of the finished stages) and, once all are done,
``done.json`` (keys ``name``, ``config``, ``checkpoint``, ``figures``, ``seconds``,
``finished``; ``same_as`` for an experiment reusing another's run). :func:`run_all` runs a study
and rewrites ``work_root/results.md`` after every experiment.
"""
import os
import os.path as osp
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .ablation import (
    COLUMNS,
    STAGES,
    VPQ_WINDOWS,
    Plan,
    StageError,
    format_percent,
    read_figures,
    read_json,
    results_markdown,
    write_json,
)


@dataclass
class Settings:
    """Options shared by every experiment of a run (from the command line).

    Args:
        work_root: folder of all experiment outputs.
        tools_dir: folder of the stage tools (``train.py``, ``dist_train.sh``, ``inference.py``,
            ``evaluate_stq.py``, ``evaluate_vpq.py``).
        gpus: processes per experiment (> 1: ``dist_train.sh`` and torchrun inference).
        device: ``'cpu'`` (no visible GPU for the stages) or ``'cuda'``.
        split: split inferred and evaluated.
        legacy_stq: STQ as the original ``evaluate_stq.py``.
        validate: keep the validation loop during training.
        verbose: echo the stage outputs.
    """

    work_root: str
    tools_dir: str
    gpus: int = 1
    device: str = 'cpu'
    split: str = 'val'
    legacy_stq: bool = False
    validate: bool = False
    verbose: bool = False


def write_results(path: str, plans: List[Plan], records: Dict[str, dict], settings: Settings,
                  failures: Dict[str, str]) -> str:
    """Write ``results.md`` (see :func:`~video_knet.apis.ablation.results_markdown`); returns it."""
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
        return ['bash', osp.join(settings.tools_dir, 'dist_train.sh'), config,
                str(settings.gpus), work_dir] + args
    return [sys.executable, osp.join(settings.tools_dir, 'train.py'), config, '--work-dir',
            work_dir] + args


def inference_command(config: str, checkpoint: str, results: str,
                      settings: Settings) -> List[str]:
    """``tools/inference.py`` on ``settings.split`` (torchrun over ``gpus`` processes if > 1)."""
    tool = osp.join(settings.tools_dir, 'inference.py')
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
    cmd = [sys.executable, osp.join(settings.tools_dir, f'evaluate_{metric}.py'), results,
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
