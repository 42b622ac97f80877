"""Map official STMixer and PySlowFast checkpoints onto stmixer_mm's names.

Two converters share the PySlowFast -> mmaction2 backbone rules below:

- :func:`convert_official_state_dict`: a whole official STMixer checkpoint
  (backbone, neck, decoder) -> an ``STMixer`` detector;
- :func:`convert_pyslowfast_state_dict`: a PySlowFast Kinetics checkpoint
  (Caffe2 ``.pkl`` blobs or a ``.pyth`` ``model_state``) of SlowFast-R50 /
  R101 or SlowOnly-R50, the weights the official CNN models start from ->
  the detector's ``backbone.*`` (see its docstring for the Caffe2 names).

:func:`load_checkpoint_file` reads either kind of file safely and tells a
truncated or corrupt file apart from one that needs full unpickling.

Official STMixer checkpoints

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
- ``backbone.s{s}.pathway{p}_nonlocal{i}.{conv_theta,conv_phi,conv_g,
  conv_out,bn}.*`` -> ``backbone.{P}layer{s-1}.{i}.non_local_block.*``
  (same names: the block is :class:`PySlowFastNonLocal3d`, PySlowFast's
  ``Nonlocal``; a ``norm`` instead of ``bn``, as newer PySlowFast calls it,
  maps to ``bn``). Every value is kept as it is, the ``conv_out`` bias
  included.
- SlowFast ``backbone.s1_fuse.{conv_f2s,bn}.*`` ->
  ``backbone.slow_path.conv1_lateral.{conv,bn}.*`` and
  ``backbone.s{s}_fuse.*`` (s = 2..4) ->
  ``backbone.slow_path.layer{s-1}_lateral.*``

The CNN names are PySlowFast's (the official CNN backbones come from it)
and the targets mmaction2's ``ResNet3dSlowOnly`` / ``ResNet3dSlowFast``
names (``ResNet3dSlowFastMultiLevel`` keeps them). No tensor changes
shape or value; the only tensors added are the ViT ``pos_embed`` and
BatchNorm ``num_batches_tracked`` counters (0) where the official checkpoint
lacks them; every such case is listed in the :class:`ConversionReport`.

Config requirements for the converted CNN weights to load (they are not
visible in the names): SlowFast needs ``slow_pathway.lateral_norm=True``
(PySlowFast's fuse is conv + BN + ReLU) and ``fusion_kernel`` equal to the
official ``FUSION_KERNEL_SZ`` (7 for R50 8x8, 5 for R101-NL); non-local
blocks need ``non_local_cfg=dict(type='PySlowFastNonLocal3d',
pool_size=(2, 2, 2), instantiation='dot_product')`` in the slow pathway of
``ResNet3dSlowFastMultiLevel`` (official R101-NL). mmcv's ``NonLocal3d``
(mmaction2's default) has other names and, from the same weights, computes
something else (it pools ``(1, 2, 2)`` after ``phi`` / ``g``), so official
non-local weights are not mapped onto it.

Official keys that match no rule are never dropped silently: they are
listed in :attr:`ConversionReport.unexpected` and kept in the converted
dict (under the best-guess name), so that a strict load fails on them.
"""
import logging
import os.path as osp
import pickle
import pickletools
import re
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import print_log
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


def _cnn_rules(backbone: str) -> List[_Rule]:
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
        # PySlowFastNonLocal3d keeps PySlowFast's names
        _rule(head + rf'nonlocal(\d+)\.conv_(theta|phi|g|out)\.{_WB}',
              lambda m: f'{layer(m)}.non_local_block.conv_{m[4]}.{m[5]}'),
        _rule(head + rf'nonlocal(\d+)\.(?:bn|norm)\.{_BN}',
              lambda m: f'{layer(m)}.non_local_block.bn.{m[4]}'),
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
        source_format (str): ``'stmixer'`` (official STMixer), ``'caffe2'``
            (PySlowFast ``.pkl`` blobs) or ``'pyslowfast'`` (PySlowFast
            module names).
        stripped_module_prefix (bool): Whether ``module.`` was removed.
        renamed (dict): Official key (without ``module.``) -> new key, for
            every converted tensor (also those whose name is unchanged).
        generated (dict): New key -> why it was created (not in the
            official checkpoint).
        dropped (dict): Official key -> why it has no counterpart.
        unexpected (list): Official keys that match no rule. They are kept
            in the converted dict (name in ``renamed``), so a strict load
            fails on them.
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
    print_log(msg, logger='current', level=logging.WARNING)


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


