"""The summaries of ``tools/train.py`` and ``tools/test.py``
(``stmixer_mm.apps.cli.run_summary``) where the end-to-end runs of
``test_train_test_tools.py`` do not go: no best checkpoint, no
validation, a test dataset that cannot be drawn. In process, on stand-in
runners."""
from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from stmixer_mm.apps.cli import run_summary
from stmixer_mm.apps.command_errors import command_name
from stmixer_mm.engine.hooks import KeepPredictionsHook


def _runner(tmp_path, hooks=(), dataset=None):
    return SimpleNamespace(
        work_dir=str(tmp_path),
        log_dir=str(tmp_path / '20250101_000000'),
        timestamp='20250101_000000',
        hooks=list(hooks),
        message_hub=MessageHub(f'summary_{id(tmp_path)}'),
        cfg=Config(
            dict(test_dataloader=dict(dataset=dict(pipeline=[]))),
            filename=None),
        test_dataloader=SimpleNamespace(dataset=dataset))


def test_train_summary_without_best_checkpoint_and_validation(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(f'{tmp_path}/epoch_3.pth\n')
    text = run_summary.summary_after_train(_runner(tmp_path), 'my cfg.py')
    lines = text.splitlines()
    assert lines[0] == f'{command_name()}: done'
    assert lines[2] == (f'  checkpoint    : {tmp_path}/epoch_3.pth (the '
                        "last; no best checkpoint: the config's "
                        'CheckpointHook has no save_best)')
    assert lines[4] == ('  final metrics : none: no validation ran '
                        '(--no-validate, or no val_cfg)')
    # paths quoted for the shell; no clip length known: T; the commands as
    # they run where this process was started (here not from tools/: the
    # console commands of a pip install)
    assert lines[5] == (f"  next          : stmixer-test 'my cfg.py' "
                        f'{tmp_path}/epoch_3.pth')
    assert '--shape T H W --verify' in text
    (tmp_path / 'last_checkpoint').unlink()
    text = run_summary.summary_after_train(_runner(tmp_path), 'c.py')
    assert 'checkpoint    : none saved' in text
    assert 'stmixer-test c.py CHECKPOINT' in text


def test_train_summary_says_why_no_validation_ran(tmp_path):
    """Validation configured but not reached (``val_begin`` after the last
    epoch or iteration): the summary says so, with the loop's numbers."""
    runner = _runner(tmp_path)
    runner._val_loop = object()
    runner._train_loop = SimpleNamespace(
        epoch=1, max_epochs=1, val_begin=2, val_interval=1)
    text = run_summary.summary_after_train(runner, 'c.py')
    assert ('final metrics : none: the training stopped at epoch 1 of 1, '
            'before its first validation (train_cfg.val_begin=2, '
            'val_interval=1)') in text
    runner._train_loop = SimpleNamespace(
        iter=20, max_iters=20, val_begin=50, val_interval=10)
    text = run_summary.summary_after_train(runner, 'c.py')
    assert 'stopped at iteration 20 of 20, before its first' in text
    runner._val_loop = None
    text = run_summary.summary_after_train(runner, 'c.py')
    assert 'none: no validation ran (--no-validate, or no val_cfg)' in text


def test_printed_commands_run_where_the_process_started(monkeypatch):
    """A checkout's tools/ script prints the checkout's scripts (as typed:
    relative or absolute); anything else (a console command of a pip
    install, a user's script) prints the console commands."""
    from stmixer_mm.apps.cli.commands import command
    from stmixer_mm.testing import repo_root
    cases = [('tools/train.py', 'python tools/test.py'),
             (f'{repo_root()}/tools/test.py',
              f'python {repo_root()}/tools/deployment/export_onnx.py'),
             ('/venv/bin/stmixer-train', 'stmixer-test'),
             ('/elsewhere/tools/train.py', 'stmixer-test'),
             ('my_script.py', 'stmixer-demo')]
    monkeypatch.chdir(repo_root())
    for argv0, expected in cases:
        monkeypatch.setattr('sys.argv', [argv0])
        tool = expected.rsplit('/', 1)[-1].replace('stmixer-', '').replace(
            '.py', '').replace('export_onnx', 'export-onnx')
        assert command(tool) == expected, (argv0, tool)


class _NoFrames:
    """A dataset whose samples are no AVA-format frames (a tube data set's
    info, say)."""

    def __len__(self):
        return 3

    def get_data_info(self, i):
        return dict(video_id='v', timestamp=i, gt_bboxes=[])


def test_test_summary_says_why_there_is_no_picture(tmp_path):
    hook = KeepPredictionsHook()
    hook.predictions = [dict(video_id='v', timestamp=0)]
    runner = _runner(tmp_path, [hook], _NoFrames())
    picture = run_summary.draw_test_picture(runner)
    assert picture == ('not drawn: the dataset (_NoFrames) is not '
                       'AVA-format frames: its samples have no '
                       'timestamp_start, fps, frame_dir, filename_tmpl')
    args = SimpleNamespace(dump=None, show_dir='vis')
    text = run_summary.summary_after_test(args, runner, {
        'mAP/overall': 0.25,
        'per_class': [1, 2]
    }, picture)
    assert text.splitlines() == [
        f'{command_name()}: done', '  metrics  : mAP/overall 0.2500',
        f'  work dir : {tmp_path}',
        f'  log      : {tmp_path}/20250101_000000/20250101_000000.log',
        f'  drawings : {tmp_path}/20250101_000000/vis (--show-dir)',
        f'  picture  : {picture}'
    ]
    assert not list(tmp_path.iterdir())  # nothing written
    # AVA-format frames, but no prediction kept
    hook.predictions = []
    runner.test_dataloader.dataset = _Frames()
    assert run_summary.draw_test_picture(runner) == (
        'not drawn: no prediction was kept (KeepPredictionsHook)')
    runner.test_dataloader.dataset = _Frames(with_gt=False)
    assert run_summary.draw_test_picture(runner) == (
        'not drawn: the dataset (_Frames) has no ground truth (gt_bboxes) '
        'to draw beside the predictions')


class _Frames(_NoFrames):

    def __init__(self, with_gt=True):
        self.with_gt = with_gt

    def get_data_info(self, i):
        info = dict(
            video_id='v',
            timestamp=i,
            timestamp_start=0,
            fps=8,
            frame_dir='f',
            filename_tmpl='{}.jpg')
        return dict(info, gt_bboxes=[]) if self.with_gt else info


def test_keep_predictions_hook_keeps_the_first_of_each_video():
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData

    def sample(video, stamp):
        s = ActionDataSample()
        s.set_metainfo(dict(video_id=video, timestamp=stamp))
        s.pred_instances = InstanceData(bboxes=torch.zeros(1, 4))
        return s

    hook = KeepPredictionsHook(max_videos=2)
    hook.before_test(None)
    hook.after_test_iter(None, 0, outputs=[sample('a', 1), sample('a', 2)])
    hook.after_test_iter(None, 1, outputs=[sample('b', 1), sample('c', 1)])
    assert [(p['video_id'], p['timestamp'])
            for p in hook.predictions] == [('a', 1), ('b', 1)]
    assert isinstance(hook.predictions[0]['pred_instances']['bboxes'],
                      torch.Tensor)
    hook.before_test(None)
    assert hook.predictions == []


def test_format_metrics_lists_numbers_only_and_at_most_eight():
    metrics = {f'm{i}': i / 10 for i in range(10)}
    metrics['table'] = 'not a number'
    text = run_summary.format_metrics(metrics)
    assert text.startswith('m0 0.0000, m1 0.1000, ')
    assert text.endswith('m7 0.7000 (+2 more in the log)')
    assert run_summary.format_metrics({}) == ''
