"""VideoMAE / VideoMAE V2 checkpoints (fine-tuned, or pre-trained under
``encoder.``) -> mmaction2 ``VisionTransformer`` ``backbone.*``; classifier,
``fc_norm`` and decoder dropped, ``pos_embed`` generated."""
import re
from typing import Dict, Mapping, Tuple

from torch import Tensor

from stmixer_mm.converters.common import (VIT_RULES, ConversionReport, apply,
                                          match_dropped, strip_module_prefix,
                                          vit_pos_embed)
from stmixer_mm.engine.checkpoint import (check_state_dict_values,
                                          find_state_dict)

__all__ = ['convert_videomae_state_dict', 'extract_videomae_state_dict']

_DROPPED = [
    (re.compile(r'head\.(weight|bias)'), 'classifier of the recogniser'),
    (re.compile(r'fc_norm\.(weight|bias)'),
     'mean-pooling norm of the recogniser (the detector uses `norm`, which '
     'keeps its initialisation)'),
    (re.compile(r'decoder\..+'), 'pre-training decoder'),
    (re.compile(r'encoder_to_decoder\..+'), 'pre-training decoder'),
    (re.compile(r'mask_token'), 'pre-training mask token'),
]


def extract_videomae_state_dict(
        checkpoint: Mapping) -> Tuple[Dict[str, Tensor], str]:
    """The state dict of a VideoMAE checkpoint and where it was found
    (``'module'`` (DeepSpeed) first, then as ``find_state_dict``)."""
    return find_state_dict(
        checkpoint, format_keys=('module', ), bare_values='array')


def convert_videomae_state_dict(
        state_dict: Mapping[str, Tensor],
        *,
        num_frames: int = 16,
        img_size: int = 224) -> Tuple[Dict[str, Tensor], ConversionReport]:
    """Rename a VideoMAE / VideoMAE V2 ViT state dict to ``backbone.*``.

    Args:
        state_dict (Mapping[str, Tensor]): VideoMAE weights (``module.`` ok).
        num_frames (int): position table frames (``backbone.num_frames``, 16).
        img_size (int): input size of the position table (224).

    Returns:
        tuple[dict, ConversionReport]: weights (tensors shared) and report.

    Raises:
        ValueError: an unknown key, one already in mmaction2's names, or a
            value that is not a floating-point tensor (naming its key).
    """
    report = ConversionReport(backbone='vit', source_format='videomae')
    items = strip_module_prefix(state_dict, report)
    check_state_dict_values(dict(items))
    keys = [k for k, _ in items]
    if any(
            k.startswith(('backbone.patch_embed.projection', 'cls_head.'))
            for k in keys):
        raise ValueError(
            'this state dict already has mmaction2 names (backbone.patch_'
            'embed.projection / cls_head): load it directly through the '
            "config's init_cfg, it needs no conversion")
    pretrain = any(k.startswith('encoder.') for k in keys)
    new: Dict[str, Tensor] = {}
    unknown = []
    for key, value in items:
        name = key
        if pretrain:
            name = key[len('encoder.'):] if key.startswith('encoder.') \
                else None
        reason = match_dropped(_DROPPED, key if name is None else name)
        if reason is not None:
            report.dropped[key] = reason
            continue
        suffix = None if name is None else apply(VIT_RULES, name)
        if suffix is None:
            unknown.append(key)
            continue
        target = 'backbone.' + suffix
        if target in new:
            raise ValueError(f'two keys map to {target!r} (the second is '
                             f'{key!r})')
        new[target] = value
        report.renamed[key] = target
    if unknown:
        report.unexpected = unknown
        raise ValueError(
            f'{len(unknown)} keys are not those of a VideoMAE ViT: '
            f'{unknown[:8]}')
    if 'backbone.patch_embed.projection.weight' not in new:
        raise ValueError('no patch_embed.proj.weight: not a VideoMAE ViT '
                         'checkpoint')
    vit_pos_embed(new, report, num_frames, img_size)
    return new, report
