# Toy ablation (`tools/ablate.py --toy`): reference offsets [-1, 1] (more local; the base uses
# [-2, -1, 1, 2]), as the KITTI-STEP `video-knet_r50_ref-local_kitti-step.py` on the toy data.
_base_ = '../video-knet_r18_toy.py'
train_dataloader = dict(dataset=dict(dataset=dict(ref_seq_index=[-1, 1])))
