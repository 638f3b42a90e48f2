# Cityscapes-STEP frames for K-Net pretraining (docs/data_formats.md, "Cityscapes-STEP"):
# person and car are the only things (instanceTrainIds >= 10000), the other
# classes stuff. Rescale x U(0.5, 2) against (1024, 2048), flip 0.5, crop (1024, 2048); samples
# whose crop keeps no instance are re-drawn. Normalization/padding: KNetDataPreprocessor.
# Root: $KNET_DATA_ROOT/cityscapes (default datasets/cityscapes).
dataset_type = 'CityscapesSTEPDataset'
data_root = '{{$KNET_DATA_ROOT:datasets}}/cityscapes'

train_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations', with_crowd=False),
    dict(type='ClipRandomResize', scale=(1024, 2048), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipRandomCrop', crop_size=(1024, 2048)),
    dict(type='PackPanopticInputs'),
]
val_pipeline = [
    dict(type='LoadFrames'),
    dict(type='LoadPanopticAnnotations', with_crowd=False),
    dict(type='PackPanopticInputs'),
]
test_pipeline = [
    dict(type='LoadFrames'),
    dict(type='PackPanopticInputs'),
]

# Batch 1 per GPU as in the ablation repository (the original README used 2).
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset',
        times=8,
        dataset=dict(type=dataset_type, data_root=data_root, split='train',
                     pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', test_mode=True,
                 pipeline=val_pipeline))
test_dataloader = val_dataloader

# Image panoptic quality (PQ, PQ_th, PQ_st) over all val frames.
val_evaluator = dict(type='PanopticMetric')
test_evaluator = val_evaluator
