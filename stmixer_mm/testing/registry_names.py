"""What a type string of an old-style config names in the registries (for
``tools/misc/write_new_style_configs.py`` and its test)."""

#: the mmengine registries a config's ``type`` fields are built from
REGISTRY_KINDS = ('MODELS', 'TASK_UTILS', 'DATASETS', 'DATA_SAMPLERS',
                  'TRANSFORMS', 'METRICS', 'VISUALIZERS', 'VISBACKENDS',
                  'HOOKS', 'LOOPS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
                  'PARAM_SCHEDULERS', 'LOG_PROCESSORS', 'WEIGHT_INITIALIZERS')
#: the scopes a config of this project builds its parts in
SCOPES = ('mmdet', 'mmaction')


def objects_named(name: str, scope: str) -> set:
    """The objects (classes, functions) that the type string ``name`` names
    in the registries of ``scope`` (this project's parts registered there
    too), as the Runner would build them.

    Args:
        name (str): A ``type`` string of an old-style config.
        scope (str): One of :data:`SCOPES` (the model's ``_scope_`` or the
            config's ``default_scope``).

    Returns:
        set: The objects found in the :data:`REGISTRY_KINDS`, empty when
        none is registered by that name.
    """
    import importlib

    from mmengine.registry import DefaultScope
    if scope not in SCOPES:
        raise ValueError(f'scope must be one of {SCOPES}, got {scope!r}')
    registries = importlib.import_module(f'{scope}.registry')
    found = set()
    with DefaultScope.overwrite_default_scope(scope):
        for kind in REGISTRY_KINDS:
            obj = getattr(registries, kind).get(name)
            if obj is not None:
                found.add(obj)
    return found
