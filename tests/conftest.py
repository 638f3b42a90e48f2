"""Shared pytest fixtures.

``toy_step_root``: a tiny synthetic KITTI-STEP dataset (``knet.datasets.make_toy_step``: 2 train
sequences 0-1 and 1 val sequence 2, 6 frames each, 64x192), generated once per session into a
temporary folder. Treat it as read-only; copy it (e.g. ``shutil.copytree``) before altering files.
"""
import pytest

TOY_STEP_ARGS = dict(seed=0, size=(64, 192), train_seqs=2, val_seqs=1, frames=6)


@pytest.fixture(scope='session')
def toy_step_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Root of the session's toy KITTI-STEP dataset (``video_sequence/{train,val}``)."""
    from knet.datasets import make_toy_step
    root = tmp_path_factory.mktemp('toy_step')
    make_toy_step(str(root), **TOY_STEP_ARGS)
    return str(root)
