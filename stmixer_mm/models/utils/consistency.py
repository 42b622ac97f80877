"""Settings that the parts of an STMixer model share, filled in from the
owner's into a part's config. (The built parts' checks are the owners':
``STMixer._check_query_generator``, ``STMixerDecoder.__init__`` and
``STMixerDecoder.prepare_features`` for the pyramid; the mask and forecast
heads' configs are filled in by their own modules.)"""
import inspect
from typing import Optional

from stmixer_mm.registry import MODELS

#: constructor arguments that carry the query channels, by query generator
CHANNEL_ARGS = ('hidden_channels', 'proposal_feature_channel')


def inject_query_generator_settings(cfg: dict, hidden_channels: int,
                                    with_temporal_queries: bool) -> dict:
    """The query generator config with the decoder's channels and
    ``with_temporal_queries`` filled in where its constructor names them; an
    explicit different value is an error.

    Args:
        cfg (dict): The ``rpn_head`` config (its ``type`` registered).
        hidden_channels (int): The decoder's query channels (set as
            ``hidden_channels`` / ``proposal_feature_channel``).
        with_temporal_queries (bool): Whether the decoder reads temporal
            queries.

    Returns:
        dict: A copy of ``cfg`` with the settings its constructor takes.
    """
    cfg = dict(cfg)
    cls = MODELS.get(cfg['type']) if isinstance(cfg['type'],
                                                str) else cfg['type']
    if cls is None:
        raise ValueError(f'rpn_head.type={cfg["type"]!r} is not registered '
                         'in mmdet\'s MODELS')
    args = inspect.signature(cls.__init__).parameters
    settings = dict(
        with_temporal_queries=with_temporal_queries,
        **dict.fromkeys(CHANNEL_ARGS, hidden_channels))
    for name, value in settings.items():
        if name not in args:
            continue
        if cfg.get(name, value) != value:
            source = ('stage_head.action_branches' if name
                      == 'with_temporal_queries' else 'hidden_channels')
            raise ValueError(
                f'rpn_head.{name} ({cfg[name]}) != the decoder\'s '
                f'{value} (from the decoder\'s {source}); leave it out, the '
                'detector fills it in')
        cfg[name] = value
    return cfg


def check_explicit_setting(cfg: dict,
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
                             f'{name} ({value}); leave it out, it is filled '
                             'in')
        cfg[name] = value
    return cfg
