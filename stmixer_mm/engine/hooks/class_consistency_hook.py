"""Refuse to train or evaluate a model whose action classes do not fit the
dataset's."""
from typing import Any

from mmengine.hooks import Hook

from stmixer_mm.datasets.class_names import (check_action_classes,
                                             find_action_columns)
from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.checks import ConfigSettingError


def innermost_dataset(dataset: Any) -> Any:
    """The dataset inside ``RepeatDataset`` / ``ClassBalancedDataset``."""
    while hasattr(dataset,
                  'dataset') and not hasattr(dataset, 'load_data_list'):
        dataset = dataset.dataset
    return dataset


def check_model_fits_dataset(model: Any, dataset: Any, where: str) -> None:
    """Check that the model's action columns fit the dataset's classes as
    loaded (:func:`check_action_classes`); nothing for a model or dataset
    that does not say.

    Args:
        model (nn.Module): The model (or its wrapper); its ``roi_head``
            gives ``num_actions``.
        dataset (BaseDataset): The dataset (or a wrapper); its
            ``num_classes``.
        where (str): The dataset's config path, starting the message.

    Raises:
        ConfigSettingError: The columns do not fit the classes.
    """
    found = find_action_columns(model)
    dataset = innermost_dataset(dataset)
    num_classes = getattr(dataset, 'num_classes', None)
    if found is None or not isinstance(num_classes, int):
        return
    try:
        check_action_classes(found[0], found[1], num_classes,
                             type(dataset).__name__)
    except ValueError as e:
        raise ConfigSettingError(
            f'{where} ({getattr(dataset, "ann_file", "?")}) does not fit the '
            f'model: {e}') from None


@HOOKS.register_module()
class ClassConsistencyHook(Hook):
    """Before training, validation and testing, check that the model's
    ``num_actions`` fits each loop's dataset as loaded (one class off scores
    every action as its neighbour). ``tools/train.py`` / ``test.py`` add it."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        self.before_val(runner, 'train')
        self.before_val(runner)

    def before_val(self, runner, stage: str = 'val') -> None:
        """Check the dataset of the ``stage`` loop (built, not ``None``)
        against the model (:func:`check_model_fits_dataset`).

        Args:
            runner (Runner): Gives the model and the loop.
            stage (str): ``'train'``, ``'val'`` or ``'test'``
                (:meth:`before_train`, :meth:`before_test`).

        Raises:
            ConfigSettingError: The columns do not fit the classes.
        """
        loop = getattr(runner, f'{stage}_loop')
        if loop is None or isinstance(loop, dict):
            return
        dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
        if dataset is not None:
            check_model_fits_dataset(runner.model, dataset,
                                     f'{stage}_dataloader.dataset')

    def before_test(self, runner) -> None:
        self.before_val(runner, 'test')
