"""KNetDataPreprocessor: normalization, /32 padding, gt padding, metainfo (ARCHITECTURE.md)."""
import pytest
import torch
from mmengine.structures import InstanceData, PixelData

from knet.models.data_preprocessor import KNetDataPreprocessor
from knet.registry import MODELS
from knet.structures import ClipDataSample, PanopticDataSample

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def _sample(h: int, w: int) -> PanopticDataSample:
    sample = PanopticDataSample(metainfo=dict(img_shape=(h, w)))
    sample.gt_instances = InstanceData(masks=torch.ones(2, h, w, dtype=torch.uint8),
                                       labels=torch.tensor([0, 1]),
                                       instance_ids=torch.tensor([5, 6]))
    sample.gt_sem_seg = PixelData(sem_seg=torch.full((1, h, w), 3, dtype=torch.int64))
    return sample


def _image(h: int, w: int) -> torch.Tensor:
    return torch.arange(3 * h * w, dtype=torch.int64).remainder(256).to(torch.uint8).view(3, h, w)


def test_frame_batch_values_and_padding():
    preprocessor = MODELS.build(dict(type='KNetDataPreprocessor'))
    images = [_image(33, 40), _image(20, 70)]
    out = preprocessor(dict(inputs=images, data_samples=[_sample(33, 40), _sample(20, 70)]))
    inputs = out['inputs']
    assert inputs.shape == (2, 3, 64, 96) and inputs.dtype == torch.float32
    torch.testing.assert_close(inputs[0, :, :33, :40], (images[0].float() - MEAN) / STD)
    assert inputs[0, :, 33:].abs().sum() == 0 and inputs[1, :, :, 70:].abs().sum() == 0
    grey = preprocessor(dict(inputs=[torch.full((3, 2, 2), 128, dtype=torch.uint8)]))['inputs']
    # Per channel (128 - mean) / std, with the means 123.675, 116.28, 103.53 and the stds
    # 58.395, 57.12, 57.375 of the ImageNet normalization.
    torch.testing.assert_close(grey[0, :, 0, 0], torch.tensor([0.074065, 0.205182, 0.426492]))
    assert grey.shape == (1, 3, 32, 32) and grey[0, :, 2:].abs().sum() == 0
    for sample in out['data_samples']:
        assert sample.batch_input_shape == (64, 96) and sample.pad_shape == (64, 96)
        masks, sem = sample.gt_instances.masks, sample.gt_sem_seg.sem_seg
        assert masks.shape == (2, 64, 96) and sem.shape == (1, 64, 96)
        h, w = sample.img_shape
        assert masks[:, :h, :w].all() and masks.sum() == 2 * h * w
        assert (sem[:, :h, :w] == 3).all() and (sem == 255).sum() == 64 * 96 - h * w


def test_clip_batch_and_samples_without_gt():
    preprocessor = KNetDataPreprocessor(pad_size_divisor=32)
    clips = [torch.stack([_image(30, 30), _image(30, 30)]),
             torch.stack([_image(40, 10), _image(40, 10)])]
    samples = [ClipDataSample(video_data_samples=[_sample(30, 30), _sample(30, 30)]),
               ClipDataSample(video_data_samples=[PanopticDataSample(), PanopticDataSample()])]
    out = preprocessor(dict(inputs=clips, data_samples=samples))
    assert out['inputs'].shape == (2, 2, 3, 64, 32)
    torch.testing.assert_close(out['inputs'][1, 1, :, :40, :10], (clips[1][1].float() - MEAN) / STD)
    for clip in out['data_samples']:
        assert isinstance(clip, ClipDataSample)
        for frame in clip:
            assert frame.batch_input_shape == (64, 32) and frame.pad_shape == (64, 32)
    assert out['data_samples'][0][1].gt_sem_seg.sem_seg.shape == (1, 64, 32)
    assert 'gt_instances' not in out['data_samples'][1][0]


def test_exact_multiple_is_not_padded_and_bad_inputs():
    preprocessor = KNetDataPreprocessor()
    out = preprocessor(dict(inputs=[_image(64, 32)], data_samples=None))
    assert out['inputs'].shape == (1, 3, 64, 32) and out['data_samples'] is None
    with pytest.raises(ValueError, match='mixed'):
        preprocessor(dict(inputs=[_image(8, 8), torch.stack([_image(8, 8)])]))
    with pytest.raises(ValueError, match='3 channels'):
        preprocessor(dict(inputs=[torch.zeros(1, 8, 8, dtype=torch.uint8)]))
