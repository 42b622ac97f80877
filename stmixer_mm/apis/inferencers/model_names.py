"""Model names of the metafiles (``model-index.yml``), as ``mim`` and
mmengine's ``BaseInferencer._load_model_from_metafile`` resolve them: one
resolver for every command and the Inferencer
(:func:`~stmixer_mm.apis.config_files.resolve_config`)."""
import warnings
from typing import Optional, Tuple

import torch

from stmixer_mm.apis.config_files import load_config, resolve_config
from stmixer_mm.apis.package_files import metafile_models, models_dir
from stmixer_mm.utils.checks import check_range

__all__ = [
    'resolve_model_name', 'resolve_model', 'metafile_models', 'models_dir'
]


def resolve_model_name(name: str) -> Tuple[str, Optional[str]]:
    """``(config path, first Weights or None)`` of what a ``model``
    argument names (:func:`~stmixer_mm.apis.config_files.resolve_config`:
    a config file, ``stmixer_mm::<folder>/<config>.py`` or a metafile
    model name).

    Args:
        name (str): an entry's ``Name`` or ``Alias``, any case (as
            mmengine), or a config.

    Returns:
        tuple[str, str | None]: The config's path and the entry's
        ``Weights`` (the first of a list; None where it has none or
        ``name`` is a config).

    Raises:
        ConfigSettingError: (a ``ValueError``) none of these; the closest
            names listed.
    """
    path, weights, _ = resolve_config(name)
    return path, weights


def resolve_model(model, weights: Optional[str], person_thr: Optional[float],
                  cfg_options: Optional[dict], who: str) -> tuple:
    """Resolve what an Inferencer's ``model`` argument names.

    Args:
        model (str | Config | nn.Module): A config file or object,
            ``stmixer_mm::<folder>/<config>.py``, a metafile model name
            (:func:`~stmixer_mm.apis.config_files.resolve_config`), or a
            built detector with ``model.cfg``.
        weights (str, optional): Checkpoint; given, it wins over a
            metafile entry's ``Weights``.
        person_thr (float, optional): Sets
            ``model.test_cfg.rcnn.person_threshold``, in [0, 1].
        cfg_options (dict, optional): Overrides merged into the config.
        who (str): The caller's name, starting the error messages.

    Returns:
        tuple: ``(config, weights, detector, cfg_options)``: the config
        (``Config``), the weights (str or None), the given detector (or
        None) and the overrides to build with (``person_thr`` among
        them).

    Raises:
        ValueError: A built detector with ``weights`` / ``person_thr`` /
            ``cfg_options`` (set when it is built) or without ``cfg``;
            an unknown model name.
    """
    given = None
    cfg_options = dict(cfg_options or {})
    if person_thr is not None:
        check_range(who, '[0, 1]', person_thr=person_thr)
        cfg_options['model.test_cfg.rcnn.person_threshold'] = float(person_thr)
    if isinstance(model, torch.nn.Module):
        if weights is not None or person_thr is not None or len(cfg_options):
            raise ValueError(f'{who}: weights / person_thr / cfg_options are '
                             'set when the model is built; pass a config to '
                             'have them applied')
        if getattr(model, 'cfg', None) is None:
            raise ValueError(f'{who}: a built model needs model.cfg '
                             '(init_detector sets it)')
        given, model = model, model.cfg
    elif isinstance(model, str):
        model, meta_weights, name = resolve_config(model)
        weights = meta_weights if weights is None else weights
        if name is not None and weights is None:
            warnings.warn(
                f'{who}: the model {name!r} has no weights in its metafile; '
                'it runs with random weights (as DetInferencer does)')
        model = load_config(model)
    return model, weights, given, cfg_options
