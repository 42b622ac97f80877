"""PySlowFast Kinetics checkpoints (Caffe2 ``.pkl`` blobs or ``.pyth``
``model_state``) -> the detector's ``backbone.*`` (the backbone rules are
those of :mod:`.common`; docs/en/useful_tools.md)."""
import re
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np
import torch
from torch import Tensor

from stmixer_mm.converters.common import (ConversionReport, Rule,
                                          add_bn_counters, apply, cnn_rules,
                                          detect_backbone, match_dropped,
                                          rename_rule, strip_module_prefix,
                                          with_progress)
from stmixer_mm.engine.checkpoint import (check_state_dict_values,
                                          find_state_dict)

_C2_BN = {
    's': 'weight',
    'b': 'bias',
    'rm': 'running_mean',
    'riv': 'running_var'
}
_C2_WB = {'w': 'weight', 'b': 'bias'}
_C2_BN_RE = r'(s|b|rm|riv)'


def _c2_path(m: re.Match) -> str:
    return '1' if m['t'] else '0'


# Caffe2 blob -> PySlowFast module name, as PySlowFast's
# utils/c2_model_loading.py; ``t_`` marks the fast pathway (pathway1).
_CAFFE2_RULES: List[Rule] = [
    rename_rule(r'(?P<t>t_)?conv1_w',
                lambda m: f's1.pathway{_c2_path(m)}_stem.conv.weight'),
    rename_rule(rf'(?P<t>t_)?res_conv1_bn_{_C2_BN_RE}',
                lambda m: f's1.pathway{_c2_path(m)}_stem.bn.{_C2_BN[m[2]]}'),
    # fast -> slow fusion after the stem / stage s (named by its last block)
    rename_rule(r't_pool1_subsample_w', lambda m: 's1_fuse.conv_f2s.weight'),
    rename_rule(rf't_pool1_subsample_bn_{_C2_BN_RE}',
                lambda m: f's1_fuse.bn.{_C2_BN[m[1]]}'),
    rename_rule(r't_res([2-5])_\d+_branch2c_bn_subsample_w',
                lambda m: f's{m[1]}_fuse.conv_f2s.weight'),
    rename_rule(rf't_res([2-5])_\d+_branch2c_bn_subsample_bn_{_C2_BN_RE}',
                lambda m: f's{m[1]}_fuse.bn.{_C2_BN[m[2]]}'),
    # bottleneck blocks
    rename_rule(
        r'(?P<t>t_)?res([2-5])_(\d+)_branch1_w',
        lambda m: f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch1.weight'),
    rename_rule(
        rf'(?P<t>t_)?res([2-5])_(\d+)_branch1_bn_{_C2_BN_RE}', lambda m:
        f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch1_bn.{_C2_BN[m[4]]}'),
    rename_rule(
        r'(?P<t>t_)?res([2-5])_(\d+)_branch2([abc])_w', lambda m:
        f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch2.{m[4]}.weight'),
    rename_rule(
        rf'(?P<t>t_)?res([2-5])_(\d+)_branch2([abc])_bn_{_C2_BN_RE}',
        lambda m: f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch2.'
        f'{m[4]}_bn.{_C2_BN[m[5]]}'),
    # non-local blocks (slow pathway): nonlocal_conv{s}_{block}_*
    rename_rule(
        r'nonlocal_conv([2-5])_(\d+)_(theta|phi|g|out)_(w|b)',
        lambda m: f's{m[1]}.pathway0_nonlocal{m[2]}.conv_{m[3]}.{_C2_WB[m[4]]}'
    ),
    rename_rule(
        rf'nonlocal_conv([2-5])_(\d+)_bn_{_C2_BN_RE}',
        lambda m: f's{m[1]}.pathway0_nonlocal{m[2]}.bn.{_C2_BN[m[3]]}'),
]
# Caffe2 blobs that are not backbone weights
_CAFFE2_DROPPED: List[Tuple[re.Pattern, str]] = [
    (re.compile(r'pred_(w|b)'), 'Kinetics classifier (not in the backbone)'),
    (re.compile(r'lr|model_iter'), 'training state'),
]
_PYSLOWFAST_DROPPED: List[Tuple[re.Pattern, str]] = [
    (re.compile(r'head\.projection\.(weight|bias)'),
     'Kinetics classifier (not in the backbone)'),
]


def extract_pyslowfast_state_dict(checkpoint: Mapping) -> Tuple[dict, str]:
    """The weights of a loaded PySlowFast checkpoint (``.pkl`` ``blobs``,
    ``.pyth`` ``model_state``, else as ``find_state_dict``) and the entry."""
    return find_state_dict(
        checkpoint, format_keys=('blobs', 'model_state'), bare_values='any')


def _to_tensor(key: str, value: Any) -> Tensor:
    if isinstance(value, np.ndarray) and value.dtype.kind in 'fiub':
        value = torch.from_numpy(np.require(value, requirements=['C', 'W']))
    check_state_dict_values({key: value})  # a float tensor (BN counter: int)
    return value


def convert_pyslowfast_state_dict(
    state_dict: Mapping[str, Any],
    backbone: str = 'auto',
    source_format: str = 'auto',
    progress: bool = False,
) -> Tuple[Dict[str, Tensor], ConversionReport]:
    """Rename a PySlowFast Kinetics checkpoint to the detector's backbone.

    Dropped and reported: the Kinetics classifier, the training state and
    the momentum of known blobs; any other unmatched name is an error.
    Values unchanged (arrays shared); BN counters added (0).

    Args:
        state_dict (Mapping[str, Any]): ``blobs`` (.pkl) / ``model_state``
            (.pyth) entry (:func:`extract_pyslowfast_state_dict`).
        backbone (str): ``'auto'``, ``'slowfast'`` or ``'slowonly'``.
        source_format (str): ``'auto'`` (Caffe2 when no name has a dot),
            ``'caffe2'`` or ``'pyslowfast'``.
        progress (bool): Show mmengine's progress bar over the entries.

    Returns:
        tuple[dict, ConversionReport]: ``backbone.*`` tensors and the report.

    Raises:
        ValueError: unmatched names (all listed) or an official STMixer one.
    """
    if backbone not in ('auto', 'slowfast', 'slowonly'):
        raise ValueError("backbone must be 'auto', 'slowfast' or "
                         f"'slowonly', got {backbone!r}")
    if source_format not in ('auto', 'caffe2', 'pyslowfast'):
        raise ValueError("source_format must be 'auto', 'caffe2' or "
                         f"'pyslowfast', got {source_format!r}")
    report = ConversionReport()
    items = strip_module_prefix(state_dict, report)
    keys = [k for k, _ in items]
    if any(k.startswith(('stm_head.', 'backbone.')) for k in keys):
        raise ValueError(
            'these are not PySlowFast Kinetics weights but a detector '
            "checkpoint ('stm_head.*' / 'backbone.*' names): use "
            'convert_official_state_dict (stmixer-convert-official; tools/'
            'model_converters/convert_official_checkpoint.py in a '
            'checkout) for official STMixer checkpoints')
    if source_format == 'auto':
        source_format = 'pyslowfast' if any('.' in k for k in keys) \
            else 'caffe2'
    report.source_format = source_format

    # 1. Caffe2 blob names -> PySlowFast names
    renamed: List[Tuple[str, str, Any]] = []  # (source, PySlowFast, value)
    unknown = []
    if source_format == 'caffe2':
        known = set()
        momentum = []
        for key, value in with_progress(items, progress):
            if key.endswith('_momentum'):
                momentum.append(key)
                continue
            reason = match_dropped(_CAFFE2_DROPPED, key)
            if reason is not None:
                report.dropped[key] = reason
                known.add(key)
                continue
            name = apply(_CAFFE2_RULES, key)
            if name is None:
                unknown.append(key)
            else:
                renamed.append((key, name, value))
                known.add(key)
        for key in momentum:
            if key[:-len('_momentum')] in known:
                report.dropped[key] = 'optimizer momentum'
            else:
                unknown.append(key)
    else:
        for key, value in with_progress(items, progress):
            reason = match_dropped(_PYSLOWFAST_DROPPED, key)
            if reason is not None:
                report.dropped[key] = reason
            else:
                renamed.append((key, key, value))

    # 2. PySlowFast names -> backbone.*
    try:
        detected = detect_backbone('backbone.' + name
                                   for _, name, _ in renamed)
    except ValueError:
        detected = ''
    if detected not in ('slowfast', 'slowonly'):
        hint = ''
        if any(k.startswith('blocks.') for k in keys):
            hint = (" ('blocks.*' is pytorchvideo's hub layout, which is "
                    "not supported: use PySlowFast's model zoo files)")
        raise ValueError(
            f'no SlowFast / SlowOnly stem in the {source_format} checkpoint: '
            "expected 'conv1_w' / 'res_conv1_bn_*' (Caffe2) or "
            f"'s1.pathway0_stem.*' (PySlowFast) names{hint}")
    if backbone != 'auto' and backbone != detected:
        raise ValueError(f'backbone={backbone!r} was asked for, but the keys '
                         f'are those of a {detected} backbone')
    report.backbone = detected
    rules = cnn_rules(detected)
    new: Dict[str, Tensor] = {}
    for source, name, value in renamed:
        suffix = apply(rules, name)
        if suffix is None:
            unknown.append(source if source ==
                           name else f'{source} (as {name})')
            continue
        target = 'backbone.' + suffix
        if target in new:
            raise ValueError(f'two keys map to {target!r} (the second is '
                             f'{source!r})')
        new[target] = _to_tensor(source, value)
        report.renamed[source] = target
    if unknown:
        raise ValueError(
            f'{len(unknown)} name(s) of the {source_format} checkpoint match '
            f'no {detected} backbone rule: {", ".join(sorted(unknown))}')
    add_bn_counters(new, report)
    return new, report
