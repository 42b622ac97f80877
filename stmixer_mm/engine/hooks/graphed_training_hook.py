"""Log how the training steps of ``model.graph_train_cfg`` ran."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from stmixer_mm.registry import HOOKS


@HOOKS.register_module()
class GraphedTrainingLogHook(Hook):
    """After every training epoch and at the end of the run, log how many
    steps of the replayed training step (``model.graph_train_cfg``,
    :class:`~stmixer_mm.models.detectors.compile.GraphedTraining`) were
    replayed, ran compiled or eagerly (and why), the shapes recorded,
    inductor's CUDA-graph skips and Dynamo's recompiles; what calls for it
    (a skip, a recompile, no replay after the warm-up) as a warning. A
    model without ``graph_train_cfg`` logs nothing."""

    priority = 'LOW'

    def after_train_epoch(self, runner) -> None:
        self._log(runner, f'epoch {runner.epoch + 1}')  # (counted from 0 here)

    def after_run(self, runner) -> None:
        self._log(runner, 'end of the run')

    @staticmethod
    def _log(runner, when: str) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        graphed = getattr(model, 'graphed_training', None)
        if graphed is None or not graphed.counts:
            return
        line, warns = graphed.report()
        runner.logger.info(f'{when}: {line}')
        for message in warns:
            runner.logger.warning(f'{when}: {message}')
