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

# RandomStateHook: checkpoints carry the Python/NumPy/torch random state and
# the sampler seed, so `--resume` continues exactly like the uninterrupted
# run (augmentation included); validation does not move the training RNG.
# AVAEvaluationCheckHook: an AVAMetric whose ann_file / exclude_file /
# label_file / num_classes differ from the evaluated dataset's stops the run
# before predicting (no mAP against other ground truth).
# A config that sets its own `custom_hooks` replaces this list: keep both.
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='AVAEvaluationCheckHook')
]
