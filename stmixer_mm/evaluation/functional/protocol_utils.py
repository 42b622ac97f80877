"""Building blocks of :mod:`.tube_protocols` as MOC-Detector's
``src/ACT_utils/ACT_utils.py`` (``iou2d``, ``nms2d``, ``nms_tubelets``,
``iou3dt``, ``nms3dt``, ``pr_to_ap``) and the official MultiSports
``evaluate_multisports.py`` (``iou2d_voc``, ``iou3dt_voc``, ``pr_to_ap_voc``)
compute them (same arithmetic, dtypes and tie-breaking)."""
from collections.abc import ItemsView
from typing import (Callable, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Sequence, Tuple)

import numpy as np

from stmixer_mm.utils.checks import check_ints, check_range

#: Classes the official MultiSports evaluation never scores (by name).
MULTISPORTS_IGNORED = ('aerobic kick jump', 'aerobic off axis jump',
                       'aerobic butterfly jump', 'aerobic balance turn',
                       'basketball save', 'basketball jump ball')

#: Linking defaults: MOC's ``BuildTubes`` / mmaction2's ``link_tubes`` and
#: MOC's ``videoAP`` 3-D NMS (``nms_3d_iou``; MultiSports has none).
LINK_DEFAULTS = {
    'ucf_jhmdb':
    dict(
        link_iou=0.5,
        nms_iou=0.6,
        top_k=10,
        min_score=0.005,
        min_length=15,
        nms_3d_iou=0.3),
    'multisports':
    dict(link_iou=0.5, nms_iou=0.6, top_k=10, min_score=0.005, min_length=15),
}


def link_value(key: str, value, owner: str):
    """A linking value, checked where ``link_cfg`` is read and by
    ``TubeMetric`` when built (a threshold above 1 or ``top_k=0`` links
    nothing: video-mAP 0; ``min_length=0`` keeps every tube, as 1):
    ``top_k`` an int >= 1, ``min_length`` an int >= 0, ``min_score`` in
    [0, 1], the IoU thresholds in (0, 1]; else a ValueError
    ``<owner>: <key> must be ...``."""
    if key in ('top_k', 'min_length'):
        check_ints(owner, 1 if key == 'top_k' else 0, **{key: value})
        return int(value)
    check_range(owner, '[0, 1]' if key == 'min_score' else '(0, 1]',
                **{key: value})
    return float(value)


def unknown_link_keys(protocol: str, link_cfg: Mapping) -> Optional[str]:
    """None, or the problem of ``link_cfg`` keys the protocol's linking has
    not (:data:`LINK_DEFAULTS`; ``nms_3d_iou`` is ``'ucf_jhmdb'``'s only).

    Args:
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'`` (another name
            allows no key).
        link_cfg (Mapping): The linking values given.

    Returns:
        str | None: A message naming the unknown keys and the allowed
        ones, or None.
    """
    allowed = tuple(LINK_DEFAULTS.get(protocol, ()))
    unknown = sorted(map(str, set(link_cfg) - set(allowed)))
    if not unknown:
        return None
    return (f'link_cfg keys {unknown} do not exist for protocol '
            f'{protocol!r}; allowed: {allowed}')