def _progress(items: list, show: bool):
    """``items``, through mmengine's progress bar when ``show``."""
    if not show:
        return items
    from mmengine.utils import track_iter_progress
    return track_iter_progress(items)


def _strip_module_prefix(state_dict: Mapping, report: 'ConversionReport'
                         ) -> List[Tuple[str, Any]]:
    """``(key, value)`` pairs of ``state_dict`` in order, DDP's ``module.``
    prefix removed (``report.stripped_module_prefix`` records it)."""
    items = []
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
            report.stripped_module_prefix = True
        items.append((key, value))
    return items


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
        progress (bool): Show mmengine's progress bar over the tensors.

    Returns:
        tuple[dict, ConversionReport]: The converted state dict (tensors
        are shared with the input, except generated ones) and the
        report. Check ``report.unexpected`` before using the result.
    """
    if backbone not in BACKBONES:
        raise ValueError(f'backbone must be one of {BACKBONES}, got '
                         f'{backbone!r}')
    report = ConversionReport(source_format='stmixer')
    items = _strip_module_prefix(state_dict, report)
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
        _VIT_RULES if detected == 'vit' else _cnn_rules(detected))
    neck_rule = _NECK_RULES['vit' if detected == 'vit' else 'cnn']

    new: Dict[str, Tensor] = {}
    for key, value in _progress(items, progress):
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
        _add_bn_counters(new, report)
    return new, report


def diff_state_dicts(
    state_dict: Mapping[str, Tensor], expected: Mapping[str, Tensor]
) -> Tuple[List[str], List[str], List[Tuple[str, tuple, tuple]]]:
    """How ``state_dict`` differs from ``expected`` (``model.state_dict()``).

    Returns:
        tuple[list, list, list]: Missing keys (in ``expected``'s order),
        unexpected keys (in ``state_dict``'s order) and shape mismatches
        ``(key, checkpoint shape, model shape)`` (in ``state_dict``'s
        order). The one comparison behind the converters' checks and the
        strict loading of ``stmixer_mm.engine``.
    """
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shape = [(k, tuple(v.shape), tuple(expected[k].shape))
             for k, v in state_dict.items()
             if k in expected and hasattr(v, 'shape')
             and tuple(v.shape) != tuple(expected[k].shape)]
    return missing, unexpected, shape


def compare_state_dicts(
        state_dict: Mapping[str, Tensor],
        expected: Mapping[str,
                          Tensor]) -> Tuple[List[str], List[str], List[str]]:
    """Missing keys, unexpected keys (both sorted) and shape mismatches (in
    the order of ``state_dict``, as ``'key: checkpoint (..), model (..)'``
    lines) of ``state_dict`` against ``expected`` (``model.state_dict()``).
    """
    missing, unexpected, shape = diff_state_dicts(state_dict, expected)
    mismatched = [
        f'{k}: checkpoint {ckpt}, model {model}' for k, ckpt, model in shape
    ]
    return sorted(missing), sorted(unexpected), mismatched


# ---------------------------------------------------------------------------
# reading checkpoint files
# ---------------------------------------------------------------------------
class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be read; the message names the file
    and says why (missing, empty, truncated, corrupt, or complete but in
    need of full unpickling)."""


class MissingCheckpointError(CheckpointFileError, FileNotFoundError):
    """A checkpoint path that does not exist: a :class:`CheckpointFileError`
    that callers catching ``FileNotFoundError`` (mmengine's contract for a
    missing file) still catch."""


_ZIP_MAGIC = b'PK\x03\x04'
# the first pickle of torch's legacy (pre-1.6, non-zip) format
_TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
# pickles in front of the raw storage bytes of the legacy format: magic,
# protocol version, system info, the object, the storage keys
_TORCH_LEGACY_PICKLES = 5
_TRUST_HINT = ('If you trust the file, load it with full unpickling '
               '(--trust-pickle in the tools, trust_pickle=True in Python); '
               'unpickling can run code from the file.')

# numpy arrays and scalars, as Caffe2 / PySlowFast .pkl files hold them
_NUMPY_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('_codecs', 'encode'),  # bytes in protocol-2 pickles written by py3
    ('collections', 'OrderedDict'),
}


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles dicts / lists of numpy arrays and nothing that runs code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(
                f'global {module}.{name} is not a numpy array part')
        if module.startswith('numpy.core') and hasattr(np, '_core'):
            module = 'numpy._core' + module[len('numpy.core'):]
        return super().find_class(module, name)


def _walk_pickle(f) -> List[Tuple[str, Any]]:
    """Read one pickle's opcodes without executing them; the first few
    ``(name, arg)`` are returned (ValueError when it is cut short or not a
    pickle)."""
    head = []
    for opcode, arg, _ in pickletools.genops(_BoundedReader(f)):
        if len(head) < 3:
            head.append((opcode.name, arg))
    return head


class _BoundedReader:
    """A file whose ``read(n)`` refuses ``n`` beyond the file's end (a
    corrupt length field would otherwise make pickletools allocate it:
    ``MemoryError`` on random bytes)."""

    def __init__(self, f) -> None:
        self._f = f
        pos = f.tell()
        f.seek(0, 2)
        self._size = f.tell()
        f.seek(pos)

    def read(self, n: int = -1) -> bytes:
        remaining = self._size - self._f.tell()
        if n is not None and n > remaining:
            if n > 16 * max(self._size, 1 << 20):
                raise ValueError(f'a pickle opcode gives the length {n}, '
                                 f'far beyond the file size {self._size}')
            raise ValueError(f'a pickle opcode needs {n} bytes but only '
                             f'{remaining} remain')
        return self._f.read(n)

    def __getattr__(self, name):
        return getattr(self._f, name)


def check_checkpoint_file(path: str) -> str:
    """Check that ``path`` is a complete checkpoint file, without unpickling.

    Zip files (torch >= 1.6) must have their central directory and pass the
    CRC check of every member; pickle files (torch's legacy format, Caffe2 /
    PySlowFast ``.pkl``) must hold whole pickles (every opcode and its data
    up to the end-of-pickle mark).

    Args:
        path (str): The file.

    Returns:
        str: ``'zip'``, ``'torch_legacy'`` or ``'pickle'``.

    Raises:
        CheckpointFileError: Missing, empty, truncated or corrupt file.
    """
    if not osp.isfile(path):
        raise MissingCheckpointError(f'{path}: no such file')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(
            f'{path} is empty (0 bytes): truncated download or copy')
    again = 'download or copy it again'
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic == _ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise CheckpointFileError(
                f'{path} is truncated or corrupt: a torch (zip) checkpoint '
                f'whose zip directory cannot be read ({err}; {size} bytes); '
                f'{again}') from err
        if bad is not None:
            raise CheckpointFileError(
                f'{path} is corrupt: member {bad!r} of the torch (zip) '
                f'checkpoint fails its CRC check; {again}')
        return 'zip'
    with open(path, 'rb') as f:
        try:
            head = _walk_pickle(f)
            legacy = head[1:2] == [('LONG1', _TORCH_LEGACY_MAGIC)]
            for _ in range(_TORCH_LEGACY_PICKLES - 1 if legacy else 0):
                _walk_pickle(f)
        except (ValueError, EOFError) as err:
            if 'exhausted' in str(err) or 'but only' in str(err):
                raise CheckpointFileError(
                    f'{path} is truncated: its pickle data ends (at byte '
                    f'{size}) before the end-of-pickle mark ({err}); '
                    f'{again}') from err
            raise CheckpointFileError(
                f'{path} is corrupt or not a checkpoint: neither a torch zip '
                f'file nor a valid pickle ({err})') from err
        if legacy:
            return 'torch_legacy'  # storage bytes follow the pickles
        if f.read(1):
            raise CheckpointFileError(
                f'{path} is corrupt: data follows the end of its pickle at '
                f'byte {f.tell() - 1} of {size}')
    return 'pickle'


def load_checkpoint_file(path: str, trust_pickle: bool = False) -> Any:
    """Load a torch checkpoint or a Caffe2 / PySlowFast ``.pkl`` safely.

    The file is first checked to be complete (:func:`check_checkpoint_file`),
    so a truncated or corrupt file is reported as such. Then torch files are
    read with ``torch.load(weights_only=True)`` and plain pickles with an
    unpickler that builds numpy arrays only (``encoding='latin1'`` for
    Python 2 pickles). ``trust_pickle=True`` unpickles without restriction.

    Args:
        path (str): The file.
        trust_pickle (bool): Full unpickling (only for trusted files).

    Returns:
        The loaded object.

    Raises:
        CheckpointFileError: The file is missing, empty, truncated, corrupt,
            or complete but refused by the safe loader (the message then
            says how to trust it).
    """
    kind = check_checkpoint_file(path)
    if kind == 'pickle':
        with open(path, 'rb') as f:
            try:
                if trust_pickle:
                    return pickle.load(f, encoding='latin1')
                return _NumpyUnpickler(f, encoding='latin1').load()
            except pickle.UnpicklingError as err:
                if trust_pickle:
                    raise
                raise CheckpointFileError(
                    f'{path} is a complete pickle, but it holds more than '
                    f'numpy arrays ({err}). {_TRUST_HINT}') from err
    try:
        return torch.load(
            path, map_location='cpu', weights_only=not trust_pickle)
    except pickle.UnpicklingError as err:
        if trust_pickle:
            raise
        reason = str(err).strip().splitlines()[-1][:300]
        raise CheckpointFileError(
            f'{path} is a complete torch checkpoint, but torch.load('
            f'weights_only=True) refuses it ({reason}). {_TRUST_HINT}'
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointFileError(
            f'{path} could not be read: truncated or corrupt ({err})') from err


# ---------------------------------------------------------------------------
# PySlowFast Kinetics checkpoints -> backbone
# ---------------------------------------------------------------------------
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


# Caffe2 blob -> PySlowFast module name (the renaming of PySlowFast's
# utils/c2_model_loading.py, each blob name matched whole). ``t_`` marks
# the fast pathway (pathway1).
_CAFFE2_RULES: List[_Rule] = [
    _rule(r'(?P<t>t_)?conv1_w',
          lambda m: f's1.pathway{_c2_path(m)}_stem.conv.weight'),
    _rule(rf'(?P<t>t_)?res_conv1_bn_{_C2_BN_RE}',
          lambda m: f's1.pathway{_c2_path(m)}_stem.bn.{_C2_BN[m[2]]}'),
    # fast -> slow fusion after the stem / after stage s (named after the
    # last fast block of the stage)
    _rule(r't_pool1_subsample_w', lambda m: 's1_fuse.conv_f2s.weight'),
    _rule(rf't_pool1_subsample_bn_{_C2_BN_RE}',
          lambda m: f's1_fuse.bn.{_C2_BN[m[1]]}'),
    _rule(r't_res([2-5])_\d+_branch2c_bn_subsample_w',
          lambda m: f's{m[1]}_fuse.conv_f2s.weight'),
    _rule(rf't_res([2-5])_\d+_branch2c_bn_subsample_bn_{_C2_BN_RE}',
          lambda m: f's{m[1]}_fuse.bn.{_C2_BN[m[2]]}'),
    # bottleneck blocks
    _rule(r'(?P<t>t_)?res([2-5])_(\d+)_branch1_w',
          lambda m: f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch1.weight'),
    _rule(
        rf'(?P<t>t_)?res([2-5])_(\d+)_branch1_bn_{_C2_BN_RE}', lambda m:
        f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch1_bn.{_C2_BN[m[4]]}'),
    _rule(
        r'(?P<t>t_)?res([2-5])_(\d+)_branch2([abc])_w', lambda m:
        f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch2.{m[4]}.weight'),
    _rule(
        rf'(?P<t>t_)?res([2-5])_(\d+)_branch2([abc])_bn_{_C2_BN_RE}',
        lambda m: f's{m[2]}.pathway{_c2_path(m)}_res{m[3]}.branch2.'
        f'{m[4]}_bn.{_C2_BN[m[5]]}'),
    # non-local blocks (slow pathway): nonlocal_conv{s}_{block}_*
    _rule(
        r'nonlocal_conv([2-5])_(\d+)_(theta|phi|g|out)_(w|b)',
        lambda m: f's{m[1]}.pathway0_nonlocal{m[2]}.conv_{m[3]}.{_C2_WB[m[4]]}'
    ),
    _rule(rf'nonlocal_conv([2-5])_(\d+)_bn_{_C2_BN_RE}',
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
    """The weights of a loaded PySlowFast checkpoint.

    Args:
        checkpoint (Mapping): A Caffe2 ``.pkl`` (``{'blobs': {...}}``), a
            PySlowFast ``.pyth`` (``{'model_state': {...}, 'epoch', 'cfg',
            ...}``), ``{'model' | 'state_dict': {...}}`` or a bare dict.

    Returns:
        tuple[dict, str]: The weights and their entry (``'blobs'``,
        ``'model_state'``, ``'model'``, ``'state_dict'`` or ``''``).
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'expected a dict, got {type(checkpoint).__name__}')
    for key in ('blobs', 'model_state', 'model', 'state_dict'):
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key]), key
    return dict(checkpoint), ''


def _match_dropped(rules: List[Tuple[re.Pattern, str]],
                   key: str) -> Optional[str]:
    for pattern, reason in rules:
        if pattern.fullmatch(key):
            return reason
    return None


def _to_tensor(key: str, value: Any) -> Tensor:
    if torch.is_tensor(value):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in 'fiub':
        return torch.from_numpy(np.require(value, requirements=['C', 'W']))
    raise ValueError(f'{key}: expected a numeric array, got '
                     f'{type(value).__name__}')


def convert_pyslowfast_state_dict(
    state_dict: Mapping[str, Any],
    backbone: str = 'auto',
    source_format: str = 'auto',
    progress: bool = False,
) -> Tuple[Dict[str, Tensor], ConversionReport]:
    """Rename a PySlowFast Kinetics checkpoint to the detector's backbone.

    The weights the official CNN models start from are PySlowFast's
    Kinetics models (``SLOWFAST_8x8_R50.pkl``, ``SLOWONLY_4x16_R50.pkl``,
    ``SLOWFAST_32x2_R101_50_50.pkl``): Caffe2 pickles whose ``blobs`` have
    Caffe2 names, or ``.pyth`` files whose ``model_state`` has PySlowFast's
    module names. Caffe2 names are first renamed as PySlowFast does
    (``utils/c2_model_loading.py``; ``t_`` = fast pathway):

    - ``conv1_w``, ``res_conv1_bn_{s,b,rm,riv}`` ->
      ``s1.pathway0_stem.conv.weight``, ``s1.pathway0_stem.bn.{weight,bias,
      running_mean,running_var}`` (``t_conv1_w``, ``t_res_conv1_bn_*``:
      ``pathway1``)
    - ``res{s}_{i}_branch1_w`` / ``_branch1_bn_*`` ->
      ``s{s}.pathway0_res{i}.branch1.weight`` / ``branch1_bn.*``
    - ``res{s}_{i}_branch2{a,b,c}_w`` / ``_bn_*`` ->
      ``s{s}.pathway0_res{i}.branch2.{a,b,c}.weight`` / ``{a,b,c}_bn.*``
    - ``t_pool1_subsample_w`` / ``_bn_*`` -> ``s1_fuse.conv_f2s.weight`` /
      ``s1_fuse.bn.*``; ``t_res{s}_{i}_branch2c_bn_subsample_w`` / ``_bn_*``
      -> ``s{s}_fuse.conv_f2s.weight`` / ``s{s}_fuse.bn.*``
    - ``nonlocal_conv{s}_{i}_{theta,phi,g,out}_{w,b}`` / ``_bn_*`` ->
      ``s{s}.pathway0_nonlocal{i}.conv_{theta,phi,g,out}.*`` / ``bn.*``

    and then, like the PySlowFast names of a ``.pyth``, mapped by the
    backbone rules of :func:`convert_official_state_dict` onto
    ``backbone.*`` of ``ResNet3dSlowFastMultiLevel`` (SlowFast) or
    mmaction2's ``ResNet3dSlowOnly``. Dropped, and listed in the report:
    the Kinetics classifier (``pred_{w,b}``, ``head.projection.*``), the
    training state (``lr``, ``model_iter``) and the optimizer momentum of
    known blobs (``{blob}_momentum``). Every other name is an error.
    Values are not changed (numpy arrays become tensors sharing memory
    where possible); BatchNorm ``num_batches_tracked`` counters are added
    (0).

    Args:
        state_dict (Mapping[str, Any]): The ``blobs`` / ``model_state``
            entry (see :func:`extract_pyslowfast_state_dict`), with or
            without a ``module.`` prefix.
        backbone (str): ``'auto'``, ``'slowfast'`` or ``'slowonly'``.
        source_format (str): ``'auto'`` (Caffe2 when no name has a dot),
            ``'caffe2'`` or ``'pyslowfast'``.
        progress (bool): Show mmengine's progress bar over the entries.

    Returns:
        tuple[dict, ConversionReport]: ``backbone.*`` tensors and the report.

    Raises:
        ValueError: Names that match no rule (all listed), or names of an
            official STMixer checkpoint.
    """
    if backbone not in ('auto', 'slowfast', 'slowonly'):
        raise ValueError("backbone must be 'auto', 'slowfast' or "
                         f"'slowonly', got {backbone!r}")
    if source_format not in ('auto', 'caffe2', 'pyslowfast'):
        raise ValueError("source_format must be 'auto', 'caffe2' or "
                         f"'pyslowfast', got {source_format!r}")
    report = ConversionReport()
    items = _strip_module_prefix(state_dict, report)
    keys = [k for k, _ in items]
    if any(k.startswith(('stm_head.', 'backbone.')) for k in keys):
        raise ValueError(
            'these are not PySlowFast Kinetics weights but a detector '
            "checkpoint ('stm_head.*' / 'backbone.*' names): use "
            'convert_official_state_dict (tools/convert_official_checkpoint'
            '.py) for official STMixer checkpoints')
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
        for key, value in _progress(items, progress):
            if key.endswith('_momentum'):
                momentum.append(key)
                continue
            reason = _match_dropped(_CAFFE2_DROPPED, key)
            if reason is not None:
                report.dropped[key] = reason
                known.add(key)
                continue
            name = _apply(_CAFFE2_RULES, key)
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
        for key, value in _progress(items, progress):
            reason = _match_dropped(_PYSLOWFAST_DROPPED, key)
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
    rules = _cnn_rules(detected)
    new: Dict[str, Tensor] = {}
    for source, name, value in renamed:
        suffix = _apply(rules, name)
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
    _add_bn_counters(new, report)
    return new, report
