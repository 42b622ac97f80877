"""A few test predictions kept in memory, for ``tools/test.py``'s picture
(:func:`~stmixer_mm.apps.prediction_grid.make_grid`)."""
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator.metric import _to_cpu
from mmengine.hooks import Hook

from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.checks import check_ints

__all__ = ['KeepPredictionsHook']


@HOOKS.register_module()
class KeepPredictionsHook(Hook):
    """Keep the first test prediction of each video, for up to
    ``max_videos`` videos, as the evaluator gets it (``to_dict()`` of the
    data sample, on the CPU: what ``tools/test.py --dump`` writes).

    Args:
        max_videos (int): videos (AVA ``video_id``; a sample without one
            counts as a video of its own) to keep a prediction of.

    Attributes:
        predictions (list[dict]): the kept predictions of the last test
            (this process's part of the test set when distributed).
    """

    priority = 'LOWEST'

    def __init__(self, max_videos: int = 8) -> None:
        check_ints('KeepPredictionsHook', max_videos=max_videos)
        self.max_videos = max_videos
        self.predictions: List[Dict] = []

    def before_test(self, runner) -> None:
        self.predictions = []

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Keep the first prediction of each new video, up to
        ``max_videos``.

        Args:
            runner (Runner): The runner (unused).
            batch_idx (int): Index of the batch in the test loop (unused).
            data_batch (dict, optional): The batch (unused).
            outputs (Sequence[ActionDataSample], optional): The batch's
                predictions; ``metainfo['video_id']`` names the video.
        """
        videos = {p.get('video_id') for p in self.predictions}
        for sample in outputs or ():
            if len(self.predictions) >= self.max_videos:
                return
            video = sample.metainfo.get('video_id')
            if video is None or video not in videos:
                videos.add(video)
                self.predictions.append(_to_cpu(sample.to_dict()))
