"""Every checkpoint names its action classes (``meta.dataset_meta.classes``,
:mod:`stmixer_mm.engine.class_remap`'s convention), also for AVA datasets,
whose names are in the ``label_file``, not the ``metainfo``."""
from typing import List, Optional

from mmengine.hooks import Hook

from stmixer_mm.datasets.class_names import model_action_columns
from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.model_wrappers import unwrap_model
from ..class_remap import dataset_classes

__all__ = ['ClassNamesHook']


@HOOKS.register_module()
class ClassNamesHook(Hook):
    """With ``label_convention='ava'``, put the training dataset's class names
    into its ``metainfo`` before the run and into each checkpoint's
    ``meta.dataset_meta.classes`` where missing (dataset wrappers copy the
    metainfo at construction); a dataset without classes or label map is
    left alone."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.classes: Optional[List[Optional[str]]] = None

    def before_run(self, runner) -> None:
        loader = runner._train_dataloader
        dataset = getattr(loader, 'dataset', None)  # a built loader only
        if dataset is None:
            return
        model = unwrap_model(runner.model)
        try:
            num_actions, convention = model_action_columns(model)
        except TypeError:
            return  # not an action detector
        if convention != 'ava':
            return
        self.classes = dataset_classes(dataset, num_actions)
        if self.classes is None:
            return
        inner = dataset
        while hasattr(inner, 'dataset') and not hasattr(inner, 'label_file'):
            inner = inner.dataset
        for ds in {id(dataset): dataset, id(inner): inner}.values():
            meta = getattr(ds, '_metainfo', None)
            if isinstance(meta, dict) and not meta.get('classes'):
                meta['classes'] = list(self.classes)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Write the classes into ``meta.dataset_meta.classes`` where
        missing.

        Args:
            runner (Runner): The runner (unused).
            checkpoint (dict): The checkpoint to save; changed in place.
        """
        if self.classes is None:
            return
        meta = checkpoint.setdefault('meta', {})
        dataset_meta = meta.get('dataset_meta')
        if not isinstance(dataset_meta, dict):
            dataset_meta = meta['dataset_meta'] = {}
        if not dataset_meta.get('classes'):
            dataset_meta['classes'] = list(self.classes)
