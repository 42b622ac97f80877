"""Shared by the converters: ViT / PySlowFast -> mmaction2 backbone rules and
the :class:`ConversionReport`. No tensor changes shape or value; the only ones
added (ViT ``pos_embed``, BN counters) are listed in the report."""
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from stmixer_mm.engine.checkpoint import diff_state_dicts
from stmixer_mm.utils.progress import track_progress

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
WB = r'(weight|bias)'

Rule = Tuple[re.Pattern, Callable[[re.Match], str]]


def rename_rule(pattern: str, repl: Callable[[re.Match], str]) -> Rule:
    return re.compile(pattern), repl


def keep_name(m: re.Match) -> str:
    return m.group(0)


# Suffixes of ``backbone.`` for the ViT (official -> mmaction2 ViT).
VIT_RULES: List[Rule] = [
    rename_rule(rf'patch_embed\.proj\.{WB}',
                lambda m: f'patch_embed.projection.{m[1]}'),
    rename_rule(r'pos_embed', keep_name),
    rename_rule(rf'blocks\.\d+\.(norm1|norm2)\.{WB}', keep_name),
    rename_rule(
        r'blocks\.\d+\.attn\.(qkv\.weight|q_bias|v_bias|proj\.weight|'
        r'proj\.bias)', keep_name),
    rename_rule(rf'blocks\.(\d+)\.mlp\.fc1\.{WB}',
                lambda m: f'blocks.{m[1]}.mlp.layers.0.0.{m[2]}'),
    rename_rule(rf'blocks\.(\d+)\.mlp\.fc2\.{WB}',
                lambda m: f'blocks.{m[1]}.mlp.layers.1.{m[2]}'),
    rename_rule(r'blocks\.\d+\.gamma_[12]', keep_name),
    rename_rule(rf'norm\.{WB}', keep_name),
]


def cnn_rules(backbone: str) -> List[Rule]:
    """PySlowFast -> mmaction2 ResNet3d names for SlowOnly / SlowFast."""
    num_pathways = 2 if backbone == 'slowfast' else 1

    def path(p: str) -> str:
        p = int(p)
        if p >= num_pathways:
            raise KeyError(f'pathway{p}')  # not a key of this backbone
        if backbone == 'slowonly':
            return ''
        return ('slow_path.', 'fast_path.')[p]

    def layer(m: re.Match) -> str:
        # groups: 1 stage s (2..5), 2 pathway, 3 index
        return f'{path(m[2])}layer{int(m[1]) - 1}.{m[3]}'

    conv_of = {'a': 'conv1', 'b': 'conv2', 'c': 'conv3'}
    head = r's([2-5])\.pathway(\d)_'

    rules = [
        rename_rule(r's1\.pathway(\d)_stem\.conv\.weight',
                    lambda m: f'{path(m[1])}conv1.conv.weight'),
        rename_rule(rf's1\.pathway(\d)_stem\.bn\.{_BN}',
                    lambda m: f'{path(m[1])}conv1.bn.{m[2]}'),
        rename_rule(head + r'res(\d+)\.branch1\.weight',
                    lambda m: f'{layer(m)}.downsample.conv.weight'),
        rename_rule(head + rf'res(\d+)\.branch1_bn\.{_BN}',
                    lambda m: f'{layer(m)}.downsample.bn.{m[4]}'),
        rename_rule(head + r'res(\d+)\.branch2\.([abc])\.weight',
                    lambda m: f'{layer(m)}.{conv_of[m[4]]}.conv.weight'),
        rename_rule(head + rf'res(\d+)\.branch2\.([abc])_bn\.{_BN}',
                    lambda m: f'{layer(m)}.{conv_of[m[4]]}.bn.{m[5]}'),
        # PySlowFastNonLocal3d keeps PySlowFast's names
        rename_rule(
            head + rf'nonlocal(\d+)\.conv_(theta|phi|g|out)\.{WB}',
            lambda m: f'{layer(m)}.non_local_block.conv_{m[4]}.{m[5]}'),
        rename_rule(head + rf'nonlocal(\d+)\.(?:bn|norm)\.{_BN}',
                    lambda m: f'{layer(m)}.non_local_block.bn.{m[4]}'),
    ]
    if backbone == 'slowfast':

        def lateral(m: re.Match) -> str:
            stage = int(m[1])
            name = 'conv1' if stage == 1 else f'layer{stage - 1}'
            part = 'conv' if m[2] == 'conv_f2s' else 'bn'
            return f'slow_path.{name}_lateral.{part}.{m[3]}'

        rules += [
            rename_rule(r's([1-4])_fuse\.(conv_f2s)\.(weight)', lateral),
            rename_rule(rf's([1-4])_fuse\.(bn)\.{_BN}', lateral),
        ]
    return rules


