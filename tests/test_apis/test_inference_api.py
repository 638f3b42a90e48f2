"""The inference API (video_knet.apis.inference) on the tiny Video K-Net with random weights.

The toy KITTI-STEP val split (2 sequences of 3 frames, 64x128) is given as a dataset split, as a
folder of frames and as a lossless video file: the three sources must give the same predictions,
typed, one frame at a time (the generator reads a frame only when it predicts it and keeps
nothing of a frame it has yielded), and online inference restarts at frame 0.
"""
import gc
import weakref
from pathlib import Path
from typing import Dict, Iterator, List

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO
from mmengine.config import Config

from knet.registry import MODELS
from knet.visualization import read_rgb
from video_knet.apis import (
    Frame,
    FramePrediction,
    build_inference_dataset,
    folder_frames,
    inference_dataset,
    inference_video,
    init_detector,
    list_frames,
    load_config,
    open_frames,
    sequences_of_rank,
)

TINY = str(REPO / 'configs' / 'tiny' / 'video-knet_tiny.py')
TINY_KNET = str(REPO / 'configs' / 'tiny' / 'knet_tiny.py')
SIZE = (64, 128)
#: Keep every kernel as a segment and a track, so that random weights produce track ids.
LOW = {'model.test_cfg.instance_score_thr': 0.0, 'model.tracker.init_score_thr': 0.0,
       'model.tracker.obj_score_thr': 0.0}
META = dict(classes=tuple(f'c{i}' for i in range(19)), palette=[(i, i, i) for i in range(19)],
            ignore_label=255)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Toy KITTI-STEP data: val sequences 0 and 1, 3 frames each, with panoptic PNGs."""
    from knet.datasets import make_toy_step
    root = tmp_path_factory.mktemp('api_data')
    make_toy_step(str(root), seed=5, size=SIZE, train_seqs=0, val_seqs=2, frames=3)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Random tiny weights saved as a DDP checkpoint (``module.`` prefixes) with metainfo."""
    torch.manual_seed(0)
    model = MODELS.build(load_config(TINY).model)
    model.init_weights()
    state = {f'module.{key}': value for key, value in model.state_dict().items()}
    path = tmp_path_factory.mktemp('api_ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=state, meta=dict(dataset_meta=META)), path)
    return str(path)


@pytest.fixture(scope='module')
def model(checkpoint: str) -> torch.nn.Module:
    return init_detector(TINY, checkpoint, 'cpu', LOW)


def _sequence_folder(data_root: Path, seq: int, out: Path) -> Path:
    """A folder holding only the images of val sequence ``seq``."""
    out.mkdir()
    for path in sorted((data_root / 'video_sequence' / 'val').glob(f'{seq:06d}_*_leftImg8bit.png')):
        (out / path.name).write_bytes(path.read_bytes())
    return out


def _assert_same(a: List[FramePrediction], b: List[FramePrediction]) -> None:
    assert [(p.seq_id, p.frame_id) for p in a] == [(p.seq_id, p.frame_id) for p in b]
    for x, y in zip(a, b):
        for field in ('semantic', 'instance', 'labels', 'scores', 'segment_ids'):
            assert np.array_equal(getattr(x, field), getattr(y, field)), (x.frame_id, field)


def test_init_detector_loads_the_checkpoint_and_metainfo(model, checkpoint, tmp_path) -> None:
    saved = torch.load(checkpoint, weights_only=False)['state_dict']
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[f'module.{key}']), key
    assert not model.training and model.dataset_meta == META
    assert model.cfg.model.test_cfg.instance_score_thr == 0.0  # cfg_options merged
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict=dict(unrelated=torch.zeros(1))), other)
    with pytest.raises(ValueError, match='no key matches'):
        init_detector(TINY, str(other))
    with pytest.raises(FileNotFoundError):
        init_detector(TINY, str(tmp_path / 'missing.pth'))


def test_sources_agree_and_are_typed(model, data_root, tmp_path) -> None:
    cfg = load_config(TINY)
    dataset = build_inference_dataset(cfg, 'val', str(data_root))
    sequences = sequences_of_rank(dataset)
    assert sorted(sequences) == [0, 1] and [f for f, _ in sequences[0]] == [0, 1, 2]
    from_split = list(inference_dataset(model, dataset, [i for _, i in sequences[0]], 0))
    folder = _sequence_folder(data_root, 0, tmp_path / 'frames')
    from_folder = list(inference_video(model, str(folder)))
    _assert_same(from_split, from_folder)

    video = tmp_path / 'clip.avi'  # FFV1: lossless, so the decoded frames are the PNGs' pixels
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'FFV1'), 5.0, SIZE[::-1])
    assert writer.isOpened(), 'OpenCV cannot write FFV1 video'
    for path in list_frames(str(folder)):
        writer.write(cv2.imread(path))
    writer.release()
    frames, count = open_frames(str(video))
    assert count == 3
    from_video = list(inference_video(model, frames))
    _assert_same(from_folder, from_video)

    assert sum(len(p.labels) for p in from_folder) > 0, 'no thing segment to check'
    for pred, path in zip(from_folder, list_frames(str(folder))):
        assert isinstance(pred, FramePrediction) and pred.seq_id == 0
        assert pred.semantic.dtype == pred.instance.dtype == np.int64
        assert pred.semantic.shape == pred.instance.shape == SIZE
        assert set(np.unique(pred.semantic).tolist()) <= set(range(19)) | {255}
        n = len(pred.labels)
        assert pred.labels.dtype == pred.segment_ids.dtype == np.int64
        assert pred.scores.dtype == np.float32
        assert pred.scores.shape == pred.segment_ids.shape == (n, )
        assert set(np.unique(pred.instance).tolist()) - {0} <= set(pred.segment_ids.tolist())
        assert pred.image_path == path and np.array_equal(pred.image, read_rgb(path))
    assert [p.image_path for p in from_video] == [f'{video}#{i}' for i in range(3)]
    assert all(p.image is None for p in from_split)


