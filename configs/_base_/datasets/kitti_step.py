# KITTI-STEP video panoptic data (docs/data_formats.md, "KITTI-STEP"; docs/model.md, "Training
# clips and the video loss").
# Training: clips of a key frame + ONE reference frame (offset drawn once per key from
# `ref_seq_index` with seed 0; keys whose reference leaves the sequence are dropped), the same
# rescale/flip/crop for both frames, samples without a shared key/ref instance are re-drawn.
# Val/test: single frames, each sequence whole and in frame order on one rank (SequenceSampler).
# Normalization and padding to /32 happen in the model's KNetDataPreprocessor.
# Root: $KNET_DATA_ROOT/kitti-step (default datasets/kitti-step); to change it in a derived
# config, set `data_root` on the dataloaders' datasets (or --cfg-options ...data_root=...).
dataset_type = 'KITTISTEPDataset'
data_root = '{{$KNET_DATA_ROOT:datasets}}/kitti-step'
ref_seq_index = [-2, -1, 1, 2]

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(384, 1248), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(384, 1248)),
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
    dataset=dict(
        type='RepeatDataset',
        times=2,
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

# STQ and VPQ (windows 1-4) of whole sequences.
val_evaluator = dict(type='VideoPanopticMetric', metric=['STQ', 'VPQ'], window_sizes=[1, 2, 3, 4])
test_evaluator = val_evaluator
