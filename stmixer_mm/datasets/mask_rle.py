"""The actor mask file's RLE run reader and writer (the format is described
in :mod:`stmixer_mm.datasets.actor_masks`, which reads it; the COCO RLE
codec is pycocotools', :mod:`stmixer_mm.utils.coco_rle`)."""
import json
from typing import Iterable, List

MASK_FILE_FORMAT = 'stmixer_mm-actor-masks'
MASK_FILE_VERSION = 1


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


def write_mask_file(path: str, records: Iterable[dict]) -> int:
    """Write the records (``video_id``, ``timestamp``, ``person_id``,
    ``size``, ``counts``) as a mask file; returns their number."""
    records = list(records)
    with open(path, 'w') as f:
        json.dump(
            dict(
                format=MASK_FILE_FORMAT,
                version=MASK_FILE_VERSION,
                masks=records), f)
    return len(records)
