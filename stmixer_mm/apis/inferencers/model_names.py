"""Model names of the metafiles (``model-index.yml``), as ``mim`` and
mmengine's ``BaseInferencer._load_model_from_metafile`` resolve them."""
import difflib
import os.path as osp
import warnings
from typing import List, Optional, Tuple

import torch

from stmixer_mm.utils.package_files import models_dir
from stmixer_mm.utils.setting_types import check_probability
from stmixer_mm.utils.settings import load_config

__all__ = [
    'resolve_model_name', 'resolve_model', 'metafile_models', 'models_dir'
]


def metafile_models(root: Optional[str] = None) -> List[dict]:
    """Every ``Models`` entry of the metafiles ``model-index.yml`` imports."""
    import yaml
    root = root or models_dir()
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f) or {}
    models = []
    for meta in index.get('Import', []):
        with open(osp.join(root, meta)) as f:
            models.extend((yaml.safe_load(f) or {}).get('Models', []))
    return models


def resolve_model_name(name: str,
                       root: Optional[str] = None
                       ) -> Tuple[str, Optional[str]]:
    """``(config path, first Weights or None)`` of a metafile model name.

    Args:
        name (str): an entry's ``Name`` or ``Alias``, any case (as mmengine).
        root (str, optional): ``model-index.yml``'s dir (:func:`models_dir`).

    Returns:
        tuple[str, str | None]: The config's path (under ``root``) and the
        entry's ``Weights`` (the first of a list; None where it has none).

    Raises:
        ValueError: no entry has that name (the closest names listed).
    """
    root = root or models_dir()
    models = metafile_models(root)
    key = name.lower()
    names = []
    for m in models:
        aliases = m.get('Alias') or []
        if isinstance(aliases, str):
            aliases = [aliases]
        candidates = [m['Name']] + list(aliases)
        names += candidates
        if key in (c.lower() for c in candidates):
            weights = m.get('Weights')
            if isinstance(weights, (list, tuple)):
                weights = weights[0] if weights else None
            return osp.join(root, m['Config']), weights or None
    close = difflib.get_close_matches(
        key, [n.lower() for n in names], n=5, cutoff=0.4)
    shown = [n for n in names if n.lower() in close] or names
    raise ValueError(f'{name!r} is neither a config file nor a model name of '
                     f'{osp.join(root, "model-index.yml")}; '
                     f'{"close names" if close else "the names"}: ' +
                     ', '.join(shown))


def resolve_model(model, weights: Optional[str], person_thr: Optional[float],
                  cfg_options: Optional[dict], who: str) -> tuple:
    """Resolve what an Inferencer's ``model`` argument names.

    Args:
        model (str | Config | nn.Module): A config file or object, a
            metafile model name (:func:`resolve_model_name`), or a built
            detector with ``model.cfg``.
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
        cfg_options['model.test_cfg.rcnn.person_threshold'] = \
            check_probability(person_thr, f'{who}: person_thr')
    if isinstance(model, torch.nn.Module):
        if weights is not None or person_thr is not None or len(cfg_options):
            raise ValueError(f'{who}: weights / person_thr / cfg_options are '
                             'set when the model is built; pass a config to '
                             'have them applied')
        if getattr(model, 'cfg', None) is None:
            raise ValueError(f'{who}: a built model needs model.cfg '
                             '(init_detector sets it)')
        given, model = model, model.cfg
    elif isinstance(model, str):  # a config file, else a model name
        if not osp.isfile(model) and not model.endswith('.py'):
            model, meta_weights = resolve_model_name(model)
            weights = meta_weights if weights is None else weights
            if weights is None:
                warnings.warn(
                    f'{who}: the model {model!r} has no weights in its '
                    'metafile; it runs with random weights (as DetInferencer '
                    'does)')
        model = load_config(model)
    return model, weights, given, cfg_options
