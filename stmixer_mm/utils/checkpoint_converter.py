"""Map official STMixer checkpoints onto stmixer_mm's parameter names.

The official release (github MCG-NJU/STMixer) saves ``{'model': state_dict,
...}`` with the keys of its own modules (prefix ``module.`` when saved from
DDP). :func:`convert_official_state_dict` renames them to the names of an
``STMixer`` detector built by this package (``{k}`` a decoder stage, ``{i}``
a block, ``{s}`` a PySlowFast stage 2..5, ``{P}`` the mmaction2 pathway
prefix: ``slow_path.`` / ``fast_path.`` for SlowFast, empty for SlowOnly):

Head and neck

- ``stm_head.init_{spatial,temporal}_queries.weight`` ->
  ``query_generator.init_{spatial,temporal}_queries.weight``
- ``stm_head.decoder_stages.{k}.human_cls_fcs.*`` ->
  ``decoder.stages.{k}.person_cls_fcs.*``
- ``stm_head.decoder_stages.{k}.human_fc_cls.*`` ->
  ``decoder.stages.{k}.fc_person_cls.*``
- ``stm_head.decoder_stages.{k}.X`` -> ``decoder.stages.{k}.X`` for the
  other official stage tensors (attention, norms, FFNs, ``iof_tau``,
  ``samplingmixing.*``, ``reg_fcs``, ``fc_reg``, ``action_cls_fcs``,
  ``fc_action``)
- ``stm_head.criterion.empty_weight`` -> dropped (a loss setting; checked
  to be ``[1, 0.1]``, a warning otherwise)
- ``lateral_convs.*`` -> ``neck.lateral_convs.*``

ViT backbone (mmaction2 ``VisionTransformer``)

- ``backbone.patch_embed.proj.*`` -> ``backbone.patch_embed.projection.*``
- ``backbone.blocks.{i}.mlp.fc1.*`` ->
  ``backbone.blocks.{i}.mlp.layers.0.0.*``
- ``backbone.blocks.{i}.mlp.fc2.*`` -> ``backbone.blocks.{i}.mlp.layers.1.*``
- ``backbone.blocks.{i}.{norm1,attn.*,norm2,gamma_1,gamma_2}`` and
  ``backbone.norm.*``: same names
- ``backbone.pos_embed``: kept when present (learnable table); otherwise
  generated, since the official sinusoid table is a plain attribute (not in
  the checkpoint) while mmaction2 keeps it as a buffer

SlowOnly / SlowFast backbone (PySlowFast -> mmaction2 ``ResNet3d*``)

- ``backbone.s1.pathway{p}_stem.{conv,bn}.*`` ->
  ``backbone.{P}conv1.{conv,bn}.*``
- ``backbone.s{s}.pathway{p}_res{i}.branch1.weight`` ->
  ``backbone.{P}layer{s-1}.{i}.downsample.conv.weight``, ``branch1_bn`` ->
  ``downsample.bn``
- ``backbone.s{s}.pathway{p}_res{i}.branch2.{a,b,c}.weight`` ->
  ``backbone.{P}layer{s-1}.{i}.conv{1,2,3}.conv.weight``,
  ``branch2.{a,b,c}_bn`` -> ``conv{1,2,3}.bn``
- ``backbone.s{s}.pathway{p}_nonlocal{i}.conv_{theta,phi,g}.*`` ->
  ``backbone.{P}layer{s-1}.{i}.non_local_block.{theta,phi.0,g.0}.conv.*``
  (``phi`` / ``g`` without ``.0`` when ``nonlocal_sub_sample=False``);
  ``conv_out.weight`` -> ``non_local_block.conv_out.conv.weight``;
  ``bn`` -> ``non_local_block.conv_out.bn``; ``conv_out.bias`` is folded
  into ``non_local_block.conv_out.bn.running_mean``
- SlowFast ``backbone.s1_fuse.{conv_f2s,bn}.*`` ->
  ``backbone.slow_path.conv1_lateral.{conv,bn}.*`` and
  ``backbone.s{s}_fuse.*`` (s = 2..4) ->
  ``backbone.slow_path.layer{s-1}_lateral.*``

The CNN names are PySlowFast's (the official CNN backbones come from it)
and the targets mmaction2's ``ResNet3dSlowOnly`` / ``ResNet3dSlowFast``
names (``ResNet3dSlowFastMultiLevel`` keeps them). No tensor changes
shape; the only value that changes is a folded non-local running mean, and
the only tensors added are the ViT ``pos_embed`` and BatchNorm
``num_batches_tracked`` counters (0) where the official checkpoint lacks
them; every such case is listed in the :class:`ConversionReport`.

Config requirements for the converted CNN weights to load (they are not
visible in the names): SlowFast needs ``slow_pathway.lateral_norm=True``
(PySlowFast's fuse is conv + BN + ReLU) and ``fusion_kernel`` equal to the
official ``FUSION_KERNEL_SZ`` (7 for R50 8x8, 5 for R101-NL); non-local
blocks need ``non_local_cfg=dict(mode='dot_product', use_scale=False,
norm_cfg=dict(type='BN3d'), sub_sample=True)`` (names and shapes then
match; mmcv max-pools ``(1, 2, 2)`` after the ``phi`` / ``g`` convolutions
while the official R101-NL pools ``(2, 2, 2)`` before them, a difference
in computation, not in weights).

Official keys that match no rule are never dropped silently: they are
listed in :attr:`ConversionReport.unexpected` and kept in the converted
dict (under the best-guess name), so that a strict load fails on them.
"""
import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

