"""video_knet.apis.writer: the background writer and the results-layout writer of predictions."""
import os
import threading

import cv2
import numpy as np
import pytest

from video_knet.apis import BackgroundWriter, FramePrediction, ResultWriter


def _prediction(seq_id: int, frame_id: int, semantic, instance) -> FramePrediction:
    empty = np.zeros(0, np.int64)
    return FramePrediction(seq_id, frame_id, np.asarray(semantic), np.asarray(instance), empty,
                           empty.astype(np.float32), empty, image_path='')


def _read(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_result_writer_encoding_synchronous_and_background(tmp_path) -> None:
    semantic = np.array([[11, 255], [0, 13]])
    track = np.array([[1, 0], [0, 300]])
    with ResultWriter(str(tmp_path / 'sync'), max_pending=0) as writer:
        paths = writer.write(_prediction(7, 12, semantic, track))
    sync = tmp_path / 'sync'
    assert paths == dict(cat=str(sync / 'panoptic' / '7' / '000007_000012_cat.png'),
                         ins=str(sync / 'panoptic' / '7' / '000007_000012_ins.png'),
                         final=str(sync / 'final' / '0007' / '000012.png'))
    assert _read(paths['cat']).dtype == np.uint16 and _read(paths['cat']).tolist() == [
        [11, 255], [0, 13]]
    assert _read(paths['ins']).dtype == np.uint16 and _read(paths['ins']).tolist() == [
        [1, 0], [0, 300]]
    rgb = _read(paths['final'])[..., ::-1]  # cv2 reads BGR: the file itself is RGB
    assert rgb[..., 0].tolist() == [[11, 255], [0, 13]]
    assert rgb[..., 1].tolist() == [[0, 0], [0, 1]] and rgb[..., 2].tolist() == [[1, 0], [0, 44]]
    assert sorted(os.listdir(sync / 'panoptic' / '7')) == [
        '000007_000012_cat.png', '000007_000012_ins.png']  # no temporary file left

    with ResultWriter(str(tmp_path / 'async'), max_pending=2) as writer:
        assert writer.write(_prediction(7, 12, semantic, track)) is None  # queued
    for path in paths.values():
        queued = path.replace(str(sync), str(tmp_path / 'async'))
        assert open(queued, 'rb').read() == open(path, 'rb').read()
    with pytest.raises(ValueError, match='must be'):
        ResultWriter(str(tmp_path), max_pending=0).write(_prediction(0, 0, semantic, track[0]))


def test_background_writer_order_bound_and_errors() -> None:
    done, started = [], threading.Event()
    gate = threading.Event()

    def job(i):
        if i == 0:
            started.set()
            assert gate.wait(10)
        done.append(i)

    with BackgroundWriter(max_pending=2) as writer:
        writer.submit(job, 0)
        assert started.wait(10)
        writer.submit(job, 1)  # two queued: the next submit must wait for job 0
        submitter = threading.Thread(target=writer.submit, args=(job, 2))
        submitter.start()
        submitter.join(0.2)
        assert submitter.is_alive() and done == []
        gate.set()
        submitter.join(10)
    assert done == [0, 1, 2]  # in submission order, all finished when the block ends

    def fail(_):
        raise OSError('disk full')

    writer = BackgroundWriter(max_pending=1)
    writer.submit(fail, 0)
    with pytest.raises(OSError, match='disk full'):  # raised by the next submit
        writer.submit(job, 3)
    writer.close()
    done.clear()
    with pytest.raises(KeyError):  # the block's own error wins; queued jobs still finish
        with BackgroundWriter() as writer:
            writer.submit(job, 4)
            writer.submit(fail, 5)
            raise KeyError('model failed')
    assert done == [4]
    with pytest.raises(ValueError, match='max_pending'):
        BackgroundWriter(max_pending=0)
