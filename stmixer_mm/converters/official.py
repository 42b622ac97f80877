"""Official STMixer checkpoints (github MCG-NJU/STMixer) -> ``STMixer``'s
names. Keys that match no rule are never dropped silently: they are kept and
listed in :attr:`ConversionReport.unexpected`."""
import logging
import os.path as osp
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from stmixer_mm.engine.checkpoint import (check_state_dict_values,
                                          find_state_dict)
from stmixer_mm.utils.checkpoint_loading import CheckpointFileError
from stmixer_mm.version import __version__
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

    Raises:
        ValueError: A value that is not a floating-point tensor (BN
            counters: integer), naming its key; a backbone other than the
            keys', or keys that are already stmixer_mm's.
    """
    if backbone not in BACKBONES:
        raise ValueError(f'backbone must be one of {BACKBONES}, got '
                         f'{backbone!r}')
    report = ConversionReport(source_format='stmixer')
    items = strip_module_prefix(state_dict, report)
    check_state_dict_values(dict(items))
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
            values = value.detach().float().flatten().cpu()
            if value.numel() != 2 or not torch.allclose(
                    values, torch.tensor(OFFICIAL_EMPTY_WEIGHT)):
                msg = (f'stm_head.criterion.empty_weight is '
                       f'{[round(v, 6) for v in values.tolist()]}, not '
                       f'{list(OFFICIAL_EMPTY_WEIGHT)}; it is a loss setting, '
                       'not a network weight, so it is dropped: set '
                       'loss_person.class_weight in the config to match if '
                       'you fine-tune with it')
                report.warnings.append(msg)
                print_log(msg, logger='current', level=logging.WARNING)
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


def refuse_unknown_keys(report: ConversionReport) -> None:
    """The converter's rule for official keys that match no rule: they stop
    the conversion (they are never dropped).

    Args:
        report (ConversionReport): What :func:`convert_official_state_dict`
            did.

    Raises:
        ValueError: ``report.unexpected`` is not empty; the message lists
            the keys.
    """
    if report.unexpected:
        raise ValueError(f'{len(report.unexpected)} unknown official key(s): '
                         f'{", ".join(report.unexpected)}')


def official_checkpoint_meta(source: str,
                             checkpoint: Mapping,
                             entry: str,
                             report: ConversionReport,
                             config: Optional[str] = None) -> dict:
    """The ``meta`` of a converted official checkpoint: where it came from
    and what the conversion did.

    Args:
        source (str): The official file (its base name is kept).
        checkpoint (Mapping): What the official file held.
        entry (str): Where its weights were (``'model'``, ``'state_dict'``,
            ``''``: a bare state dict).
        report (ConversionReport): What the conversion did.
        config (str, optional): The config the weights were checked with.

    Returns:
        dict: ``converter``, ``stmixer_mm_version``, ``source``,
        ``source_entry``, ``source_top_level_keys``, ``config``,
        ``verified_with_config`` and ``conversion`` (the report as a dict).
    """
    return dict(
        converter=__name__,
        stmixer_mm_version=__version__,
        source=osp.basename(source),
        source_entry=entry,
        source_top_level_keys=sorted(str(k)
                                     for k in checkpoint) if entry else [],
        config=config,
        verified_with_config=config is not None,
        conversion=report.to_dict())


def convert_official_checkpoint(checkpoint: Mapping, source: str) -> dict:
    """Convert a loaded official STMixer checkpoint in memory, by the rules
    and with the strictness of
    ``tools/model_converters/convert_official_checkpoint.py`` (without
    ``--config``): what mmengine's checkpoint loader hands on when it reads
    an official file (``stmixer_mm.converters.official_checkpoints``). Logs one
    line naming the file.

    Args:
        checkpoint (Mapping): What the official file held (e.g. its DDP
            layout ``{'model': {'module.stm_head...': ...}, ...}``).
        source (str): The file, for the log line and the messages.

    Returns:
        dict: ``{'meta', 'state_dict'}`` as the converter writes it, the
        ``meta`` with ``converted_in_memory=True`` (so that the checks that
        know the model take the generated tensors, e.g. the ViT's
        ``pos_embed``, from it, as the converter's ``--config`` does).

    Raises:
        CheckpointFileError: The converter refuses the weights (unknown
            official keys, a backbone it cannot tell); names ``source``.
    """
    try:
        official, entry = extract_state_dict(checkpoint)
        state_dict, report = convert_official_state_dict(official)
        refuse_unknown_keys(report)
    except ValueError as err:
        raise CheckpointFileError(
            f'{source} has the layout of an official STMixer checkpoint '
            '(stm_head.* keys, github.com/MCG-NJU/STMixer) but cannot be '
            f'converted: {err}; stmixer-convert-official (tools/'
            'model_converters/convert_official_checkpoint.py in a checkout) '
            'refuses it the same way') from err
    where = f"'{entry}' entry" if entry else 'bare state dict'
    prefix = ", DDP prefix 'module.' removed" \
        if report.stripped_module_prefix else ''
    print_log(
        f'{source}: converted in memory from the official STMixer layout '
        f'(its {where}, {len(official)} tensors, {report.backbone} backbone'
        f'{prefix}) by the rules of stmixer-convert-official (tools/'
        'model_converters/convert_official_checkpoint.py in a checkout)',
        logger='current',
        level=logging.INFO)
    meta = official_checkpoint_meta(source, checkpoint, entry, report)
    meta['converted_in_memory'] = True
    return dict(meta=meta, state_dict=state_dict)
