"""Base of the STEP-style panoptic datasets: a sorted list of annotated frames.

Frames are sorted by sequence then frame, each carrying ``seq_id`` and its frame index (the
layouts are in docs/data_formats.md). Subclasses only list their files (:meth:`scan_frames`);
this class adds the label facts of the metainfo to every data info (so transforms need no class
ids), validates the files with errors naming them, and never modifies the dataset.

A frame data info holds ``img_path``, ``seg_path`` (None without annotation), ``seg_format`` (a
:mod:`vseg.formats` name, e.g. ``'kitti-step'`` or ``'cityscapes'``), ``seq_id`` (int),
``seq_name`` (str, unique per sequence), ``frame_id`` (int), plus the label info ``thing_ids``,
``num_classes``, ``ignore_label`` and ``label_divisor``.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from PIL import Image

from knet.registry import TRANSFORMS
from .step_metainfo import step_metainfo
from .transforms.clip_utils import read_png
from .transforms.loading import check_panoptic, decode_panoptic

#: Accepted values of the ``validate`` argument.
VALIDATE_MODES = ('none', 'header', 'full')
#: Metainfo keys every panoptic dataset needs.
REQUIRED_META_KEYS = ('classes', 'thing_ids', 'ignore_label', 'label_divisor')


def png_size(path: str) -> tuple:
    """(h, w) of an image read from its header only; raises a ValueError naming the file."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(f'{path}: unreadable or corrupt image file ({error})') from error
    return height, width


class PanopticFrameDataset(BaseDataset):
    """Frames of a panoptic dataset in (sequence, frame) order; subclasses list the files.

    Args:
        data_root: dataset root folder.
        split: split name (e.g. ``'train'``, ``'val'``, ``'test'``).
        ann_required: every image must have an annotation; default True unless split is
            ``'test'`` (then annotations are used where present).
        validate: ``'none'``; ``'header'`` (default: every file's PNG header is readable and
            image/label sizes agree); ``'full'`` (also decode every file and check the ids).
        metainfo: overrides of the class ``METAINFO``.
        pipeline: transforms applied to each sample.
        test_mode: mmengine test mode (a pipeline returning None then raises).
        serialize_data: serialize the data list (shared memory across workers).
        max_refetch: retries with a random index when the pipeline returns None.
        lazy_init: defer :meth:`full_init`.
    """

    METAINFO: dict = step_metainfo()

    def __init__(self, data_root: str = '', split: str = 'train',
                 ann_required: Optional[bool] = None, validate: str = 'header',
                 metainfo: Optional[dict] = None, pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False, serialize_data: bool = True, max_refetch: int = 1000,
                 lazy_init: bool = False) -> None:
        if validate not in VALIDATE_MODES:
            raise ValueError(f"validate must be one of {VALIDATE_MODES}, got '{validate}'")
        self.split = split
        self.ann_required = split != 'test' if ann_required is None else ann_required
        self.validate = validate
        # Build config dicts in the knet registry, so no default scope is needed.
        transforms = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(ann_file='', metainfo=metainfo, data_root=data_root, data_prefix={},
                         pipeline=transforms, test_mode=test_mode,
                         serialize_data=serialize_data, max_refetch=max_refetch,
                         lazy_init=lazy_init)

    def scan_frames(self) -> List[dict]:
        """List the frames of ``self.split`` (without label info); implemented by subclasses."""
        raise NotImplementedError(f'{type(self).__name__} must implement scan_frames()')

    def label_info(self) -> Dict[str, Any]:
        """Label facts of the metainfo copied into every data info (for the transforms)."""
        missing = [key for key in REQUIRED_META_KEYS if key not in self._metainfo]
        if missing:
            raise KeyError(f'{type(self).__name__}: metainfo lacks {missing}')
        return dict(thing_ids=tuple(int(t) for t in self._metainfo['thing_ids']),
                    num_classes=len(self._metainfo['classes']),
                    ignore_label=int(self._metainfo['ignore_label']),
                    label_divisor=int(self._metainfo['label_divisor']))

    def sorted_frames(self) -> List[dict]:
        """The scanned frames, validated and sorted by (``seq_name``, ``frame_id``)."""
        frames = sorted(self.scan_frames(), key=lambda f: (f['seq_name'], f['frame_id']))
        if self.validate != 'none':
            for frame in frames:
                self.check_frame(frame)
        return frames

    def check_frame(self, frame: dict) -> None:
        """Validate one frame's files (``validate`` mode); raises errors naming the file."""
        if self.validate == 'full':
            info = self.label_info()
            shape = read_png(frame['img_path'], color=True).shape[:2]
            if frame.get('seg_path'):
                semantic, _ = decode_panoptic(frame, info['thing_ids'])
                check_panoptic(dict(frame, ori_shape=shape), semantic, info['num_classes'],
                               info['ignore_label'])
            return
        shape = png_size(frame['img_path'])
        for key in ('seg_path', 'ins_path'):
            if frame.get(key) and png_size(frame[key]) != shape:
                raise ValueError(f'{frame[key]}: label size {png_size(frame[key])} (h, w) differs '
                                 f"from image {frame['img_path']} size {shape}")

    def load_data_list(self) -> List[dict]:
        """One data info per frame, in (sequence, frame) order, with the label info added."""
        info = self.label_info()
        return [dict(frame, **info) for frame in self.sorted_frames()]
