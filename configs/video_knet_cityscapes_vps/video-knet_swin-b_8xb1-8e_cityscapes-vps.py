# Video K-Net Swin-B on Cityscapes-VPS: the R50 Cityscapes-VPS config (data, 19 trainIds with
# 8 things first, 8 epochs with the step at 7, AdamW with backbone lr x0.25) with the backbone of
# the Swin-B VIPSeg config, as the paper swaps only the backbone between its R50 and Swin-B rows:
# torchvision Swin-B (ImageNet weights from a local file; no download; window 7, drop path 0.3)
# and FPN inputs 128/256/512/1024 channels.
# Parameters: 101,809,412 (the Swin-B VIPSeg model's 101,917,352 with 19 instead of 124 classes:
# conv_seg and the 3 stages' fc_cls lose 105 rows of 256 + 1).
# As for R50, the paper fine-tunes a Cityscapes-pretrained K-Net: set `load_from` to a 19-class
# Swin-B K-Net trained in this label order.
_base_ = ['./video-knet_r50_fpn_8xb1-8e_cityscapes-vps.py']
model = dict(
    backbone=dict(_delete_=True, type='TVSwin', arch='b', window_size=7, drop_path_rate=0.3,
                  out_indices=(0, 1, 2, 3), pretrained='checkpoints/swin_b-68c6b09e.pth'),
    neck=dict(in_channels=[128, 256, 512, 1024]))
