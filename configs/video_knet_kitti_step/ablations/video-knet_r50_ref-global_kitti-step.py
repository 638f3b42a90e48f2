# Ablation "More global [-3, 3]": reference offsets -3..3 without 0, drawn once per key frame;
# fine-tuned from the Cityscapes-STEP K-Net like the original ablation README's temporal table.
_base_ = './video-knet_r50_cityscapes-pretrain_kitti-step.py'
train_dataloader = dict(dataset=dict(dataset=dict(ref_seq_index=[-3, -2, -1, 1, 2, 3])))
