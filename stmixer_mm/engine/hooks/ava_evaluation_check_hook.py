"""Refuse to score predictions against other ground truth than the
evaluated dataset's."""
import os.path as osp
from typing import Any, List, Tuple

from mmengine.hooks import Hook

from stmixer_mm.evaluation import TubeMetric
from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.checks import ConfigSettingError

# fields of mmaction2's AVAMetric and the dataset arguments they must equal
AVA_METRIC_FIELDS = ('ann_file', 'exclude_file', 'label_file', 'num_classes',
                     'custom_classes')
# the same for stmixer_mm's TubeMetric and TubeDataset
TUBE_METRIC_FIELDS = ('ann_file', 'split')


def _as_set(field: str, value: Any) -> Any:
    """``value`` as a config sets it: mmaction2 keeps ``custom_classes``
    as ``[0, *ids]`` once built."""
    if field == 'custom_classes' and value and value[0] == 0:
        return list(value[1:])
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return osp.realpath(a) == osp.realpath(b)
    return a == b


def ava_evaluation_mismatches(
        metric: Any,
        dataset: Any,
        fields: Tuple[str,
                      ...] = AVA_METRIC_FIELDS) -> List[Tuple[str, Any, Any]]:
    """The fields that differ between a metric and the evaluated dataset.

    Args:
        metric (BaseMetric): E.g. an ``AVAMetric``.
        dataset (BaseDataset): The evaluated dataset; a field it lacks is
            not compared.
        fields (tuple[str]): Attribute names; paths are compared after
            ``realpath``. Defaults to ``AVAMetric``'s.

    Returns:
        list[tuple[str, Any, Any]]: ``(field, metric value, dataset
        value)`` of each differing field.
    """
    out = []
    for field in fields:
        if not hasattr(dataset, field):
            continue
        mine, theirs = getattr(metric, field, None), getattr(dataset, field)
        if not _same(mine, theirs):
            out.append((field, mine, theirs))
    return out


@HOOKS.register_module()
class AVAEvaluationCheckHook(Hook):
    """Refuse to evaluate against other ground truth than the dataset's
    (``AVAMetric`` reads its own ``ann_file``...): before each loop, every
    ``AVAMetric`` / ``TubeMetric`` is compared with the loop's dataset
    (:meth:`before_val`, paths after ``realpath``)."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        self.before_val(runner)

    def before_val(self, runner, stage: str = 'val') -> None:
        """Compare the metrics of the ``stage`` loop (built, not ``None``)
        with its dataset: ``AVAMetric``'s fields :data:`AVA_METRIC_FIELDS`,
        ``TubeMetric``'s :data:`TUBE_METRIC_FIELDS`, other metrics none.

        Args:
            runner (Runner): Gives the loop.
            stage (str): ``'val'`` or ``'test'`` (:meth:`before_test`).

        Raises:
            ConfigSettingError: A field differs, naming both settings.
        """
        from mmaction.evaluation import AVAMetric

        loop = getattr(runner, f'{stage}_loop')
        if loop is None or isinstance(loop, dict):
            return
        dataset = getattr(loop.dataloader, 'dataset', None)
        evaluator = getattr(loop, 'evaluator', None)
        if dataset is None or evaluator is None:
            return
        for metric in evaluator.metrics:
            if isinstance(metric, AVAMetric):
                fields = AVA_METRIC_FIELDS
            elif isinstance(metric, TubeMetric):
                fields = TUBE_METRIC_FIELDS
            else:
                continue
            bad = ava_evaluation_mismatches(metric, dataset, fields)
            if bad:
                bad = [(f, _as_set(f, m), _as_set(f, d)) for f, m, d in bad]
                lines = '\n'.join(f'  {stage}_evaluator.{f} = {m!r} but '
                                  f'{stage}_dataloader.dataset.{f} = {d!r}'
                                  for f, m, d in bad)
                raise ConfigSettingError(
                    f'{type(metric).__name__} would score the {stage} '
                    'predictions against other files than the evaluated '
                    f'dataset:\n{lines}\nset both to the same value (e.g. '
                    f'--cfg-options {stage}_evaluator.{bad[0][0]}='
                    f'{bad[0][2]})')

    def before_test(self, runner) -> None:
        self.before_val(runner, 'test')
