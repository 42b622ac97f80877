"""Numpy post-processing of the exported graph's raw outputs: the twin of
``STMixerBBoxHead.predict_ava`` (``label_convention='ava'``; boxes normalised
by the un-padded ``H x W``, score column 0 (background) is 0)."""
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from stmixer_mm.models.roi_heads.bbox_heads.stmixer_bbox_head import \
    TEST_CFG_DEFAULTS
from stmixer_mm.models.roi_heads.stmixer_heads_decoder import EXPORT_HEADS
from .onnx_export import OUTPUT_NAMES

#: ``test_cfg`` keys of the ``'ava'`` post-processing and their defaults.
AVA_TEST_CFG_DEFAULTS = dict(TEST_CFG_DEFAULTS['ava'])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def person_scores_from_logits(person_logits: np.ndarray,
                              use_sigmoid: bool) -> np.ndarray:
    """Person probability ``[...]`` from ``[..., K]`` logits (column 0 the
    person class; softmax, or with ``use_sigmoid`` a sigmoid of ``K = 1``)."""
    logits = np.asarray(person_logits, dtype=np.float32)
    if use_sigmoid:
        return sigmoid(logits[..., 0])
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp[..., 0] / exp.sum(axis=-1)


def postprocess_ava(person_logits: np.ndarray,
                    action_logits: np.ndarray,
                    bboxes: np.ndarray,
                    img_shape: Sequence[int],
                    test_cfg: Optional[Mapping] = None,
                    use_sigmoid_person: bool = False) -> list:
    """AVA detections from the raw outputs of the exported graph.

    Args:
        person_logits (np.ndarray): ``[B, N, K]``.
        action_logits (np.ndarray): ``[B, N, A]``.
        bboxes (np.ndarray): ``[B, N, 4]``, xyxy pixels of the network input.
        img_shape (Sequence[int]): ``(H, W)`` without the padding.
        test_cfg (Mapping, optional): ``person_threshold``, ``num_fallback``,
            ``multiply_person_score``; else :data:`AVA_TEST_CFG_DEFAULTS`.
        use_sigmoid_person (bool): Whether the person classifier is a sigmoid.

    Returns:
        list[dict[str, np.ndarray]]: Per clip ``bboxes`` ``[n, 4]``
        (normalised xyxy), ``scores`` ``[n, A + 1]``, ``person_scores``
        ``[n]``, ``query_indices`` ``[n]`` (the kept queries).

    Raises:
        ValueError: the arrays do not fit together or unknown test_cfg keys.
    """
    person_logits = np.asarray(person_logits, dtype=np.float32)
    action_logits = np.asarray(action_logits, dtype=np.float32)
    bboxes = np.asarray(bboxes, dtype=np.float32)
    if person_logits.ndim != 3 or action_logits.ndim != 3 or \
            bboxes.ndim != 3 or bboxes.shape[-1] != 4 or \
            not (person_logits.shape[:2] == action_logits.shape[:2] ==
                 bboxes.shape[:2]):
        raise ValueError(
            'expected person_logits [B, N, K], action_logits [B, N, A] and '
            'bboxes [B, N, 4] with the same B and N, got '
            f'{person_logits.shape}, {action_logits.shape}, {bboxes.shape}')
    unknown = set(test_cfg or {}) - set(AVA_TEST_CFG_DEFAULTS)
    if unknown:
        raise ValueError(
            f'test_cfg has {sorted(unknown)}; the AVA post-processing takes '
            f'{sorted(AVA_TEST_CFG_DEFAULTS)}')
    cfg = {**AVA_TEST_CFG_DEFAULTS, **(test_cfg or {})}
    h, w = (int(v) for v in img_shape[:2])
    person_scores = person_scores_from_logits(person_logits,
                                              use_sigmoid_person)
    action_scores = sigmoid(action_logits)
    results = []
    for i in range(person_scores.shape[0]):
        scores_i = person_scores[i]
        keep = np.flatnonzero(scores_i >= cfg['person_threshold'])
        if keep.size == 0:
            k = min(int(cfg['num_fallback']), scores_i.size)
            # best first, as torch.topk
            keep = np.argsort(-scores_i, kind='stable')[:k]
        scores = action_scores[i][keep]
        if cfg['multiply_person_score']:
            scores = scores * scores_i[keep, None]
        boxes = bboxes[i][keep].copy()
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w - 1) / np.float32(w)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h - 1) / np.float32(h)
        results.append(
            dict(
                bboxes=boxes.astype(np.float32),
                scores=np.pad(scores.astype(np.float32), ((0, 0), (1, 0))),
                person_scores=scores_i[keep].astype(np.float32),
                query_indices=keep.astype(np.int64)))
    return results


