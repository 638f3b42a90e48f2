# VIPSeg video panoptic data, 720p version (`VIPSeg_720P`: images/, panomasks/, split lists),
# with the settings of the original `vipseg_dvps.py` dataset config, in the structure of
# `kitti_step.py`.
# Training: clips of a key frame + ONE reference frame (offset drawn once per key from
# `ref_seq_index` with seed 0; keys whose reference leaves the video are dropped), the same
# rescale/flip/crop for both frames: short side 720 x U(1, 2) (scale (720, 100000) with
# keep_ratio: the long side never binds), flip 0.5, 736x736 crop; samples without a shared
# key/ref instance are re-drawn. Val/test: single frames at the 720p resolution (no resize), each
# video whole and in frame order on one rank (SequenceSampler). Normalization and padding to /32
# happen in the model's KNetDataPreprocessor.
# Root: $KNET_DATA_ROOT/VIPSeg_720P (default datasets/VIPSeg_720P); to change it in a derived
# config, set `data_root` on the dataloaders' datasets (or --cfg-options ...data_root=...).
dataset_type = 'VIPSegDataset'
data_root = '{{$KNET_DATA_ROOT:datasets}}/VIPSeg_720P'
ref_seq_index = [-2, -1, 1, 2]

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(720, 100000), ratio_range=(1.0, 2.0), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(736, 736)),
    dict(type='PackPanopticInputs'),
]
# Frames with their ground truth (for online metrics); `test_pipeline` is for the unlabelled
# test split (split='test').
val_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='PackPanopticInputs'),
]
test_pipeline = [
    dict(type='LoadFrames'),
    dict(type='PackPanopticInputs'),
]

train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # RepeatDataset x1 as the original (kept so that derived configs can raise `times`).
    dataset=dict(
        type='RepeatDataset',
        times=1,
        dataset=dict(type=dataset_type, data_root=data_root, split='train',
                     ref_seq_index=ref_seq_index, seed=0, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='SequenceSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', test_mode=True,
                 pipeline=val_pipeline))
test_dataloader = val_dataloader

# The official VIPSeg VPQ (windows of 1, 2, 4, 6 and 8 frames) and STQ, computed online exactly
# as `tools/evaluate_vpq.py SUBMIT --format vipseg` scores the submission that inference writes
# (the original's in-training evaluation raised NotImplementedError).
val_evaluator = dict(type='BenchmarkVideoMetric', benchmark='vipseg')
test_evaluator = val_evaluator
