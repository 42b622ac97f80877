"""What the checkpoint-converter tools share
(``tools/model_converters/convert_*.py``): the config's backbone, the
summary of a strict-fit failure and the saved file. Not imported by
``import stmixer_mm``: only the tools need it.
"""
import copy
import os
import os.path as osp
from typing import List, Sequence, Tuple
from unittest import mock

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from stmixer_mm.registry import MODELS


def build_config_backbone(
        config: str,
        cfg_options=None,
        on_meta: bool = False) -> Tuple[torch.nn.Module, Config]:
    """The backbone of ``config``'s detector, built only (not initialised:
    no pretrained download), and the config.

    Args:
        config (str): Config file.
        cfg_options (dict, optional): Overrides merged into the config.
        on_meta (bool): Build on the meta device (shapes only, no memory;
            drop-path rates still come from a CPU ``linspace``).
    """
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


def fit_problems(missing: Sequence[str], unexpected: Sequence[str],
                 mismatched: Sequence[str]) -> List[str]:
    """``['N missing, e.g. K', ...]`` for the non-empty lists of a strict
    comparison (``compare_state_dicts``), in that order."""
    return [
        f'{len(v)} {name}, e.g. {v[0]}'
        for name, v in (('missing', missing), ('unexpected', unexpected),
                        ('shape mismatches', mismatched)) if v
    ]


def print_list(title: str, items: Sequence[str]) -> None:
    """Print ``title (n):`` and one indented line per item (the converter
    tools' report of missing / unexpected / mismatched keys)."""
    print(f'{title} ({len(items)}):')
    for item in items:
        print(f'  {item}')


def save_converted(dst: str, state_dict: dict, meta: dict) -> dict:
    """Write ``{'meta': meta, 'state_dict': state_dict}`` to ``dst``
    (folders created), say so, and return it."""
    checkpoint = dict(meta=meta, state_dict=state_dict)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(checkpoint, dst)
    print(f'saved {len(state_dict)} backbone tensors to {dst}')
    return checkpoint
