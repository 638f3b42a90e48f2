# Cityscapes-VPS video panoptic data in the layout VPSNet ships ({split}/img_all/, cls/, inst/;
# DATASET.md), with the settings of the original `cityscapes_vps_clips.py` dataset config, in the
# structure of `kitti_step.py`. The 19 Cityscapes trainIds with all eight things (11..18); crowd
# regions and colours outside the class table are void, as in the official conversion.
# Training: the labelled frames (6 per 30-frame clip) as keys, each with ONE reference drawn at
# every fetch among its neighbouring labelled frames (offsets -1 / +1 = 5 raw frames, as the
# original draws image-id offsets per __getitem__); the same rescale/flip/crop for both frames:
# rescale x U(0.5, 2) against (1024, 2048) (the original draws the long and short target edges
# independently in [1024, 4096] x [512, 2048] and keeps the smaller factor, also within 0.5..2),
# flip 0.5, 1024x1024 crop; samples without a shared key/ref instance are re-drawn (the
# original tries the other offset, then re-draws). RepeatDataset x8 as the original.
# Val/test: every raw frame of each clip (frames='all', the 30 frames of `img_all/`, as the
# original's test), at full resolution (2048x1024, the original's test scale), each clip whole
# and in frame order on one rank (SequenceSampler): the tracker runs through all frames and the
# metric and the submission score the 6 labelled ones. frames='labelled' runs the labelled frames
# only (5x cheaper; tracking then jumps 5 frames at a time, so the figures differ). Normalization
# and padding to /32 happen in the model's KNetDataPreprocessor.
# Root: $KNET_DATA_ROOT/cityscapes_vps (default datasets/cityscapes_vps); to change it in a derived
# config, set `data_root` on the dataloaders' datasets (or --cfg-options ...data_root=...).
dataset_type = 'CityscapesVPSDataset'
data_root = '{{$KNET_DATA_ROOT:datasets}}/cityscapes_vps'
ref_seq_index = [-1, 1]

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='ClipRandomResize', scale=(1024, 2048), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(1024, 1024)),
    dict(type='PackPanopticInputs'),
]
# Frames only: the benchmark metric reads the ground truth of the labelled frames from their
# files (seg_path / ins_path, kept in the samples' metainfo), as the official evaluator does.
test_pipeline = [
    dict(type='LoadFrames'),
    dict(type='PackPanopticInputs'),
]
val_pipeline = test_pipeline

train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset',
        times=8,
        dataset=dict(type=dataset_type, data_root=data_root, split='train',
                     ref_seq_index=ref_seq_index, resample_each_epoch=True,
                     pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='SequenceSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', test_mode=True,
                 frames='all', pipeline=val_pipeline))
test_dataloader = val_dataloader

# The official Cityscapes-VPS VPQ (windows of 1, 2, 3 and 4 labelled frames, k = 0, 5, 10, 15),
# computed online per clip as `tools/evaluate_vpq.py SUBMIT --format cityscapes-vps` scores the
# submission that inference writes (the original had no VPQ evaluation).
val_evaluator = dict(type='BenchmarkVideoMetric', benchmark='cityscapes-vps')
test_evaluator = val_evaluator