BACKBONES = ('auto', 'vit', 'slowfast', 'slowonly')

#: The person / no-object class weights of the official criterion.
OFFICIAL_EMPTY_WEIGHT = (1.0, 0.1)

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_WB = r'(weight|bias)'

_Rule = Tuple[re.Pattern, Callable[[re.Match], str]]


def _rule(pattern: str, repl: Callable[[re.Match], str]) -> _Rule:
    return re.compile(pattern), repl


def _same(m: re.Match) -> str:
    return m.group(0)


# Suffixes of ``stm_head.decoder_stages.{k}.`` (official -> ours).
_STAGE_RULES: List[_Rule] = [
    _rule(
        r'attention_[st]\.attn\.(in_proj_weight|in_proj_bias|'
        r'out_proj\.weight|out_proj\.bias)', _same),
    _rule(rf'(attention_norm|ffn_norm)_[st]\.{_WB}', _same),
    _rule(rf'ffn_[st]\.layers\.\d+(\.0)?\.{_WB}', _same),
    _rule(r'iof_tau', _same),
    _rule(rf'samplingmixing\.offset_generator\.0\.{_WB}', _same),
    _rule(rf'samplingmixing\.norm_[st]\.{_WB}', _same),
    _rule(
        rf'samplingmixing\.adaptive_mixing_[st]\.'
        rf'(parameter_generator\.0|out_proj)\.{_WB}', _same),
    _rule(rf'human_cls_fcs\.(\d+)\.{_WB}',
          lambda m: f'person_cls_fcs.{m[1]}.{m[2]}'),
    _rule(rf'human_fc_cls\.{_WB}', lambda m: f'fc_person_cls.{m[1]}'),
    _rule(rf'(reg_fcs|action_cls_fcs)\.\d+\.{_WB}', _same),
    _rule(rf'(fc_reg|fc_action)\.{_WB}', _same),
]

