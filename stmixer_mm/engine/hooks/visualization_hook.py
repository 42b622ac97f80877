"""Val/test drawing of action detections (mmdet's ``DetVisualizationHook``
for action detection, drawing each clip's keyframe from ``inputs``: video
samples have no image to re-read)."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.checks import check_ints, check_range
from stmixer_mm.visualization import label_names_from_dataset, load_label_names
from stmixer_mm.visualization.samples import keyframe_from_inputs, sample_name

VISUALIZER_TYPES = ('ActionDetLocalVisualizer',
                    'mmaction.ActionDetLocalVisualizer')


@HOOKS.register_module()
class ActionDetVisualizationHook(Hook):
    """Draw ground truth and predictions of val/test samples.

    As mmdet's ``DetVisualizationHook``: ``show=True`` only displays;
    ``test_out_dir`` writes to ``<work_dir>/<timestamp>/<test_out_dir>``
    (absolute: as is); else the drawings go to the ``vis_backends``.

    Args:
        draw (bool): Draw at all (``tools/test.py --show/--show-dir``).
        interval (int): Val: the first sample of every ``interval``-th
            iteration; test: every ``interval``-th sample.
        score_thr (float): Actions scoring less are not shown.
        show (bool): Display in a window.
        wait_time (float): Seconds each window stays.
        test_out_dir (str, optional): Where test images are written.
        label_file (str, optional): AVA label map (default: the data set's).
        enable (bool, optional): mmaction2's ``draw``; decides when given.
        out_dir (str, optional): mmaction2's ``--show-dir``, used as given
            (as its ``VisualizationHook``); not with ``test_out_dir``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 score_thr: float = 0.3,
                 show: bool = False,
                 wait_time: float = 0.,
                 test_out_dir: Optional[str] = None,
                 label_file: Optional[str] = None,
                 enable: Optional[bool] = None,
                 out_dir: Optional[str] = None) -> None:
        check_range(type(self).__name__, '[0, 1]', score_thr=score_thr)
        check_ints(type(self).__name__, interval=interval)
        score_thr = float(score_thr)
        if out_dir is not None and test_out_dir is not None:
            raise ValueError(
                'ActionDetVisualizationHook: give test_out_dir (under the '
                "work dir, as mmdet's test tool) or out_dir (as given, "
                f'mmaction2), not both: got {test_out_dir!r} and '
                f'{out_dir!r}')
        if enable is not None:
            draw = bool(enable)
        self._visualizer: Visualizer = Visualizer.get_current_instance()
        if draw and not hasattr(self._visualizer, 'label_names'):
            raise TypeError(
                'ActionDetVisualizationHook needs the runner\'s visualizer '
                "to be 'ActionDetLocalVisualizer' (visualizer=dict(type="
                "'ActionDetLocalVisualizer', ...)), got "
                f'{type(self._visualizer).__name__}')
        self.draw = draw
        self.interval = interval
        self.score_thr = score_thr
        self.show = show
        if show:
            self._visualizer._vis_backends = {}
            print_log(
                '--show: the visualizer\'s vis_backends are off',
                logger='current')
        self.wait_time = wait_time
        self.test_out_dir = test_out_dir
        self.out_dir = out_dir
        self.label_file = label_file
        self._out_dir: Optional[str] = None
        self._test_index = 0

    def _set_label_names(self, dataloader) -> None:
        vis = self._visualizer
        if not self.draw or vis.label_names:
            return
        if self.label_file:
            vis.label_names.update(load_label_names(self.label_file))
        else:
            vis.label_names.update(
                label_names_from_dataset(getattr(dataloader, 'dataset', None)))

    def before_val(self, runner: Runner) -> None:
        self._set_label_names(runner.val_dataloader)

    def before_test(self, runner: Runner) -> None:
        self._set_label_names(runner.test_dataloader)
        self._test_index = 0
        if self.draw and self.test_out_dir is not None:
            self._out_dir = osp.join(runner.work_dir, runner.timestamp,
                                     self.test_out_dir)
        elif self.draw and self.out_dir is not None:
            self._out_dir = self.out_dir
        if self._out_dir is not None:
            mkdir_or_exist(self._out_dir)

    def _draw(self, name: str, inputs, data_sample, step: int,
              out_file: Optional[str]) -> None:
        img = keyframe_from_inputs(inputs,
                                   data_sample.metainfo.get('img_shape'))
        self._visualizer.add_datasample(
            name,
            img,
            data_sample=data_sample,
            show=self.show,
            wait_time=self.wait_time,
            pred_score_thr=self.score_thr,
            out_file=out_file,
            step=step)

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence) -> None:
        """Draw the first sample of every ``interval``-th val iteration.

        Args:
            runner (Runner): Gives the current training iteration.
            batch_idx (int): Index of the batch in the val loop.
            data_batch (dict): The batch; ``inputs`` holds each clip,
                un-normalised RGB 0..255, shape (C, T, H, W).
            outputs (Sequence[ActionDataSample]): The batch's predictions
                (``pred_instances``; ``gt_instances`` drawn beside them).
        """
        if not self.draw:
            return
        total_curr_iter = runner.iter + batch_idx
        if total_curr_iter % self.interval == 0:
            name = sample_name(outputs[0], batch_idx)
            self._draw(name if self.show else 'val_img',
                       data_batch['inputs'][0], outputs[0], total_curr_iter,
                       None)

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        """Draw every ``interval``-th test sample (counted over the test).

        Args:
            runner (Runner): The runner (unused).
            batch_idx (int): Index of the batch in the test loop (unused).
            data_batch (dict): The batch; ``inputs`` holds each clip,
                un-normalised RGB 0..255, shape (C, T, H, W).
            outputs (Sequence[ActionDataSample]): The batch's predictions;
                each named by ``img_key`` / ``video_id`` and ``timestamp``
                (``<name>.jpg`` under the output folder).
        """
        if not self.draw:
            return
        for inputs, data_sample in zip(data_batch['inputs'], outputs):
            index = self._test_index
            self._test_index += 1
            if index % self.interval:
                continue
            name = sample_name(data_sample, index)
            out_file = None
            if self._out_dir is not None:
                out_file = osp.join(self._out_dir, f'{name}.jpg')
            self._draw(name if self.show else 'test_img', inputs, data_sample,
                       index, out_file)
