"""Helpers of ``tools/model_converters/convert_*.py`` (reading, config
backbone, strict-fit check, saving)."""
import copy
import os
import os.path as osp
from typing import Sequence, Tuple
from unittest import mock

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_checkpoint_file)
from stmixer_mm.version import __version__


def build_config_backbone(
        config: str,
        cfg_options=None,
        on_meta: bool = False) -> Tuple[torch.nn.Module, Config]:
    """The backbone of ``config``'s detector, built but not initialised (no
    pretrained download), and the config; ``on_meta``: on the meta device
    (shapes only; drop-path rates still from a CPU ``linspace``)."""
    cfg = Config.fromfile(config)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    backbone = copy.deepcopy(cfg.model.backbone)
    backbone.setdefault('_scope_', cfg.model.get('_scope_', 'mmdet'))
    if not on_meta:
        return MODELS.build(backbone), cfg
    linspace = torch.linspace

    def cpu_linspace(*args, **kwargs):  # drop-path rates are read .item()
        kwargs.setdefault('device', 'cpu')
        return linspace(*args, **kwargs)

    with torch.device('meta'), mock.patch.object(torch, 'linspace',
                                                 cpu_linspace):
        return MODELS.build(backbone), cfg


def read_source(args, extract, convert, errors=()) -> tuple:
    """``(state_dict, report, entry)`` of ``args.src`` through ``extract``
    and ``convert``, printed; a bad file exits with ``error: SRC: ...``."""
    try:
        source = load_checkpoint_file(args.src, trust_pickle=args.trust_pickle)
        weights, entry = extract(source)
        state_dict, report = convert(weights)
    except (CheckpointFileError, ValueError, TypeError) + errors as err:
        raise SystemExit(f'error: {args.src}: {err}') from err
    where = f"['{entry}']" if entry else ' (bare dict)'
    print(f'read {len(weights)} entries from {args.src}{where}')
    print(report.summary())
    return state_dict, report, entry


def exit_unless_fits(args,
                     missing: Sequence[str],
                     unexpected: Sequence[str],
                     mismatched: Sequence[str],
                     show: bool = False) -> None:
    """Exit with ``error: the weights of SRC do not fit ...`` (``N missing,
    e.g. K | ...``) if a list of the strict comparison is non-empty; ``show``
    prints the lists first."""
    problems = [
        f'{len(v)} {name}, e.g. {v[0]}'
        for name, v in (('missing', missing), ('unexpected', unexpected),
                        ('shape mismatches', mismatched)) if v
    ]
    if problems and show:
        print_list('missing backbone keys (in the model, not converted)',
                   missing)
        print_list('unexpected keys (converted, not in the backbone)',
                   unexpected)
        print_list('shape mismatches', mismatched)
    if problems:
        raise SystemExit(
            f'error: the weights of {args.src} do not fit the backbone of '
            f'{args.config} (' + ' | '.join(problems) + ')')


def print_list(title: str, items: Sequence[str]) -> None:
    """Print ``title (n):`` and one indented line per item."""
    print(f'{title} ({len(items)}):')
    for item in items:
        print(f'  {item}')


def save_converted(args, state_dict: dict, converter: str, entry,
                   **extra) -> dict:
    """Write ``{'meta': meta, 'state_dict': state_dict}`` to ``args.dst``
    (folders created), say so, and return it; ``meta`` names the converter,
    version, source file / entry and config, then ``extra``."""
    meta = dict(
        converter=converter,
        stmixer_mm_version=__version__,
        source=osp.basename(args.src),
        source_entry=entry,
        config=args.config,
        **extra)
    checkpoint = dict(meta=meta, state_dict=state_dict)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(checkpoint, args.dst)
    print(f'saved {len(state_dict)} backbone tensors to {args.dst}')
    return checkpoint
