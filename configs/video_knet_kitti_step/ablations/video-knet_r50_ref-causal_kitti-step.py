# Ablation "Causal [-2, 0]": reference offsets [-2, -1], drawn once per key frame; fine-tuned
# from the Cityscapes-STEP K-Net like the original ablation README's temporal table.
_base_ = './video-knet_r50_cityscapes-pretrain_kitti-step.py'
train_dataloader = dict(dataset=dict(dataset=dict(ref_seq_index=[-2, -1])))