def link_settings(protocol: str, link_cfg: Mapping) -> Tuple[dict, bool, type]:
    """The checked linking values of a protocol.

    Args:
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        link_cfg (Mapping): Values replacing :data:`LINK_DEFAULTS`' (each
            checked by :func:`link_value`).

    Returns:
        tuple: ``(values, moc, dtype)``: :data:`LINK_DEFAULTS` updated by
        ``link_cfg``, whether it is MOC's (``'ucf_jhmdb'``) and its dtype
        (MOC float32, MultiSports float64).

    Raises:
        ValueError: An unknown protocol or ``link_cfg`` key; a value of
            the wrong type or range (``link_cfg: <key> must be ...``).
    """
    if protocol not in LINK_DEFAULTS:
        raise ValueError(f'unknown protocol {protocol!r}; one of '
                         f'{tuple(LINK_DEFAULTS)}')
    if not isinstance(link_cfg, Mapping):
        raise ValueError(f'link_cfg: expected a dict, got {link_cfg!r} '
                         f'({type(link_cfg).__name__})')
    problem = unknown_link_keys(protocol, link_cfg)
    if problem is not None:
        raise ValueError(problem)
    moc = protocol == 'ucf_jhmdb'
    values = dict(LINK_DEFAULTS[protocol])
    for key, value in link_cfg.items():
        values[key] = link_value(key, value, 'link_cfg')
    return values, moc, np.float32 if moc else np.float64


class PackedFrames(Mapping):
    """``{frame: rows}`` of one class and video held as one array: the
    frames ``(F, )`` ascending, ``bounds`` ``(F + 1, )`` and ``rows``
    ``(N, ...)``, frame ``frames[i]``'s rows ``rows[bounds[i]:bounds[i +
    1]]`` (a view made when asked for). A frame dict holds a numpy array per
    frame, about 100 bytes of header each: for UCF101-24's test set that is
    3.9 M arrays for 1.6 M rows; packed, a detection costs its 20 bytes.

    Args:
        frames (np.ndarray): ``(F, )`` int64, ascending, distinct.
        bounds (np.ndarray): ``(F + 1, )`` int64 row offsets, from 0.
        rows (np.ndarray): ``(N, ...)`` the frames' rows in frame order.
    """
    __slots__ = ('frames', 'bounds', 'rows')

    def __init__(self, frames: np.ndarray, bounds: np.ndarray,
                 rows: np.ndarray) -> None:
        self.frames, self.bounds, self.rows = frames, bounds, rows

    @classmethod
    def pack(cls, items: Iterable[Tuple[int, np.ndarray]],
             empty: np.ndarray) -> 'PackedFrames':
        """The packed mapping of ``(frame, rows)`` pairs.

        Args:
            items (Iterable[tuple[int, np.ndarray]]): Frames with their
                rows, each frame once (any order).
            empty (np.ndarray): A ``(0, ...)`` array of the rows' shape and
                dtype (for no frame at all).

        Returns:
            PackedFrames: The same mapping.
        """
        items = sorted(items, key=lambda x: x[0])
        frames = np.array([f for f, _ in items], np.int64)
        bounds = np.zeros(len(items) + 1, np.int64)
        np.cumsum([len(r) for _, r in items], out=bounds[1:])
        rows = np.concatenate([r for _, r in items]) if items else empty
        return cls(frames, bounds, rows)

    def _index(self, frame) -> int:
        i = int(np.searchsorted(self.frames, frame))
        if i == len(self.frames) or self.frames[i] != frame:
            raise KeyError(frame)
        return i

    def __getitem__(self, frame) -> np.ndarray:
        i = self._index(frame)
        return self.rows[self.bounds[i]:self.bounds[i + 1]]

    def __contains__(self, frame) -> bool:
        try:
            self._index(frame)
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[int]:
        return iter(self.frames.tolist())

    def __len__(self) -> int:
        return len(self.frames)

    def items(self) -> ItemsView:
        """``(frame, rows)`` in frame order, without a lookup per frame."""
        return _PackedItems(self)

    def __repr__(self) -> str:
        return (f'PackedFrames({len(self.frames)} frames, rows '
                f'{tuple(self.rows.shape)} {self.rows.dtype})')


class _PackedItems(ItemsView):

    def __iter__(self):
        m, b = self._mapping, self._mapping.bounds.tolist()
        for i, frame in enumerate(m.frames.tolist()):
            yield frame, m.rows[b[i]:b[i + 1]]


