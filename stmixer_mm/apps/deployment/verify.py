"""Compare an exported STMixer graph run by ONNX Runtime with PyTorch."""
from typing import Dict, List, Mapping, Optional

import numpy as np
import torch
import torch.nn as nn

from stmixer_mm.models.detectors.stmixer import STMixer
from .onnx_export import (STMixerONNXWrapper, create_ort_session, export_heads,
                          keyframe_graph_differs, normalize_clip, run_ort)
from .postprocess import person_scores_from_logits, postprocess, sigmoid


def random_frames(meta: Mapping, seed: int = 0) -> List[np.ndarray]:
    """One random uint8 RGB clip ``[T, H, W, 3]`` per exported batch entry."""
    batch, _, t, h, w = meta['input_shape']
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
        for _ in range(batch)
    ]


def torch_predict(detector: nn.Module, frames: List[np.ndarray]) -> list:
    """``pred_instances`` (numpy dicts) of ``detector.test_step`` (a
    ``keyframe_only`` export: ``STMixer.predict``) on uint8 RGB clips."""
    from mmaction.structures import ActionDataSample

    inputs, samples = [], []
    for clip in frames:
        inputs.append(
            torch.from_numpy(np.ascontiguousarray(clip.transpose(
                3, 0, 1, 2))))  # [3, T, H, W] as FormatShape
        sample = ActionDataSample()
        sample.set_metainfo(dict(img_shape=clip.shape[1:3]))
        samples.append(sample)
    data = dict(inputs=inputs, data_samples=samples)
    with torch.no_grad():
        if keyframe_graph_differs(detector) is None:
            results = detector.test_step(data)
        else:
            # a keyframe_only export: the graph is STMixer's predict
            data = detector.data_preprocessor(data, False)
            results = STMixer.predict(detector, data['inputs'],
                                      data['data_samples'])
    return [{
        key: value.cpu().numpy()
        for key, value in r.pred_instances.items()
        if isinstance(value, torch.Tensor)
    } for r in results]


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max()) if a.size else 0.0


def compare_with_torch(detector: nn.Module,
                       onnx_file: str,
                       meta: Mapping,
                       seed: int = 0,
                       atol: float = 1e-4,
                       threads: Optional[int] = None) -> Dict[str, object]:
    """Compare ONNX Runtime on ``onnx_file`` with ``detector`` (any sampling
    path) on random clips: probabilities and normalised boxes of all
    queries, then the post-processed detections against ``predict``.

    Returns:
        dict: ``ok``, ``errors`` (differences above ``atol``) and the
        largest differences.
    """
    detector.eval()
    frames = random_frames(meta, seed)
    clip = np.concatenate([normalize_clip(f, meta) for f in frames])
    ort_out = run_ort(create_ort_session(onnx_file, threads), clip)
    wrapper = STMixerONNXWrapper(detector, tuple(meta['img_shape']),
                                 meta['pad_size_divisor'], meta['pad_value'])
    with torch.no_grad():
        torch_out = [t.numpy() for t in wrapper(torch.from_numpy(clip))]
    h, w = meta['img_shape']
    scale = np.array([w, h, w, h], np.float32)
    sig = meta['use_sigmoid_person']
    report = dict(
        person_scores=_max_abs(
            person_scores_from_logits(ort_out[0], sig),
            person_scores_from_logits(torch_out[0], sig)),
        action_scores=_max_abs(sigmoid(ort_out[1]), sigmoid(torch_out[1])),
        bboxes=_max_abs(ort_out[2] / scale, torch_out[2] / scale),
        logits=max(
            _max_abs(ort_out[0], torch_out[0]),
            _max_abs(ort_out[1], torch_out[1])))
    # the task heads' outputs, by name
    heads = {h.export_output: h for h in export_heads(detector)}
    for name, ort, ref in zip(heads, ort_out[3:], torch_out[3:]):
        report[name] = _max_abs(ort, ref)
    # the share of each of their fields' elements that differ
    tolerance = {
        key: head.export_tolerance
        for head in heads.values()
        for key in head.export_fields
    }
    report.update(dict.fromkeys(tolerance, 0.0))
    errors = [
        f'{key}: ONNX Runtime and PyTorch differ by {report[key]:.3g} > '
        f'{atol:g}' for key in ('person_scores', 'action_scores', 'bboxes')
        if not report[key] <= atol
    ]
    # the detector's own test_cfg (num_fallback too): as its predict
    dets = postprocess(ort_out, meta, test_cfg=detector.roi_head.test_cfg)
    preds = torch_predict(detector, frames)
    worst = 0.0
    for i, (det, pred) in enumerate(zip(dets, preds)):
        if len(det['bboxes']) != len(pred['bboxes']):
            errors.append(
                f'clip {i}: {len(det["bboxes"])} detections from ONNX '
                f'Runtime + postprocess, {len(pred["bboxes"])} from '
                'PyTorch predict')
            continue
        for key in ('bboxes', 'scores', 'person_scores'):
            if det[key].shape != pred[key].shape:
                errors.append(f'clip {i}: {key} has shape {det[key].shape} '
                              f'after postprocess, {pred[key].shape} from '
                              'predict')
                continue
            worst = max(worst, _max_abs(det[key], pred[key]))
        for key in tolerance:
            shapes = [getattr(d.get(key), 'shape', None) for d in (det, pred)]
            if shapes[0] is None or shapes[0] != shapes[1]:
                errors.append(f'clip {i}: {key} of shape {shapes[0]} after '
                              f'postprocess, {shapes[1]} from predict')
            elif pred[key].size:
                report[key] = max(report[key],
                                  float((det[key] != pred[key]).mean()))
    report['detections'] = worst
    errors += [
        f'post-processed {key} differ from predict on '
        f'{100 * report[key]:.3g} % of their elements > {100 * tol:g} %'
        for key, tol in tolerance.items() if report[key] > tol
    ]
    if not worst <= atol:
        errors.append(f'post-processed detections differ from predict by '
                      f'{worst:.3g} > {atol:g}')
    report['num_detections'] = [len(d['bboxes']) for d in dets]
    report['errors'] = errors
    report['ok'] = not errors
    return report
