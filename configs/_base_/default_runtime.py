# mmaction2's runtime (default scope 'mmaction', hooks, vis backends) plus
# the plugin import, its action-detection visualizer and hooks. Detector
# parts live in the mmdet scope (model `_scope_='mmdet'`), data/metrics in
# mmaction's.
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['stmixer_mm'], allow_failed_imports=False)

# The project's hooks are default hooks, merged by name as mmengine merges
# default_hooks: a config's own `custom_hooks` (mmdet's EMA recipe:
# custom_hooks = [dict(type='EMAHook', ...)]) adds to them, and one is left
# out only by name (default_hooks = dict(random_state=None), logged by
# tools/train.py).
# random_state (RandomStateHook): checkpoints carry the Python/NumPy/torch
# random state and the sampler seed, so `--resume` continues exactly like
# the uninterrupted run (augmentation included); validation does not move
# the training RNG.
# ava_evaluation_check (AVAEvaluationCheckHook): an AVAMetric whose ann_file
# / exclude_file / label_file / num_classes differ from the evaluated
# dataset's stops the run before predicting (no mAP against other ground
# truth).
# class_names (ClassNamesHook): every checkpoint carries
# meta.dataset_meta.classes (the AVA datasets' label map; TubeDataset has
# them), read by the demo, the inference API, tools/test.py, the ONNX export
# and fine-tuning by name (load_from_classes='by_name', docs/en/finetune.md).
# class_consistency (ClassConsistencyHook): before training, validation and
# testing, the model's num_actions must fit each dataset as loaded (a
# TubeDataset's pickle labels, an AVA dataset's num_classes); here so that
# mmengine's Runner.from_cfg in a user's own script refuses it as
# tools/train.py does.
# graphed_training_log (GraphedTrainingLogHook): with model.graph_train_cfg,
# after every epoch and at the end, how many training steps were replayed as
# CUDA graphs, ran compiled or eagerly (and why), with inductor's CUDA-graph
# skips and Dynamo's recompiles (docs/en/gpu.md).
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='mAP/overall',
        rule='greater'),
    # draws test samples when enabled (tools/test.py --show / --show-dir)
    visualization=dict(type='ActionDetVisualizationHook', draw=False),
    random_state=dict(type='RandomStateHook'),
    ava_evaluation_check=dict(type='AVAEvaluationCheckHook'),
    class_names=dict(type='ClassNamesHook'),
    class_consistency=dict(type='ClassConsistencyHook'),
    graphed_training_log=dict(type='GraphedTrainingLogHook'))

# mmaction2's ActionVisualizer draws no boxes: GT beside predictions, boxes,
# top actions and person scores (same vis backends as mmaction2's runtime)
visualizer = dict(
    type='ActionDetLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')])

# fine-tuning from `load_from` onto other classes: None (the checkpoint's
# classifier must fit; at least load_from_min_loaded of the model loads) or
# 'by_name' (rows mapped by class name, see docs/en/finetune.md)
load_from_classes = None