def postprocess(outputs: Union[Sequence[np.ndarray], Mapping[str, np.ndarray]],
                meta: Mapping,
                test_cfg: Optional[Mapping] = None,
                fallback_queries: bool = False) -> list:
    """:func:`postprocess_ava` with the settings of an export's metadata.

    Args:
        outputs (Sequence[np.ndarray] | Mapping[str, np.ndarray]): The
            graph's outputs in ``meta['output_names']`` order, or by name.
        meta (Mapping): :func:`read_export_meta` of the ONNX file.
        test_cfg (Mapping, optional): Overrides of ``meta['test_cfg']``.
        fallback_queries (bool): Keep the config's ``num_fallback`` (as
            ``tools/test.py``) or use 0 (default, as ``init_detector``);
            ``test_cfg['num_fallback']`` wins over both.

    Returns:
        list[dict[str, np.ndarray]]: As :func:`postprocess_ava`; each task
        head output of the graph adds its head's ``export_fields``, by its
        ``postprocess_export``.

    Raises:
        ValueError: ``outputs`` are not the graph's outputs, or an output of
            a task head whose module is not imported.
    """
    if meta.get('label_convention', 'ava') != 'ava':
        raise ValueError(
            'the post-processing of stmixer_mm.apps.deployment covers '
            "label_convention='ava'; this export has "
            f"label_convention={meta.get('label_convention')!r} (its raw "
            'outputs are still valid; see STMixerBBoxHead.predict_mmdet)')
    names = list(meta['output_names'])
    if isinstance(outputs, Mapping):
        missing = [n for n in names if n not in outputs]
        if missing:
            raise ValueError(
                f'postprocess: the outputs dict has keys {sorted(outputs)}; '
                f'expected the graph\'s outputs {names} (missing '
                f'{missing})')
        named: Dict[str, np.ndarray] = {n: outputs[n] for n in names}
    else:
        if isinstance(outputs, (str, bytes, np.ndarray)) or \
                not isinstance(outputs, Sequence) or \
                len(outputs) != len(names):
            got = (f'{len(outputs)} items' if isinstance(outputs, Sequence)
                   and not isinstance(outputs, (str, bytes)) else
                   type(outputs).__name__)
            raise ValueError(
                f'postprocess: expected the graph\'s {len(names)} outputs '
                f'{names} (a list in that order, as InferenceSession.run('
                f'None, ...) returns them, or a dict by name), got {got}')
        named = dict(zip(names, outputs))
    heads = {n: EXPORT_HEADS.get(n) for n in names[len(OUTPUT_NAMES):]}
    unknown = [n for n, head in heads.items() if head is None]
    if unknown:
        raise ValueError(
            f'postprocess: the export has the outputs {unknown} of task heads '
            'whose modules are not imported (EXPORT_HEADS lists '
            f'{sorted(EXPORT_HEADS)}); import them first (the config\'s '
            'custom_imports)')
    cfg = dict(meta['test_cfg'])
    if not fallback_queries:
        cfg['num_fallback'] = 0
    cfg.update(test_cfg or {})
    results = postprocess_ava(
        named['person_logits'],
        named['action_logits'],
        named['bboxes'],
        meta['img_shape'],
        test_cfg=cfg,
        use_sigmoid_person=meta['use_sigmoid_person'])
    for name, head in heads.items():
        for i, res in enumerate(results):
            res.update(
                head.postprocess_export(named[name][i][res['query_indices']],
                                        meta))
    return results