# Suffixes of ``backbone.`` for the ViT (official -> mmaction2
# ``VisionTransformer``).
_VIT_RULES: List[_Rule] = [
    _rule(rf'patch_embed\.proj\.{_WB}',
          lambda m: f'patch_embed.projection.{m[1]}'),
    _rule(r'pos_embed', _same),
    _rule(rf'blocks\.\d+\.(norm1|norm2)\.{_WB}', _same),
    _rule(
        r'blocks\.\d+\.attn\.(qkv\.weight|q_bias|v_bias|proj\.weight|'
        r'proj\.bias)', _same),
    _rule(rf'blocks\.(\d+)\.mlp\.fc1\.{_WB}',
          lambda m: f'blocks.{m[1]}.mlp.layers.0.0.{m[2]}'),
    _rule(rf'blocks\.(\d+)\.mlp\.fc2\.{_WB}',
          lambda m: f'blocks.{m[1]}.mlp.layers.1.{m[2]}'),
    _rule(r'blocks\.\d+\.gamma_[12]', _same),
    _rule(rf'norm\.{_WB}', _same),
]

_NECK_RULES = {
    # ViT pyramid: lateral_convs.{level}.{layer}.*; CNN: lateral_convs.{i}.*
    'vit': re.compile(rf'lateral_convs\.\d+\.\d+\.{_WB}'),
    'cnn': re.compile(rf'lateral_convs\.\d+\.{_WB}'),
}


def _cnn_rules(backbone: str, nonlocal_sub_sample: bool) -> List[_Rule]:
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

    def nonlocal_conv(m: re.Match) -> str:
        name = m[4]
        wrap = '.0' if nonlocal_sub_sample and name in ('phi', 'g') else ''
        return f'{layer(m)}.non_local_block.{name}{wrap}.conv.{m[5]}'

    rules = [
        _rule(r's1\.pathway(\d)_stem\.conv\.weight',
              lambda m: f'{path(m[1])}conv1.conv.weight'),
        _rule(rf's1\.pathway(\d)_stem\.bn\.{_BN}',
              lambda m: f'{path(m[1])}conv1.bn.{m[2]}'),
        _rule(head + r'res(\d+)\.branch1\.weight',
              lambda m: f'{layer(m)}.downsample.conv.weight'),
        _rule(head + rf'res(\d+)\.branch1_bn\.{_BN}',
              lambda m: f'{layer(m)}.downsample.bn.{m[4]}'),
        _rule(head + r'res(\d+)\.branch2\.([abc])\.weight',
              lambda m: f'{layer(m)}.{conv_of[m[4]]}.conv.weight'),
        _rule(head + rf'res(\d+)\.branch2\.([abc])_bn\.{_BN}',
              lambda m: f'{layer(m)}.{conv_of[m[4]]}.bn.{m[5]}'),
        _rule(head + rf'nonlocal(\d+)\.conv_(theta|phi|g)\.{_WB}',
              nonlocal_conv),
        _rule(head + r'nonlocal(\d+)\.conv_out\.weight',
              lambda m: f'{layer(m)}.non_local_block.conv_out.conv.weight'),
        # folded into the BN running mean afterwards (see _fold_biases)
        _rule(head + r'nonlocal(\d+)\.conv_out\.bias',
              lambda m: f'{layer(m)}.non_local_block.conv_out.conv.bias'),
        _rule(head + rf'nonlocal(\d+)\.bn\.{_BN}',
              lambda m: f'{layer(m)}.non_local_block.conv_out.bn.{m[4]}'),
    ]
    if backbone == 'slowfast':

        def lateral(m: re.Match) -> str:
            stage = int(m[1])
            name = 'conv1' if stage == 1 else f'layer{stage - 1}'
            part = 'conv' if m[2] == 'conv_f2s' else 'bn'
            return f'slow_path.{name}_lateral.{part}.{m[3]}'

        rules += [
            _rule(r's([1-4])_fuse\.(conv_f2s)\.(weight)', lateral),
            _rule(rf's([1-4])_fuse\.(bn)\.{_BN}', lateral),
        ]
    return rules


