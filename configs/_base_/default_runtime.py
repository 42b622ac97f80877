# mmaction2's runtime (default scope 'mmaction', hooks, ActionVisualizer)
# plus the plugin import. Detector parts live in the mmdet scope
# (model `_scope_='mmdet'`), data/metrics in mmaction's.
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['stmixer_mm'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='mAP/overall',
        rule='greater'))