def _counting(frames: List[Frame], pulled: List[int]) -> Iterator[Frame]:
    for frame in frames:
        pulled.append(frame.frame_id)
        yield frame


def test_streaming_holds_one_frame(model, data_root, tmp_path) -> None:
    folder = _sequence_folder(data_root, 1, tmp_path / 'frames')
    pulled: List[int] = []
    stream = inference_video(model, _counting(list(folder_frames(str(folder))), pulled))
    first = next(stream)
    assert pulled == [0], 'frames must be read when they are predicted, not ahead'
    refs = [weakref.ref(first), weakref.ref(first.semantic), weakref.ref(first.instance)]
    del first
    second = next(stream)
    gc.collect()
    assert pulled == [0, 1] and second.frame_id == 1
    assert all(ref() is None for ref in refs), 'the generator kept a yielded frame'

    dataset = build_inference_dataset(load_config(TINY), 'val', str(data_root))
    stream = inference_dataset(model, dataset, range(len(dataset)), num_workers=0)
    first = next(stream)
    refs = [weakref.ref(first), weakref.ref(first.semantic)]
    del first
    next(stream)
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_folder_frames_are_read_lazily_and_max_frames(model, data_root, tmp_path) -> None:
    folder = _sequence_folder(data_root, 1, tmp_path / 'frames')
    last = list_frames(str(folder))[-1]
    Path(last).write_bytes(b'not a png')
    stream = inference_video(model, str(folder))
    assert [p.frame_id for p in (next(stream), next(stream))] == [0, 1]
    with pytest.raises(OSError):
        next(stream)
    assert [p.frame_id for p in inference_video(model, str(folder), max_frames=2)] == [0, 1]


def test_list_frames_numeric_order(tmp_path: Path) -> None:
    for name in ('f10.png', 'f2.png', 'F1.jpg', 'notes.txt', '.hidden.png'):
        (tmp_path / name).write_bytes(b'')
    assert [Path(p).name for p in list_frames(str(tmp_path))] == ['F1.jpg', 'f2.png', 'f10.png']
    kitti = tmp_path / 'kitti'
    kitti.mkdir()
    for name in ('000000_000010_leftImg8bit.png', '000000_000002_leftImg8bit.png',
                 '000000_000002_panoptic.png'):
        (kitti / name).write_bytes(b'')
    assert [Path(p).name for p in list_frames(str(kitti))] == [
        '000000_000002_leftImg8bit.png', '000000_000010_leftImg8bit.png']
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no frame'):
        list_frames(str(tmp_path / 'empty'))
    with pytest.raises(FileNotFoundError, match='neither'):
        open_frames(str(tmp_path / 'missing.mp4'))


def test_online_inference_restarts_at_frame_zero(checkpoint, data_root, tmp_path) -> None:
    # No match is possible (a match needs a score > 1, the largest threshold allowed), so every
    # frame starts new tracks: without a reset at frame 0 the second pass would continue the ids
    # of the first.
    model = init_detector(TINY, checkpoint, 'cpu', dict(LOW, **{
        'model.tracker.match_score_thr': 1.0}))
    folder = _sequence_folder(data_root, 0, tmp_path / 'frames')
    runs = [list(inference_video(model, str(folder), max_frames=2)) for _ in range(2)]
    ids = [set(p.instance.ravel().tolist()) - {0} for p in runs[0]]
    assert ids[0] and ids[1] and max(ids[0]) < min(ids[1]), f'expected new tracks, got {ids}'
    _assert_same(*runs)


def test_whole_sequences_per_rank(data_root) -> None:
    dataset = build_inference_dataset(load_config(TINY), 'val', str(data_root))
    ranks: List[Dict[int, list]] = [sequences_of_rank(dataset, r, 2) for r in range(2)]
    assert sorted(s for r in ranks for s in r) == [0, 1] and all(len(r) == 1 for r in ranks)
    indices = sorted(i for r in ranks for frames in r.values() for _, i in frames)
    assert indices == list(range(len(dataset)))
    for rank in ranks:
        for frames in rank.values():
            assert [f for f, _ in frames] == [0, 1, 2]


def test_image_knet_segment_ids_are_ranks(data_root, tmp_path) -> None:
    torch.manual_seed(0)
    model = init_detector(TINY_KNET, None, 'cpu', {'model.test_cfg.instance_score_thr': 0.0})
    assert isinstance(model.cfg, Config)
    with torch.no_grad():  # random weights: favour the thing classes so that segments appear
        model.roi_head.mask_head[-1].fc_cls.bias[:model.num_thing_classes] += 5.0
    folder = _sequence_folder(data_root, 0, tmp_path / 'frames')
    pred = next(inference_video(model, str(folder)))
    n = len(pred.labels)
    assert n > 0 and pred.segment_ids.tolist() == list(range(1, n + 1))
    assert set(np.unique(pred.instance).tolist()) <= set(range(n + 1))
