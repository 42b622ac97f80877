"""Model names of the metafiles (``model-index.yml``), as ``mim`` and
mmengine's ``BaseInferencer._load_model_from_metafile`` resolve them."""
import difflib
import os.path as osp
from typing import List, Optional, Tuple

from stmixer_mm.utils.package_files import models_dir

__all__ = ['resolve_model_name', 'metafile_models', 'models_dir']


def metafile_models(root: Optional[str] = None) -> List[dict]:
    """Every ``Models`` entry of the metafiles ``model-index.yml`` imports
    (read with ``yaml.safe_load``)."""
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
    """The config file and weights of a metafile model name.

    Names and aliases (``Alias``) match without regard to case, as
    mmengine's ``BaseInferencer`` compares them; of a list of ``Weights``
    the first is taken.

    Args:
        name (str): a ``Name`` (or alias) of a metafile entry, e.g.
            ``stmixer_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb``.
        root (str, optional): folder of ``model-index.yml`` (default
            :func:`models_dir`).

    Returns:
        tuple[str, str | None]: the config's path and the entry's
        ``Weights`` (None where it has none).

    Raises:
        ValueError: no entry has that name; the message lists the closest
            names (or all of them).
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