@dataclass
class ConversionReport:
    """What :func:`convert_official_state_dict` did.

    Attributes:
        backbone (str): ``'vit'``, ``'slowfast'`` or ``'slowonly'``.
        stripped_module_prefix (bool): Whether ``module.`` was removed.
        renamed (dict): Official key (without ``module.``) -> new key, for
            every converted tensor (also those whose name is unchanged).
        generated (dict): New key -> why it was created (not in the
            official checkpoint).
        folded (dict): Official key -> new key it was folded into.
        dropped (dict): Official key -> why it has no counterpart.
        unexpected (list): Official keys that match no rule. They are kept
            in the converted dict (name in ``renamed``), so a strict load
            fails on them.
        warnings (list): Warnings raised during the conversion.
    """
    backbone: str = ''
    stripped_module_prefix: bool = False
    renamed: Dict[str, str] = field(default_factory=dict)
    generated: Dict[str, str] = field(default_factory=dict)
    folded: Dict[str, str] = field(default_factory=dict)
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
            f'module. prefix stripped: {self.stripped_module_prefix}',
            f'tensors converted: {len(self.renamed)} '
            f'({self.num_changed_names} renamed)',
        ]
        for title, items in (('generated', self.generated),
                             ('folded', self.folded), ('dropped',
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


def extract_state_dict(checkpoint: Mapping) -> Tuple[Dict[str, Tensor], str]:
    """The model state dict of a loaded checkpoint.

    Args:
        checkpoint (Mapping): What ``torch.load`` returned: a dict with a
            ``model`` (official) or ``state_dict`` entry, or a bare state
            dict.

    Returns:
        tuple[dict, str]: The state dict and where it was found
        (``'model'``, ``'state_dict'`` or ``''`` for a bare dict).
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'expected a dict, got {type(checkpoint).__name__}')
    for key in ('model', 'state_dict'):
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key]), key
    non_tensors = [k for k, v in checkpoint.items() if not torch.is_tensor(v)]
    if non_tensors:
        raise KeyError(
            "the checkpoint has no 'model' / 'state_dict' entry and is not a "
            f'bare state dict (non-tensor entries: {non_tensors[:5]})')
    return dict(checkpoint), ''


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


def _apply(rules: List[_Rule], suffix: str) -> Optional[str]:
    for pattern, repl in rules:
        m = pattern.fullmatch(suffix)
        if m is not None:
            try:
                return repl(m)
            except KeyError:  # e.g. pathway1 in a SlowOnly checkpoint
                return None
    return None


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
    warnings.warn(msg, stacklevel=3)


def _fold_biases(new: Dict[str, Tensor], report: ConversionReport) -> None:
    """Fold non-local ``conv_out`` biases into the following BN.

    mmcv's ``NonLocal3d`` has no bias on ``conv_out`` when it is followed by
    a norm; ``bn(conv(x) + b)`` equals ``bn'(conv(x))`` with
    ``running_mean' = running_mean - b`` (exact in eval mode; in train mode
    the batch mean removes ``b`` anyway).
    """
    by_new = {v: k for k, v in report.renamed.items()}
    for key in [k for k in new if k.endswith('conv_out.conv.bias')]:
        mean_key = key[:-len('conv.bias')] + 'bn.running_mean'
        if mean_key not in new:
            continue  # no BN to fold into: keep the bias as it is
        bias = new.pop(key)
        new[mean_key] = new[mean_key] - bias.to(new[mean_key].dtype)
        official = by_new[key]
        del report.renamed[official]
        report.folded[official] = mean_key


def _add_bn_counters(new: Dict[str, Tensor], report: ConversionReport) -> None:
    for key in [k for k in new if k.endswith('.running_mean')]:
        counter = key[:-len('running_mean')] + 'num_batches_tracked'
        if counter not in new:
            new[counter] = torch.tensor(0, dtype=torch.long)
            report.generated[counter] = (
                'BatchNorm counter absent from the official checkpoint (0)')


def _vit_pos_embed(new: Dict[str, Tensor], report: ConversionReport,
                   num_frames: int, img_size: int) -> None:
    key = 'backbone.pos_embed'
    proj = new.get('backbone.patch_embed.projection.weight')
    if key in new or proj is None:
        return
    # imported here: mmaction.models needs stmixer_mm's compat fixes first
    from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
    embed_dims, _, tubelet, patch = proj.shape[:4]
    num_patches = (num_frames // tubelet) * (img_size // patch)**2
    new[key] = get_sinusoid_encoding(num_patches, embed_dims)
    report.generated[key] = (
        f'fixed sinusoid table ({num_patches} patches = {num_frames} '
        f'frames / tubelet {tubelet} x ({img_size} / patch {patch})^2, '
        f'{embed_dims} dims); the official ViT computes it at run time')


def convert_official_state_dict(
    state_dict: Mapping[str, Tensor],
    backbone: str = 'auto',
    *,
    vit_num_frames: int = 16,
    vit_img_size: int = 224,
    nonlocal_sub_sample: bool = True,
) -> Tuple[Dict[str, Tensor], ConversionReport]:
    """Rename an official STMixer state dict to stmixer_mm's names.

    Args:
        state_dict (Mapping[str, Tensor]): The official ``model`` entry,
            with or without the ``module.`` prefix.
        backbone (str): ``'auto'`` (detect from the keys), ``'vit'``,
            ``'slowfast'`` or ``'slowonly'``. An explicit value must agree
            with the keys.
        vit_num_frames (int): Input frames of the ViT's position table, used
            only to generate ``backbone.pos_embed`` (the official ViT-B:
            16).
        vit_img_size (int): Input size of the ViT's position table (the
            official ViT-B: 224).
        nonlocal_sub_sample (bool): Whether the target non-local blocks
            sub-sample keys / values (mmcv's ``sub_sample=True`` wraps
            ``phi`` / ``g`` in an ``nn.Sequential`` with a max-pool, hence
            ``phi.0`` / ``g.0``). The official R101-NL sub-samples.
            Defaults to True.

    Returns:
        tuple[dict, ConversionReport]: The converted state dict (tensors
        are shared with the input, except generated / folded ones) and the
        report. Check ``report.unexpected`` before using the result.
    """
    if backbone not in BACKBONES:
        raise ValueError(f'backbone must be one of {BACKBONES}, got '
                         f'{backbone!r}')
    report = ConversionReport()
    items = []
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
            report.stripped_module_prefix = True
        items.append((key, value))
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError('the state dict holds the same key with and '
                         'without the module. prefix')
    if not any(k.startswith('stm_head.') for k in keys) and any(
            k.startswith(('decoder.stages.', 'query_generator.'))
            for k in keys):
        raise ValueError('this state dict already has stmixer_mm names '
                         '(decoder.stages.*); it needs no conversion')

    detected = detect_backbone(keys)
    if backbone != 'auto' and backbone != detected:
        raise ValueError(f'backbone={backbone!r} was asked for, but the keys '
                         f'are those of a {detected} backbone')
    report.backbone = detected
    backbone_rules = (
        _VIT_RULES if detected == 'vit' else _cnn_rules(
            detected, nonlocal_sub_sample))
    neck_rule = _NECK_RULES['vit' if detected == 'vit' else 'cnn']

    new: Dict[str, Tensor] = {}
    for key, value in items:
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
            target = f'query_generator.init_{m[1]}_queries.weight'
        elif key.startswith('stm_head.decoder_stages.'):
            m = re.fullmatch(r'stm_head\.decoder_stages\.(\d+)\.(.+)', key)
            if m is not None:
                prefix = f'decoder.stages.{m[1]}.'
                fallback = prefix + m[2]
                suffix = _apply(_STAGE_RULES, m[2])
                target = None if suffix is None else prefix + suffix
        elif key.startswith('lateral_convs.'):
            fallback = 'neck.' + key
            if neck_rule.fullmatch(key):
                target = fallback
        elif key.startswith('backbone.'):
            suffix = _apply(backbone_rules, key[len('backbone.'):])
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
        _vit_pos_embed(new, report, vit_num_frames, vit_img_size)
    else:
        _fold_biases(new, report)
        _add_bn_counters(new, report)
    return new, report
