# Image K-Net on the synthetic Cityscapes-STEP twin: the toy K-Net of `knet_r18_toy.py` (tiny
# ResNet-18 K-Net, 400 iterations of AdamW 1e-3 on 128x256 crops) trained on the same scenes
# written in the Cityscapes-STEP layout (`python tools/make_toy_step.py --layout cityscapes
# --out datasets/toy-cityscapes`: leftImg8bit/ + gtFine/ labelTrainIds and instanceTrainIds of one
# city), read by CityscapesSTEPDataset; evaluated with image PQ on the full val frames.
# Root: $KNET_DATA_ROOT/toy-cityscapes (default datasets/toy-cityscapes).
_base_ = ['./knet_r18_toy.py']
data_root = '{{$KNET_DATA_ROOT:datasets}}/toy-cityscapes'
train_dataloader = dict(dataset=dict(dataset=dict(
    type='CityscapesSTEPDataset', data_root=data_root)))
val_dataloader = dict(dataset=dict(type='CityscapesSTEPDataset', data_root=data_root))
test_dataloader = val_dataloader
