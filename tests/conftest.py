"""Shared pytest fixtures.

``toy_step_root``: a tiny synthetic KITTI-STEP dataset (``knet.datasets.make_toy_step``: 2 train
sequences 0-1 and 1 val sequence 2, 6 frames each, 64x192), generated once per session into a
temporary folder. Treat it as read-only; copy it (e.g. ``shutil.copytree``) before altering files.

``built_config``: every shipped config's model, built once per session (see its docstring).
"""
import os
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Union

import pytest

TOY_STEP_ARGS = dict(seed=0, size=(64, 192), train_seqs=2, val_seqs=1, frames=6)


@pytest.fixture(scope='session')
def toy_step_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Root of the session's toy KITTI-STEP dataset (``video_sequence/{train,val}``)."""
    from knet.datasets import make_toy_step
    root = tmp_path_factory.mktemp('toy_step')
    make_toy_step(str(root), **TOY_STEP_ARGS)
    return str(root)


@pytest.fixture(scope='session')
def built_config() -> Callable[[Union[str, Path]], Tuple[Any, Any]]:
    """``built_config(path) -> (cfg, model)``: a shipped config and its model built through the
    registry, once per session (the suite builds every config once, whichever tests ask).

    The model is built on the ``meta`` device (its structure and parameter shapes, no memory and
    no initialisation), so even the R50 and Swin-B configs take a fraction of a second. Treat
    both as read-only; ``cfg`` is a copy, so a test may change it.
    """
    import copy

    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import video_knet  # noqa: F401  (registers the image and the video modules)
    from knet.registry import MODELS
    cache: Dict[str, Tuple[Any, Any]] = {}

    def build(path: Union[str, Path]) -> Tuple[Any, Any]:
        key = os.path.abspath(str(path))
        if key not in cache:
            cfg = Config.fromfile(key)
            init_default_scope(cfg.get('default_scope', 'knet'))
            with torch.device('meta'):
                cache[key] = (cfg, MODELS.build(cfg.model))
        cfg, model = cache[key]
        return copy.deepcopy(cfg), model
    return build
