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

from stmixer_mm.apis.config_files import load_config, resolve_config
from stmixer_mm.apis.output_files import commit, remove_quietly, temp_path
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.output_files import check_output_file
from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_checkpoint_file)
from stmixer_mm.utils.checks import ConfigSettingError
from stmixer_mm.version import __version__


def build_config_backbone(
        config: str,
        cfg_options=None,
        on_meta: bool = False) -> Tuple[torch.nn.Module, Config]:
    """The backbone of ``config``'s detector, built but not initialised (no
    pretrained download), and the config; ``on_meta``: on the meta device
    (shapes only; drop-path rates still from a CPU ``linspace``); a config
    that cannot be read exits with ``error: config ...``."""
    cfg = load_converter_config(config, cfg_options)
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


def save_checkpoint_file(checkpoint: dict, dst: str) -> None:
    """``torch.save`` ``checkpoint`` to ``dst`` (folders created) through a
    temporary file renamed when complete: an error leaves no half file.

    Args:
        checkpoint (dict): What to save.
        dst (str): The output file (replaced if it exists).

    Raises:
        SystemExit: The write failed (the partial file removed).
    """
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = temp_path(dst)
    try:
        torch.save(checkpoint, tmp)
        commit(tmp, dst)
    except BaseException as err:
        remove_quietly(tmp)
        if isinstance(err, (OSError, RuntimeError)):
            raise SystemExit(
                command_error(f'{dst}: writing it failed ({err}); '
                              'removed the partial file')) from None
        raise


def load_converter_config(config: str, cfg_options=None) -> Config:
    """``config`` read (:func:`~stmixer_mm.apis.config_files.load_config`),
    then ``cfg_options`` merged; a missing or unreadable file exits with
    ``error: config ...``.

    Args:
        config (str): The ``--config`` of a converter.
        cfg_options (dict, optional): Its ``--cfg-options``. Defaults to
            None.

    Returns:
        Config: The config.
    """
    try:
        cfg = load_config(config)
    except (ConfigSettingError, FileNotFoundError) as err:
        raise SystemExit(command_error(err)) from None
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    return cfg


def read_source(args,
                extract,
                convert,
                errors=(),
                noun: str = 'entries',
                bare: str = 'dict') -> tuple:
    """Read and convert a converter's source, printing what was read.

    Checked first, not after the conversion: that the converted file can be
    written at DST (:func:`check_output_file`; else ``error: DST ...``) and
    that ``--config`` (if given) is a file (else ``error: --config ...``).

    Args:
        args (argparse.Namespace): The converter's, with ``src``, ``dst``,
            ``trust_pickle`` and maybe ``config``.
        extract (Callable): ``(weights, entry)`` of the loaded file.
        convert (Callable): ``(state_dict, report)`` of the weights.
        errors (tuple): More exception types meaning a bad source.
        noun (str): What the weights are, in ``read N <noun> from SRC``.
        bare (str): What a bare file is, in ``(bare <bare>)``.

    Returns:
        tuple: ``(state_dict, report, entry, source)``, ``source`` the
        file's content.

    Raises:
        SystemExit: ``error: SRC: <the reason>`` for a source that cannot
            be read or converted (a KeyError's text without its quotes; a
            :class:`CheckpointFileError` names the file already).
    """
    try:
        check_output_file(args.dst, 'DST')
    except OSError as err:
        raise SystemExit(command_error(err)) from None
    config = getattr(args, 'config', None)
    if config is not None:
        try:  # a file, stmixer_mm::<folder>/<config>.py or a model name
            resolve_config(config)
        except (ConfigSettingError, FileNotFoundError) as err:
            raise SystemExit(command_error(f'--config {err}')) from None
    try:
        source = load_checkpoint_file(args.src, trust_pickle=args.trust_pickle)
        weights, entry = extract(source)
        state_dict, report = convert(weights)
    except CheckpointFileError as err:
        raise SystemExit(command_error(err)) from err
    except (ValueError, TypeError, KeyError) + errors as err:
        reason = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(command_error(f'{args.src}: {reason}')) from err
    where = f"['{entry}']" if entry else f' (bare {bare})'
    print(f'read {len(weights)} {noun} from {args.src}{where}')
    print(report.summary())
    return state_dict, report, entry, source


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
            command_error(f'the weights of {args.src} do not fit the '
                          f'backbone of {args.config} (' +
                          ' | '.join(problems) + ')'))


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
    save_checkpoint_file(checkpoint, args.dst)
    print(f'saved {len(state_dict)} backbone tensors to {args.dst}')
    return checkpoint