FrameDets = Mapping[int, Mapping[int, Mapping[int, np.ndarray]]]
#: A built tube: ``(boxes [L, 6] float32 frame x1 y1 x2 y2 s, score)``.
BuiltTube = Tuple[np.ndarray, np.floating]


# --- Box IoU: MOC counts pixels inclusively (+ 1), MultiSports does not ---
def iou_inclusive(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of ``boxes`` ``[n, 4]`` with ``box`` ``[4]`` (-> ``[n]``) or each
    row of ``box`` ``[m, 4]`` (-> ``[m, n]``), widths ``x2 - x1 + 1`` (MOC's
    ``iou2d``, in the inputs' dtype).

    Args:
        boxes (np.ndarray): ``(n, 4)``, x1 y1 x2 y2 pixels.
        box (np.ndarray): ``(4, )`` or ``(m, 4)``.

    Returns:
        np.ndarray: ``(n, )`` or ``(m, n)``.
    """
    return _iou(boxes, box, True)


def iou_continuous(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """As :func:`iou_inclusive` with widths ``x2 - x1`` (MultiSports'
    ``iou2d_voc``; NaN for two empty boxes, as there).

    Args:
        boxes (np.ndarray): ``(n, 4)``, x1 y1 x2 y2 pixels.
        box (np.ndarray): ``(4, )`` or ``(m, 4)``.

    Returns:
        np.ndarray: ``(n, )`` or ``(m, n)``.
    """
    return _iou(boxes, box, False)


def _iou(boxes: np.ndarray, box: np.ndarray, inclusive: bool) -> np.ndarray:
    if box.ndim == 2:
        return paired_iou(boxes[None], box[:, None], inclusive)
    return paired_iou(boxes, box, inclusive)


def paired_iou(b1: np.ndarray, b2: np.ndarray, inclusive: bool) -> np.ndarray:
    """Element-wise IoU of two (broadcast) ``[..., 4]`` box arrays.

    Args:
        b1 (np.ndarray): ``(..., 4)``, x1 y1 x2 y2.
        b2 (np.ndarray): ``(..., 4)``, broadcast against ``b1``.
        inclusive (bool): Widths ``x2 - x1 + 1`` (MOC) or ``x2 - x1``.

    Returns:
        np.ndarray: The broadcast shape without the last dimension (NaN
        where both areas are 0).
    """
    one = 1 if inclusive else 0
    wh = np.maximum(
        0,
        np.minimum(b1[..., 2:4] + one, b2[..., 2:4] + one) -
        np.maximum(b1[..., :2], b2[..., :2]))
    inter = wh[..., 0] * wh[..., 1]
    with np.errstate(invalid='ignore', divide='ignore'):
        return inter / (_area(b1, one) + _area(b2, one) - inter)


def _area(b: np.ndarray, one: int) -> np.ndarray:
    return (b[..., 2] - b[..., 0] + one) * (b[..., 3] - b[..., 1] + one)


# --- AP forms ---
def ap_trapezoid(pr: np.ndarray) -> np.floating:
    """MOC's ``pr_to_ap``: trapezoids between consecutive (precision,
    recall) rows; ``pr`` starts with the row ``(1, 0)``."""
    return np.sum((pr[1:, 1] - pr[:-1, 1]) * (pr[1:, 0] + pr[:-1, 0]) * 0.5)


def ap_voc(pr: np.ndarray) -> np.floating:
    """VOC all-point AP of (precision, recall) rows (MultiSports'
    ``pr_to_ap_voc``)."""
    recall = np.concatenate([[0], pr[:, 1], [1]])
    precision = np.concatenate([[0], pr[:, 0], [0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return np.sum((recall[steps] - recall[steps - 1]) * precision[steps])


def hits_ap(hits: Sequence[bool], num_gt: int, moc: bool) -> np.floating:
    """AP of detections by descending score, ``hits`` telling the true
    positives, against ``num_gt``: MOC's float32 :func:`ap_trapezoid` from
    ``(1, 0)`` (``moc``) or :func:`ap_voc`.

    Args:
        hits (Sequence[bool]): Per detection by descending score, whether
            it is a true positive.
        num_gt (int): Ground-truth items.
        moc (bool): MOC's trapezoid AP (float32) rather than VOC's.

    Returns:
        np.floating: The AP, a fraction.
    """
    tp = np.cumsum(np.asarray(hits, bool))
    pr = np.stack([tp / np.arange(1, len(tp) + 1), tp / num_gt], axis=1)
    if moc:
        return ap_trapezoid(
            np.concatenate([[[1.0, 0.0]], pr]).astype(np.float32))
    return ap_voc(pr)


# --- Per-frame score decay (MOC's nms2d / nms_tubelets, K = 1) ---
def soft_decay(dets: np.ndarray, iou_thr: float) -> np.ndarray:
    """A copy of ``dets`` ``[n, 5]`` with scores decayed
    (:func:`decay_weights`, inclusive IoU, in ``dets``' dtype); nothing
    removed, order kept.

    Args:
        dets (np.ndarray): ``(n, 5)``, x1 y1 x2 y2 score (pixels).
        iou_thr (float): IoU above which a lower-scored box decays.

    Returns:
        np.ndarray: ``(n, 5)``, a copy with the decayed scores.
    """
    dets = np.array(dets, copy=True)
    x1, y1, x2, y2, scores = (dets[:, c] for c in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    # pairwise IoU [i, j] with the reference's element-wise operations
    w = np.maximum(
        0,
        np.minimum(x2[:, None], x2[None, :]) -
        np.maximum(x1[:, None], x1[None, :]) + 1)
    h = np.maximum(
        0,
        np.minimum(y2[:, None], y2[None, :]) -
        np.maximum(y1[:, None], y1[None, :]) + 1)
    inter = w * h
    ious = inter / (areas[None, :] + areas[:, None] - inter)
    dets[:, 4] = scores * decay_weights(ious, scores, iou_thr)
    return dets


def decay_weights(ious: np.ndarray, scores: np.ndarray,
                  iou_thr: float) -> np.ndarray:
    """The decay factors from pairwise IoUs ``[n, n]``: from the highest score
    down, every row with IoU ``> iou_thr`` with the current one gets
    ``1 - IoU`` and leaves the candidates (decaying nothing itself).

    Args:
        ious (np.ndarray): ``(n, n)`` pairwise IoUs.
        scores (np.ndarray): ``(n, )``.
        iou_thr (float): IoU above which a row decays.

    Returns:
        np.ndarray: ``(n, )`` factors in the dtype of ``scores`` (1 where
        not decayed).
    """
    weight = np.ones_like(scores)
    order = np.argsort(scores)[::-1]
    while order.size > 0:
        i, rest = order[0], order[1:]
        hit = ious[i, rest] > iou_thr
        weight[rest[hit]] = 1 - ious[i, rest[hit]]
        order = rest[~hit]
    return weight


# --- Spatio-temporal IoU and 3-D NMS ---


def _frame_index(tube: np.ndarray, frame) -> int:
    idx = np.flatnonzero(tube[:, 0] == frame)
    if idx.size != 1:
        raise ValueError(
            f'frame {frame:g} occurs {idx.size} times in a tube with frames '
            f'{tube[0, 0]:g}..{tube[-1, 0]:g}')
    return int(idx[0])


def tube_iou(b1: np.ndarray, b2: np.ndarray, inclusive: bool):
    """Spatio-temporal IoU as MOC's ``iou3dt`` (inclusive frame counts, ``+ 1``
    box IoU) / MultiSports' ``iou3dt_voc`` (``tmax - tmin``, continuous IoU).

    Tubes ``[L, >= 5]`` with ascending frames: temporal IoU times the mean box
    IoU over the overlap, 0.0 without overlap. Raises :class:`ValueError`
    where the reference crashes (an overlap end frame missing or repeated, or
    the overlaps' frames differ).

    Args:
        b1 (np.ndarray): ``(L1, >= 5)`` rows frame x1 y1 x2 y2 ...,
            ascending frames.
        b2 (np.ndarray): ``(L2, >= 5)``, likewise.
        inclusive (bool): MOC's counts (``True``) or MultiSports'.

    Returns:
        float: The spatio-temporal IoU (a numpy float where the tubes
        overlap).
    """
    tmin = max(b1[0, 0], b2[0, 0])
    tmax = min(b1[-1, 0], b2[-1, 0])
    if tmax < tmin:
        return 0.0
    one = 1 if inclusive else 0
    inter = tmax - tmin + one
    union = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0]) + one
    t1 = b1[_frame_index(b1, tmin):_frame_index(b1, tmax) + 1]
    t2 = b2[_frame_index(b2, tmin):_frame_index(b2, tmax) + 1]
    if t1.shape[0] != t2.shape[0] or not np.all(t1[:, 0] == t2[:, 0]):
        raise ValueError(
            f'the tubes have different frames in their overlap '
            f'{tmin:g}..{tmax:g} ({t1.shape[0]} and {t2.shape[0]} rows)')
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.mean(paired_iou(t1[:, 1:5], t2[:, 1:5], inclusive)) * (
            inter / union)


def nms_3d(tubes: Sequence[BuiltTube], iou_thr: float) -> List[int]:
    """MOC's ``nms3dt``: indices of the kept tubes, best first; a tube with
    inclusive spatio-temporal IoU ``> iou_thr`` with a kept one is dropped.

    Args:
        tubes (Sequence[tuple]): ``(boxes (L, 6), score)`` tubes of one
            class and video.
        iou_thr (float): IoU above which a tube is dropped.

    Returns:
        list[int]: Indices into ``tubes`` of the kept ones, by descending
        score.
    """
    if not tubes:
        return []
    order = np.argsort([t[1] for t in tubes])
    keep = []
    while order.size > 0:
        i = order[-1]
        keep.append(int(i))
        ious = np.array(
            [tube_iou(tubes[j][0], tubes[i][0], True) for j in order[:-1]])
        order = order[np.flatnonzero(ious <= iou_thr)]
    return keep


def protocol_tubes(gt: Mapping, videos: Sequence[str], protocol: str,
                   link_cfg: Mapping, build: Callable) -> Dict[int, list]:
    """``{label: [(video, score, boxes [L, 6] float32 frame x1 y1 x2 y2
    box_score), ...]}``, video by video, of ``build(label index, video index,
    video, values, moc, dtype)``'s ``(boxes, score)`` tubes (values, moc,
    dtype: :func:`link_settings`), after MOC's 3-D NMS at ``nms_3d_iou``
    where given (the ``'ucf_jhmdb'`` default).

    Args:
        gt (Mapping): ACT ground truth (its ``labels``).
        videos (Sequence[str]): Video names by index.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        link_cfg (Mapping): Linking values (:func:`link_settings`).
        build (Callable): ``build(label index, video index, video, values,
            moc, dtype)`` -> list of ``(boxes, score)`` tubes.

    Returns:
        dict[int, list]: Per label index, ``(video, score, boxes (L, 6))``
        tubes, video by video.
    """
    cfg, moc, dtype = link_settings(protocol, link_cfg)
    nms_3d_iou = cfg.pop('nms_3d_iou', None)
    out = {}
    for ilabel in range(len(gt['labels'])):
        tubes = []
        for iv, v in enumerate(videos):
            built = build(ilabel, iv, v, cfg, moc, dtype)
            keep = range(len(built)) if nms_3d_iou is None else \
                nms_3d(built, nms_3d_iou)
            tubes += [(v, built[i][1], built[i][0]) for i in keep]
        out[ilabel] = tubes
    return out
