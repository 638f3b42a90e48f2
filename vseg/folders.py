"""Output folders owned by the tool that made them (dataset generators and prepare scripts).

A tool that fills a whole folder (``tools/make_toy_step.py``, ``datasets/prepare_kitti_step.py``)
claims it first with :func:`claim_folder`, which writes the marker ``made_by.json`` (the tool,
its arguments and the files it writes) before any other file. Then

* a non-empty folder without a marker, or with another tool's, is refused: it holds a user's
  data (e.g. a KITTI-STEP folder of hard links to the original downloads);
* the same tool with the same arguments may write again (a crashed run resumes);
* the same tool with other arguments is refused unless ``overwrite``, which removes the files
  that the marker lists (its own previous output) and nothing else; a tool that only adds files
  (a prepare script run for another split) may instead accept other arguments.

:func:`folder_complete` tells whether a folder already holds a finished run of given arguments
(``tools/demo.py`` skips generating its data then). :func:`replace_folder` builds a whole output
folder beside its place and swaps it in when complete (official benchmark submissions).
"""
import filecmp
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, List, Mapping, Optional, Sequence, TypeVar

from .io import atomic_path, read_json_object, write_text_atomic

MARKER_NAME = 'made_by.json'
T = TypeVar('T')


def read_marker(folder: str) -> Optional[dict]:
    """The marker of ``folder`` (``tool``, ``arguments``, ``files``), or None without one.

    Raises:
        ValueError: the marker exists but is corrupt (naming it).
    """
    path = osp.join(folder, MARKER_NAME)
    marker = read_json_object(path, 'folder marker')
    if marker is not None and not {'tool', 'arguments'} <= set(marker):
        raise ValueError(f'{path}: corrupt folder marker (needs "tool" and "arguments")')
    return marker


def _differences(old: Mapping[str, object], new: Mapping[str, object]) -> str:
    return ', '.join(f'{key}: {old.get(key)} then, {new.get(key)} now'
                     for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key))


def remove_listed_files(folder: str, files: Sequence[str]) -> None:
    """Remove the files ``files`` (relative paths) of ``folder`` and the folders left empty.

    Only names are removed (a hard link's other names keep the data), never through a linked
    sub-folder; a listed path that leaves ``folder`` is an error (nothing is removed then).
    """
    names = [osp.normpath(name) for name in files]
    outside = [name for name in names if osp.isabs(name) or name.split(os.sep)[0] == os.pardir]
    if outside:
        raise ValueError(f'{osp.join(folder, MARKER_NAME)} lists {outside[0]!r}, outside '
                         f'{folder}: refusing to remove anything')
    root = osp.realpath(folder)
    parents = {osp.dirname(name) for name in names}
    for name in names:
        path = osp.join(folder, name)
        inside = osp.realpath(osp.dirname(path)) == osp.join(root, osp.dirname(name)).rstrip(os.sep)
        if inside and (osp.islink(path) or osp.isfile(path)):
            os.remove(path)
    for parent in sorted(parents, key=len, reverse=True):
        while parent:
            try:
                os.rmdir(osp.join(folder, parent))
            except OSError:  # not empty (or gone): keep it
                break
            parent = osp.dirname(parent)


def _as_json(arguments: Mapping[str, object]) -> dict:
    """``arguments`` as the marker stores them (JSON values: tuples become lists)."""
    return json.loads(json.dumps(dict(arguments), sort_keys=True))


def folder_complete(folder: str, tool: str, arguments: Mapping[str, object],
                    files: Sequence[str]) -> bool:
    """True when ``folder`` was claimed by ``tool`` with ``arguments`` (its marker says so) and
    every one of ``files`` (relative to ``folder``) exists: the run is done, nothing to redo.
    A folder made with other arguments, by another tool, without a marker, or left incomplete
    by a crashed run gives False.

    Raises:
        ValueError: the marker exists but is corrupt (naming it).
    """
    marker = read_marker(folder)
    return (marker is not None and marker['tool'] == tool
            and marker['arguments'] == _as_json(arguments)
            and all(osp.isfile(osp.join(folder, name)) for name in files))