@dataclass
class ConversionReport:
    """What :func:`convert_official_state_dict` did.

    Attributes:
        backbone (str): ``'vit'``, ``'slowfast'`` or ``'slowonly'``.
        source_format (str): ``'stmixer'`` (official STMixer), ``'caffe2'``
            (PySlowFast ``.pkl`` blobs) or ``'pyslowfast'`` (module names).
        stripped_module_prefix (bool): Whether ``module.`` was removed.
        renamed (dict): Official key (without ``module.``) -> new key, for
            every converted tensor (unchanged names too).
        generated (dict): New key -> why it was created.
        dropped (dict): Official key -> why it has no counterpart.
        unexpected (list): Official keys that match no rule; kept (in
            ``renamed``), so a strict load fails on them.
        warnings (list): Warnings raised during the conversion.
    """
    backbone: str = ''
    source_format: str = ''
    stripped_module_prefix: bool = False
    renamed: Dict[str, str] = field(default_factory=dict)
    generated: Dict[str, str] = field(default_factory=dict)
    dropped: Dict[str, str] = field(default_factory=dict)
    unexpected: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def num_changed_names(self) -> int:
        return sum(old != new for old, new in self.renamed.items())

    def to_dict(self) -> dict:
        """Plain-data copy (for checkpoint metadata)."""
        return asdict(self)

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f'backbone: {self.backbone}',
            f'source format: {self.source_format}',
            f'module. prefix stripped: {self.stripped_module_prefix}',
            f'tensors converted: {len(self.renamed)} '
            f'({self.num_changed_names} renamed)',
        ]
        for title, items in (('generated', self.generated), ('dropped',
                                                             self.dropped)):
            by_reason: Dict[str, List[str]] = {}
            for key, reason in items.items():
                by_reason.setdefault(reason, []).append(key)
            for reason, keys in by_reason.items():
                if len(keys) > 3:  # e.g. dozens of BN counters
                    lines.append(f'{title}: {len(keys)} keys like {keys[0]} '
                                 f'({reason})')
                else:
                    lines += [f'{title}: {k} ({reason})' for k in keys]
        lines += [f'unexpected official key: {k}' for k in self.unexpected]
        lines += [f'warning: {w}' for w in self.warnings]
        return '\n'.join(lines)


def detect_backbone(keys) -> str:
    """``'vit'``, ``'slowfast'`` or ``'slowonly'`` from official keys
    (``module.`` already removed); ValueError when none fits."""
    keys = list(keys)
    if any(
            k.startswith(('backbone.blocks.', 'backbone.patch_embed.'))
            for k in keys):
        return 'vit'
    if any(k.startswith('backbone.s1.pathway1_stem.') for k in keys):
        return 'slowfast'
    if any(k.startswith('backbone.s1.pathway0_stem.') for k in keys):
        return 'slowonly'
    raise ValueError(
        'cannot tell the backbone of the official checkpoint: no '
        "'backbone.blocks.*' / 'backbone.patch_embed.*' (ViT) and no "
        "'backbone.s1.pathway{0,1}_stem.*' (SlowOnly / SlowFast) key")


def apply(rules: List[Rule], suffix: str) -> Optional[str]:
    for pattern, repl in rules:
        m = pattern.fullmatch(suffix)
        if m is not None:
            try:
                return repl(m)
            except KeyError:  # e.g. pathway1 in a SlowOnly checkpoint
                return None
    return None


def match_dropped(rules: List[Tuple[re.Pattern, str]],
                  key: str) -> Optional[str]:
    """The reason of the first ``(pattern, reason)`` matching ``key`` whole."""
    return next((why for pattern, why in rules if pattern.fullmatch(key)),
                None)


def add_bn_counters(new: Dict[str, Tensor], report: ConversionReport) -> None:
    for key in [k for k in new if k.endswith('.running_mean')]:
        counter = key[:-len('running_mean')] + 'num_batches_tracked'
        if counter not in new:
            new[counter] = torch.tensor(0, dtype=torch.long)
            report.generated[counter] = (
                'BatchNorm counter absent from the official checkpoint (0)')


def vit_pos_embed(new: Dict[str, Tensor], report: ConversionReport,
                  num_frames: int, img_size: int) -> None:
    key = 'backbone.pos_embed'
    proj = new.get('backbone.patch_embed.projection.weight')
    if key in new or proj is None:
        return
    # imported here: mmaction.models needs stmixer_mm's compat fixes first
    from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
    embed_dims, _, tubelet, patch = proj.shape[:4]
    num_patches = (num_frames // tubelet) * (img_size // patch)**2
    if num_patches < 1:
        raise ValueError(
            f'the ViT position table would be empty: num_frames '
            f'{num_frames} (--vit-num-frames) and img_size {img_size} '
            f'(--vit-img-size) must be at least the tubelet {tubelet} and the '
            f'patch {patch} of backbone.patch_embed.projection.weight')
    new[key] = get_sinusoid_encoding(num_patches, embed_dims)
    report.generated[key] = (
        f'fixed sinusoid table ({num_patches} patches = {num_frames} '
        f'frames / tubelet {tubelet} x ({img_size} / patch {patch})^2, '
        f'{embed_dims} dims); the official ViT computes it at run time')


def with_progress(items: list, show: bool):
    """``items``, through mmengine's progress bar when ``show``."""
    if not show:
        return items
    return track_progress(items)


def strip_module_prefix(state_dict: Mapping,
                        report: 'ConversionReport') -> List[Tuple[str, Any]]:
    """``(key, value)`` pairs of ``state_dict``, DDP's ``module.`` removed
    (recorded in ``report.stripped_module_prefix``)."""
    items = []
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
            report.stripped_module_prefix = True
        items.append((key, value))
    return items


def compare_state_dicts(
        state_dict: Mapping[str, Tensor],
        expected: Mapping[str,
                          Tensor]) -> Tuple[List[str], List[str], List[str]]:
    """Missing, unexpected keys (sorted) and shape mismatches (``'key:
    checkpoint (..), model (..)'``) of ``state_dict`` against ``expected``."""
    missing, unexpected, shape = diff_state_dicts(state_dict, expected)
    mismatched = [
        f'{k}: checkpoint {ckpt}, model {model}' for k, ckpt, model in shape
    ]
    return sorted(missing), sorted(unexpected), mismatched
