"""Settings that the parts of an STMixer model share, filled in from the
owner's into a part's config. (The built parts' checks are the owners':
``STMixer.__init__``, ``STMixerDecoder.__init__``, and for the pyramid
``STMixer.extract_feat`` (strides) and ``STMixerDecoder.prepare_features``
(``C``, ``T``); the query generator's
config is filled in by ``STMixer._query_generator_cfg``, a task head's by
its own ``config_from``.)"""
from typing import Optional


def fill_in_settings(cfg: dict,
                     values: dict,
                     where: str,
                     owner: Optional[str] = None) -> dict:
    """``cfg`` with the settings ``values`` filled in; an explicit different
    value of one is an error naming ``where`` and the ``owner``.

    Args:
        cfg (dict): A part's config.
        values (dict): Setting name -> its value (sequences compare as
            tuples); an explicit non-None different one in ``cfg`` raises
            ValueError.
        where (str): The config path of ``cfg``, for the message.
        owner (str, optional): Whose values they are, for the message.

    Returns:
        dict: A copy of ``cfg`` with ``cfg[name] = value`` for each.
    """
    cfg = dict(cfg)
    for name, value in values.items():
        given = cfg.get(name)
        if given is not None and (tuple(given) != tuple(value) if isinstance(
                value, (list, tuple)) else given != value):
            raise ValueError(f'{where}.{name} ({given}) != {owner or "the"} '
                             f'{name} ({value}); leave it out (filled in)')
        cfg[name] = value
    return cfg