def claim_folder(folder: str, tool: str, arguments: Mapping[str, object],
                 files: Sequence[str] = (), overwrite: bool = False,
                 other_arguments_ok: bool = False) -> None:
    """Make ``folder`` the output folder of ``tool`` run with ``arguments``, or refuse.

    Args:
        folder: the output folder (created if missing).
        tool: the tool's name, e.g. ``'tools/make_toy_step.py'``.
        arguments: what determines the tool's output (JSON values).
        files: the files (relative to ``folder``) the tool is about to write.
        overwrite: with a marker of ``tool`` and other arguments, remove its listed files and
            claim the folder anew (else refuse).
        other_arguments_ok: accept a marker of ``tool`` with other arguments as it is (the files
            of both runs are then listed).

    Raises:
        FileExistsError: ``folder`` is not empty and was not made by ``tool`` (no marker or
            another tool's), or was made with other arguments and neither ``overwrite`` nor
            ``other_arguments_ok`` is given.
    """
    arguments = _as_json(arguments)
    marker = read_marker(folder) if osp.isdir(folder) else None
    listed: List[str] = list(files)
    if marker is None:
        if osp.isdir(folder) and os.listdir(folder):
            raise FileExistsError(
                f'{folder} is not empty and was not made by {tool} (it has no {MARKER_NAME}): '
                f'refusing to write into it, its files may be your data; choose a new or empty '
                'folder')
    elif marker['tool'] != tool:
        raise FileExistsError(f'{folder} was made by {marker["tool"]}, not by {tool}: refusing '
                              'to write into it; choose a new or empty folder')
    elif marker['arguments'] == arguments:
        return
    elif other_arguments_ok:
        listed = sorted(set(marker.get('files', [])) | set(listed))
    elif overwrite:
        remove_listed_files(folder, marker.get('files', []))
    else:
        raise FileExistsError(
            f'{folder} was made by {tool} with other arguments '
            f'({_differences(marker["arguments"], arguments)}); pass --overwrite to remove '
            'its files and write the new ones, or choose another folder')
    os.makedirs(folder, exist_ok=True)
    write_text_atomic(osp.join(folder, MARKER_NAME),
                      json.dumps(dict(tool=tool, arguments=arguments, files=listed), indent=1)
                      + '\n')


def place_file(source: str, target: str, copy: bool = False) -> str:
    """Hard-link (or, with ``copy`` or across devices, copy atomically) ``source`` to ``target``;
    the dataset preparation scripts place a user's files with it, never moving or changing them.

    Returns:
        ``'linked'``, ``'copied'`` or ``'skipped'`` (``target`` already holds the same bytes).
    """
    if osp.lexists(target):
        if osp.samefile(source, target) or filecmp.cmp(source, target, shallow=False):
            return 'skipped'
        raise FileExistsError(f'{target}: exists with different content than {source}; '
                              'remove it to re-create')
    if not copy:
        try:
            os.link(source, target)
            return 'linked'
        except OSError:
            pass
    with atomic_path(target) as tmp:
        shutil.copy2(source, tmp)
    return 'copied'


def replace_folder(target: str, build: Callable[[str], T],
                   allowed: Sequence[str] = ()) -> T:
    """Build a whole folder next to ``target``, then put it in ``target``'s place.

    ``build(partial)`` writes into the fresh folder ``partial`` (beside ``target``); only when
    it returns is an existing ``target`` moved aside and ``partial`` renamed to ``target``, so a
    crash leaves the previous folder whole and no file of an earlier run survives in the new
    one.

    Args:
        target: the folder to (re)place.
        build: writes the folder's content; its return value is returned.
        allowed: the only entries an existing ``target`` may hold (e.g. ``('pan_pred',
            'pred.json')``); anything else means the folder is not ours to replace.

    Raises:
        FileExistsError: ``target`` exists and is not a folder, or holds an entry outside
            ``allowed`` (it may be a user's data).
    """
    target = osp.abspath(target)
    if osp.lexists(target):
        if not osp.isdir(target):
            raise FileExistsError(f'{target} exists and is not a folder')
        extra = sorted(set(os.listdir(target)) - set(allowed))
        if extra:
            raise FileExistsError(f'{target} holds {extra[:3]}, which this tool does not write: '
                                  'refusing to replace it; choose a new or empty folder')
    parent = osp.dirname(target)
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=osp.basename(target) + '.partial-', dir=parent)
    try:
        result = build(partial)
        if osp.lexists(target):
            old = tempfile.mkdtemp(prefix=osp.basename(target) + '.old-', dir=parent)
            os.rename(target, osp.join(old, 'folder'))
            os.rename(partial, target)
            shutil.rmtree(old)
        else:
            os.rename(partial, target)
    finally:
        if osp.isdir(partial):
            shutil.rmtree(partial)
    return result
