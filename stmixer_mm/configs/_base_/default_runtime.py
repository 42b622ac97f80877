# New-style twin of configs/_base_/default_runtime.py: mmaction2's runtime
# (default scope 'mmaction', hooks, vis backends; written out here, since
# mmaction2 1.2 ships no new-style configs) plus the plugin's
# action-detection visualizer and hooks. Detector parts are built in the
# mmdet scope (the model's `_scope_='mmdet'`), data/metrics in mmaction's.
# LocalVisBackend is mmaction2's (it also writes videos), not mmengine's.
from mmaction.visualization import LocalVisBackend
from mmengine.hooks import (CheckpointHook, DistSamplerSeedHook, IterTimerHook,
                            LoggerHook, ParamSchedulerHook, RuntimeInfoHook,
                            SyncBuffersHook)
from mmengine.runner import LogProcessor

from stmixer_mm.engine.hooks import (ActionDetVisualizationHook,
                                     AVAEvaluationCheckHook,
                                     ClassConsistencyHook, ClassNamesHook,
                                     RandomStateHook)
from stmixer_mm.visualization import ActionDetLocalVisualizer

# The types below are classes, so the scope names no registry for them; it
# still resolves the type strings that modules build internally, as in the
# old-style configs.
default_scope = 'mmaction'

# kept so that a config dumped from this one and read as an old-style file
# registers the plugin (the classes above import it anyway)
custom_imports = dict(imports=['stmixer_mm'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type=RuntimeInfoHook),
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, interval=20, ignore_last=False),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(
        type=CheckpointHook,
        interval=1,
        max_keep_ckpts=3,
        save_best='mAP/overall',
        rule='greater'),
    sampler_seed=dict(type=DistSamplerSeedHook),
    sync_buffers=dict(type=SyncBuffersHook),
    # draws test samples when enabled (tools/test.py --show / --show-dir)
    visualization=dict(type=ActionDetVisualizationHook, draw=False))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type=LogProcessor, window_size=20, by_epoch=True)

# mmaction2's ActionVisualizer draws no boxes: GT beside predictions, boxes,
# top actions and person scores (same vis backends as mmaction2's runtime)
vis_backends = [dict(type=LocalVisBackend)]
visualizer = dict(
    type=ActionDetLocalVisualizer, vis_backends=[dict(type=LocalVisBackend)])

log_level = 'INFO'
load_from = None
resume = False

# RandomStateHook: checkpoints carry the Python/NumPy/torch random state and
# the sampler seed, so `--resume` continues exactly like the uninterrupted
# run. AVAEvaluationCheckHook: an AVAMetric whose files / num_classes differ
# from the evaluated dataset's stops the run before predicting.
# ClassNamesHook: every checkpoint carries meta.dataset_meta.classes.
# ClassConsistencyHook: the model's num_actions fits each dataset as loaded.
# A config that sets its own `custom_hooks` replaces this list: keep these.
custom_hooks = [
    dict(type=RandomStateHook),
    dict(type=AVAEvaluationCheckHook),
    dict(type=ClassNamesHook),
    dict(type=ClassConsistencyHook)
]

# fine-tuning from `load_from` onto other classes: None or 'by_name'
# (docs/en/finetune.md)
load_from_classes = None
