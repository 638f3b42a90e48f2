# Toy ablation (`tools/ablate.py --toy`): kernel updater 'concat_skip' in every stage (the
# KITTI-STEP `video-knet_r50_updator-concat-skip_kitti-step.py` on the toy model and data).
_base_ = '../video-knet_r18_toy.py'
model = dict(roi_head=dict(mask_head=dict(kernel_updator_cfg=dict(update_mode='concat_skip'))))
