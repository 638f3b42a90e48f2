# Video K-Net R50-FPN for Cityscapes-VPS. The original ships no working model for it (its only
# base is the plain image K-Net with 133 COCO classes), so this is the KITTI-STEP Video K-Net of
# `video-knet_r50_fpn_kitti-step.py` (the model the original trains on KITTI-STEP and VIPSeg:
# targets and masks at stride 2, softmax semantic loss, RPN-only rank loss, instance score
# threshold 0.25, SyncBN backbone) with the Cityscapes-VPS label space.
_base_ = './video-knet_r50_fpn_kitti-step.py'

# 8 things (person, rider, car, truck, bus, train, motorcycle, bicycle = trainIds 11..18) and 11
# stuff classes (trainIds 0..10). Model labels: the things first, then the stuff trainIds
# ascending (the original's `cityscapes=True` order); equals
# vseg.panoptic.model_label_order(19, thing_ids).
num_thing_classes = 8
num_stuff_classes = 11
thing_ids = [11, 12, 13, 14, 15, 16, 17, 18]
class_ids = thing_ids + [c for c in range(19) if c not in thing_ids]

model = dict(
    # 100 thing kernels + 11 stuff kernels (conv_seg rows 8..18) = 111 kernels.
    num_thing_classes=num_thing_classes,
    num_stuff_classes=num_stuff_classes,
    class_ids=class_ids)
