"""Actor mask files: one COCO RLE person mask per keyframe and person, read
by :class:`AVAMaskDataset` (``mask_file``, docs/en/masks.md; written by
the synthetic data generator, ``write_mask_file``)::

    {"format": "stmixer_mm-actor-masks", "version": 1, "masks": [{"video_id":
     "v_000", "timestamp": 902, "person_id": 0, "size": [H, W], "counts":
     "<COCO RLE of the Fortran-ordered uint8 mask>"}, ...]}
"""
from typing import Dict, List, Optional, Tuple

from mmengine import fileio
from mmengine.logging import MMLogger

from stmixer_mm.apps.data_gen.writers import (MASK_FILE_FORMAT,
                                              MASK_FILE_VERSION)
from stmixer_mm.datasets.ava_dataset import AVAActorDataset
from stmixer_mm.datasets.ava_files import ava_person_lines
from stmixer_mm.datasets.fileio_utils import is_file
from stmixer_mm.datasets.json_input import parse_json
from stmixer_mm.registry import DATASETS

__all__ = ['run_lengths', 'load_mask_file', 'AVAMaskDataset']

#: ``(video_id, timestamp, person_id)``
MaskKey = Tuple[str, int, int]


# not pycocotools': it decodes runs short of the size into arbitrary pixels
# (2x2 runs at size 4x4: 9 pixels set) and refuses others naming nothing
def run_lengths(counts: str) -> List[int]:
    """The run lengths (background first, then foreground, alternating) of
    a COCO compressed RLE string, read without decoding the mask: each
    number is 5-bit groups (ASCII 48 + the group, bit 0x20: another group
    follows, bit 0x10 of the last: negative), from the third on a
    difference to the number two before (pycocotools' ``rleFrString``).

    Raises:
        ValueError: a character outside the alphabet, a number cut off at
            the end, or a negative run.
    """
    runs: List[int] = []
    data = counts.encode('ascii', 'replace')
    p = 0
    while p < len(data):
        x = k = 0
        more = True
        while more:
            if p == len(data):
                raise ValueError('the last run is cut off')
            c = data[p] - 48
            if not 0 <= c < 64:
                raise ValueError(f'character {chr(data[p])!r} at {p} is not '
                                 'of the RLE alphabet')
            x |= (c & 0x1f) << 5 * k
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << 5 * k
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            raise ValueError(f'run {len(runs)} is negative ({x})')
        runs.append(x)
    return runs


def load_mask_file(path: str,
                   backend_args: Optional[dict] = None) -> Dict[MaskKey, dict]:
    """``{(video_id, timestamp, person_id): rle}`` of a mask file, each
    ``rle`` with ``size``, ``counts`` and its pixel count ``area``.

    Args:
        path (str): The JSON mask file (format in the module docstring).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[tuple[str, int, int], dict]: Keyed by ``(video_id, timestamp,
        person_id)``; each value has ``size`` ([height, width]),
        ``counts`` (str, COCO compressed RLE) and ``area`` (int, mask
        pixels).

    Raises:
        FileNotFoundError: When the file is missing.
        ValueError: Naming the file and record: not a mask file, a bad
            field (counts must cover ``size`` exactly), or a repeated key.
    """
    if not is_file(path, backend_args):
        raise FileNotFoundError(f'actor mask file {path} not found')
    try:
        data = parse_json(
            fileio.get(path, backend_args=backend_args),
            f'actor mask file {path}')
    except ValueError as e:
        raise ValueError(f'{e}; expected an actor mask file') from None
    if not isinstance(data, dict) or data.get('format') != MASK_FILE_FORMAT:
        raise ValueError(
            f'actor mask file {path}: expected a JSON object with '
            f'"format": "{MASK_FILE_FORMAT}" (see docs/en/masks.md, '
            '"Actor mask files")')
    if data.get('version') != MASK_FILE_VERSION:
        raise ValueError(f'actor mask file {path}: version '
                         f'{data.get("version")!r}, this version reads '
                         f'{MASK_FILE_VERSION}')
    masks = {}
    for i, rec in enumerate(data.get('masks', [])):
        where = f'actor mask file {path}, masks[{i}]'
        if not isinstance(rec, dict):
            raise ValueError(f'{where}: expected an object, got {rec!r}')
        missing = [
            k for k in ('video_id', 'timestamp', 'person_id', 'size', 'counts')
            if k not in rec
        ]
        if missing:
            raise ValueError(f'{where}: missing {missing}')
        size = rec['size']
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(s, int) and s > 0 for s in size)):
            raise ValueError(f'{where}: "size" must be [height, width] '
                             f'(positive integers), got {size!r}')
        if not isinstance(rec['counts'], str):
            raise ValueError(f'{where}: "counts" must be a COCO compressed '
                             'RLE string')
        for field in ('timestamp', 'person_id'):
            if not isinstance(rec[field], int) or rec[field] < 0:
                raise ValueError(f'{where}: "{field}" must be an integer '
                                 f'>= 0, got {rec[field]!r}')
        # runs must cover the size exactly (pycocotools fails later naming
        # nothing on more; fewer would be read short)
        try:
            runs = run_lengths(rec['counts'])
        except ValueError as e:
            raise ValueError(f'{where}: "counts" is not a valid COCO '
                             f'compressed RLE: {e}') from None
        if sum(runs) != size[0] * size[1]:
            raise ValueError(
                f'{where}: "counts" has runs adding up to {sum(runs)} '
                f'pixels, but "size" {size} has {size[0] * size[1]} (the '
                'RLE of another mask size, or damaged)')
        area = sum(runs[1::2])
        key = (str(rec['video_id']), rec['timestamp'], rec['person_id'])
        if key in masks:
            raise ValueError(f'{where}: a second mask of video '
                             f'{key[0]!r}, timestamp {key[1]}, person '
                             f'{key[2]}')
        masks[key] = dict(size=size, counts=rec['counts'], area=area)
    return masks


