"""tools/demo.py: the data step (made once with the demo's arguments, made anew otherwise) and
the figures line helper."""
import json
import os
from argparse import Namespace

from helpers import load_tool

from knet.datasets import make_toy_step
from vseg.folders import MARKER_NAME

demo = load_tool('demo')
TINY = dict(train_seqs=1, val_seqs=1, frames=2)  # default 128x416 frames: 4 frames, seconds


def test_make_data_once_with_held_out_val_seed_and_anew_for_other_arguments(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(demo, 'DEMO_DATA', TINY)
    root = tmp_path / 'toy-step'
    args = Namespace(data_root=str(root), seed=0, val_seed=demo.VAL_SEED)
    demo.make_data(args)
    with open(root / MARKER_NAME) as f:
        marker = json.load(f)
    assert marker['arguments'] == dict(seed=0, size=[128, 416], val_seed=demo.VAL_SEED, **TINY)
    val = root / 'video_sequence' / 'val' / '000001_000001_panoptic.png'
    stamp = os.stat(val).st_mtime_ns
    demo.make_data(args)  # complete: kept as it is
    assert os.stat(val).st_mtime_ns == stamp

    other = tmp_path / 'other' / 'toy-step'
    make_toy_step(str(other), seed=0, **TINY)  # a generator folder with val scenes of seed 0
    before = {split: (other / 'video_sequence' / split / name).read_bytes()
              for split, name in (('train', '000000_000000_panoptic.png'),
                                  ('val', '000001_000000_panoptic.png'))}
    demo.make_data(Namespace(**{**vars(args), 'data_root': str(other)}))
    with open(other / MARKER_NAME) as f:
        assert json.load(f)['arguments']['val_seed'] == demo.VAL_SEED
    for split, name in (('train', '000000_000000_panoptic.png'),
                        ('val', '000001_000000_panoptic.png')):  # same training scenes only
        after = (other / 'video_sequence' / split / name).read_bytes()
        assert (after == before[split]) is (split == 'train')
        assert after == (root / 'video_sequence' / split / name).read_bytes()


def test_percent():
    assert demo.percent(3, 8) == '37.5 %'
    assert demo.percent(0, 0) == 'n/a'
