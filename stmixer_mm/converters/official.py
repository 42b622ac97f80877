"""Official STMixer checkpoints (github MCG-NJU/STMixer) -> ``STMixer``'s
names. Keys that match no rule are never dropped silently: they are kept and
listed in :attr:`ConversionReport.unexpected`."""
import logging
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from stmixer_mm.utils.checkpoint_loading import find_state_dict
from .common import (VIT_RULES, WB, ConversionReport, Rule, add_bn_counters,
                     apply, cnn_rules, detect_backbone, keep_name, rename_rule,
                     strip_module_prefix, vit_pos_embed, with_progress)

BACKBONES = ('auto', 'vit', 'slowfast', 'slowonly')

#: The person / no-object class weights of the official criterion.
OFFICIAL_EMPTY_WEIGHT = (1.0, 0.1)

# Suffixes of ``stm_head.decoder_stages.{k}.`` (official -> ours).
_STAGE_RULES: List[Rule] = [
    rename_rule(
        r'attention_[st]\.attn\.(in_proj_weight|in_proj_bias|'
        r'out_proj\.weight|out_proj\.bias)', keep_name),
    rename_rule(rf'(attention_norm|ffn_norm)_[st]\.{WB}', keep_name),
    rename_rule(rf'ffn_[st]\.layers\.\d+(\.0)?\.{WB}', keep_name),
    rename_rule(r'iof_tau', keep_name),
    rename_rule(rf'samplingmixing\.offset_generator\.0\.{WB}', keep_name),
    rename_rule(rf'samplingmixing\.norm_[st]\.{WB}', keep_name),
    rename_rule(
        rf'samplingmixing\.adaptive_mixing_[st]\.'
        rf'(parameter_generator\.0|out_proj)\.{WB}', keep_name),
    rename_rule(rf'human_cls_fcs\.(\d+)\.{WB}',
                lambda m: f'person_cls_fcs.{m[1]}.{m[2]}'),
    rename_rule(rf'human_fc_cls\.{WB}', lambda m: f'fc_person_cls.{m[1]}'),
    rename_rule(rf'(reg_fcs|action_cls_fcs)\.\d+\.{WB}', keep_name),
    rename_rule(rf'(fc_reg|fc_action)\.{WB}', keep_name),
]

_NECK_RULES = {
    # ViT pyramid: lateral_convs.{level}.{layer}.*; CNN: lateral_convs.{i}.*
    'vit': re.compile(rf'lateral_convs\.\d+\.\d+\.{WB}'),
    'cnn': re.compile(rf'lateral_convs\.\d+\.{WB}'),
}


def extract_state_dict(checkpoint: Mapping) -> Tuple[Dict[str, Tensor], str]:
    """The state dict of a loaded checkpoint and where it was found
    (``'state_dict'``, official ``'model'`` or ``''``: the bare dict)."""
    return find_state_dict(checkpoint)


def _check_empty_weight(value: Tensor, report: ConversionReport) -> None:
    expected = torch.tensor(OFFICIAL_EMPTY_WEIGHT)
    ok = value.numel() == 2 and torch.allclose(
        value.detach().float().flatten().cpu(), expected)
    values = [round(v, 6) for v in value.detach().float().flatten().tolist()]
    if ok:
        return
    msg = (f'stm_head.criterion.empty_weight is {values}, not '
           f'{list(OFFICIAL_EMPTY_WEIGHT)}; it is a loss setting, not a '
           'network weight, so it is dropped: set loss_person.class_weight '
           'in the config to match if you fine-tune with it')
    report.warnings.append(msg)
    print_log(msg, logger='current', level=logging.WARNING)


def convert_official_state_dict(
    state_dict: Mapping[str, Tensor],
    backbone: str = 'auto',
    *,
    vit_num_frames: int = 16,
    vit_img_size: int = 224,
    progress: bool = False,
) -> Tuple[Dict[str, Tensor], ConversionReport]:
    """Rename an official STMixer state dict to stmixer_mm's names.

    Args:
        state_dict (Mapping[str, Tensor]): the official ``model`` entry.
        backbone (str): ``'auto'`` (from the keys), ``'vit'``, ``'slowfast'``
            or ``'slowonly'``; must agree with the keys.
        vit_num_frames (int): frames of the generated ViT ``pos_embed`` (16).
        vit_img_size (int): input size of that table (official ViT-B: 224).
        progress (bool): Show mmengine's progress bar over the tensors.

    Returns:
        tuple[dict, ConversionReport]: the state dict (tensors shared with the
        input, except generated ones) and the report: check its ``unexpected``.
    """
    if backbone not in BACKBONES:
        raise ValueError(f'backbone must be one of {BACKBONES}, got '
                         f'{backbone!r}')
    report = ConversionReport(source_format='stmixer')
    items = strip_module_prefix(state_dict, report)
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError('the state dict holds the same key with and '
                         'without the module. prefix')
    if not any(k.startswith('stm_head.') for k in keys) and any(
            k.startswith(('roi_head.stages.', 'rpn_head.', 'decoder.stages.',
                          'query_generator.')) for k in keys):
        raise ValueError('this state dict already has stmixer_mm names '
                         '(roi_head.stages.*, or decoder.stages.* of earlier '
                         'versions); it needs no conversion')

    detected = detect_backbone(keys)
    if backbone != 'auto' and backbone != detected:
        raise ValueError(f'backbone={backbone!r} was asked for, but the keys '
                         f'are those of a {detected} backbone')
    report.backbone = detected
    backbone_rules = (VIT_RULES if detected == 'vit' else cnn_rules(detected))
    neck_rule = _NECK_RULES['vit' if detected == 'vit' else 'cnn']

    new: Dict[str, Tensor] = {}
    for key, value in with_progress(items, progress):
        target: Optional[str] = None
        fallback = key
        if key == 'stm_head.criterion.empty_weight':
            _check_empty_weight(value, report)
            report.dropped[key] = ('class weights of the official loss; '
                                   'loss_person.class_weight in the config')
            continue
        m = re.fullmatch(r'stm_head\.init_(spatial|temporal)_queries\.weight',
                         key)
        if m is not None:
            target = f'rpn_head.init_{m[1]}_queries.weight'
        elif key.startswith('stm_head.decoder_stages.'):
            m = re.fullmatch(r'stm_head\.decoder_stages\.(\d+)\.(.+)', key)
            if m is not None:
                prefix = f'roi_head.stages.{m[1]}.'
                fallback = prefix + m[2]
                suffix = apply(_STAGE_RULES, m[2])
                target = None if suffix is None else prefix + suffix
        elif key.startswith('lateral_convs.'):
            fallback = 'neck.' + key
            if neck_rule.fullmatch(key):
                target = fallback
        elif key.startswith('backbone.'):
            suffix = apply(backbone_rules, key[len('backbone.'):])
            target = None if suffix is None else 'backbone.' + suffix

        if target is None:
            report.unexpected.append(key)
            target = fallback
        if target in new:
            raise ValueError(f'two official keys map to {target!r} (the '
                             f'second is {key!r})')
        new[target] = value
        report.renamed[key] = target

    if detected == 'vit':
        vit_pos_embed(new, report, vit_num_frames, vit_img_size)
    else:
        add_bn_counters(new, report)
    return new, report