@DATASETS.register_module()
class AVAMaskDataset(AVAActorDataset):
    """``AVAActorDataset`` whose samples also carry each box's actor mask
    (``gt_masks_rle``, one COCO RLE per box, read by ``LoadActorMasks``)
    from an actor mask file.

    Args:
        *args: Those of ``AVAActorDataset``.
        mask_file (str): The actor mask file (format in this module's
            docstring): a mask for every box of ``ann_file``, none for a
            person it does not have.
        **kwargs: Those of ``AVAActorDataset``.
    """

    def __init__(self, *args, mask_file: str, **kwargs) -> None:
        if not isinstance(mask_file, str) or not mask_file:
            raise ValueError('AVAMaskDataset: mask_file must be the path of '
                             f'an actor mask file, got {mask_file!r}')
        self.mask_file = mask_file  # (read by load_data_list in __init__)
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """``AVAActorDataset``'s samples with ``gt_masks_rle`` and
        ``mask_file``; a box without a mask, an empty mask or a mask of a
        person the csv does not have is refused naming the file."""
        data_list = super().load_data_list()
        self._attach_masks(data_list)
        return data_list

    def _attach_masks(self, data_list: List[dict]) -> None:
        """``gt_masks_rle`` (one RLE per box) and ``mask_file`` of samples."""
        masks = load_mask_file(self.mask_file, self.backend_args)
        used = set()
        for info in data_list:
            ann = info['ann']
            rles = []
            for pid in ann['entity_ids']:
                key = (info['video_id'], int(info['timestamp']), int(pid))
                where = (f'actor mask file {self.mask_file}: video '
                         f'{key[0]!r}, timestamp {key[1]}, person {key[2]} '
                         f'(a box of {self.ann_file})')
                if key not in masks:
                    raise ValueError(f'{where}: no mask; every annotated '
                                     'box needs one')
                rle = masks[key]
                if not rle['area']:
                    raise ValueError(f'{where}: the mask is empty (no '
                                     'person pixel)')
                rles.append(rle)
                used.add(key)
            info['gt_masks_rle'] = rles
            info['mask_file'] = self.mask_file
        unused = set(masks) - used
        if not unused:
            return
        rows = ava_person_lines(self.ann_file, unused, self.backend_args)
        stray = sorted(unused - set(rows))
        if stray:  # a person the csv does not have: its mask is no GT
            raise ValueError(
                f'actor mask file {self.mask_file}: {len(stray)} mask '
                f'record(s) have no row in the AVA annotation file '
                f'{self.ann_file}: ' +
                ', '.join(f'video {v!r} timestamp {t} person {p}'
                          for v, t, p in stray[:5]) +
                (', ...' if len(stray) > 5 else '') +
                '. Each mask is the mask of one box row (video_id, '
                'timestamp, person_id: columns 1, 2 and 8); a wrong '
                'person_id, or the mask file of another csv (one mask '
                'file per csv)?')
        # rows the data set drops (custom_classes, degenerate_boxes='drop')
        MMLogger.get_current_instance().warning(
            f'actor mask file {self.mask_file}: {len(rows)} mask record(s) '
            f'belong to rows of {self.ann_file} that the data set drops '
            '(an action outside custom_classes, a zero-area box) and are '
            'not used, e.g. (video, timestamp, person) '
            f'{sorted(rows)[:3]} (line {min(rows.values())})')
