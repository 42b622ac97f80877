"""``tools/train.py`` and ``tools/test.py`` end to end on CPU, and resuming.
"""
import glob
import json
import math
import pickle

import cv2
import pytest
import torch
from mmengine.runner import checkpoint as mmengine_checkpoint

import stmixer_mm  # noqa: F401
from stmixer_mm.utils import CheckpointFileError

pytestmark = pytest.mark.slow  # each test runs the tools (subprocesses)


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def test_train_writes_checkpoints_and_logs_finite_losses(trained, tools):
    work, proc = trained
    out = proc.stdout + proc.stderr
    # 4 train keyframes, batch 2 -> 2 iterations per epoch, 2 epochs
    assert 'Epoch(train) [2][2/2]' in out
    assert 'Epoch(train) [3]' not in out
    # quiet: no compat-fix line, no mmengine FileClient deprecation lines
    # (its own hooks build one on every run), no pkg_resources warning
    for noise in ('compat fix', 'FileClient', 'HardDiskBackend',
                  'pkg_resources'):
        assert noise not in out, noise
    for epoch in (1, 2):
        ckpt = _load(work / f'epoch_{epoch}.pth')
        assert ckpt['meta']['epoch'] == epoch
        assert ckpt['meta']['iter'] == 2 * epoch
        assert {'state_dict', 'optimizer', 'param_schedulers',
                'message_hub'} <= set(ckpt)
    assert (work /
            'last_checkpoint').read_text().strip().endswith('epoch_2.pth')
    # the config was dumped, with the hooks of the default runtime
    dumped = (work / 'tiny_stmixer_tiny-ava.py').read_text()
    assert 'flip_ratio=0.5' in dumped and 'RandomStateHook' in dumped
    ckpt = _load(work / 'epoch_1.pth')
    assert {'python', 'numpy', 'torch',
            'sampler_seed'} <= set(ckpt['rng_state'])
    assert ckpt['rng_state']['sampler_seed'] == 0  # the config's seed
    scalars = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        rows = [json.loads(line) for line in f]
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    # validated after every epoch with AVAMetric
    maps = [r['mAP/overall'] for r in rows if 'mAP/overall' in r]
    assert len(maps) == 2 and all(0.0 <= v <= 1.0 for v in maps)
    # the summary at the end: the best checkpoint (the default runtime's
    # save_best), the log, the last validation and the next commands
    summary = proc.stdout[proc.stdout.index('train.py: done'):]
    best = glob.glob(str(work / 'best_mAP_overall_epoch_*.pth'))
    assert len(best) == 1
    log = glob.glob(str(work / '*' / '*.log'))[0]
    assert f'  work dir      : {work}\n' in summary
    assert f'  checkpoint    : {best[0]} (the best mAP/overall: ' in summary
    assert f'  log           : {log} (curves: ' in summary
    assert f'  final metrics : mAP/overall {maps[-1]:.4f}, ' in summary
    # started as the checkout's tools/train.py (by its absolute path): the
    # checkout's scripts, as typed
    repo = tools.REPO
    assert f'python {repo}/tools/test.py {tools.TINY_CFG} {best[0]}\n' in \
        summary
    assert (f'python {repo}/tools/demo.py VIDEO {tools.TINY_CFG} {best[0]}'
            '\n') in summary
    assert (f'python {repo}/tools/deployment/export_onnx.py '
            f'{tools.TINY_CFG} {best[0]} {work / "model.onnx"} --shape 4 H '
            'W') in summary


def test_test_tool_reports_ava_map_and_dumps(tested, tools):
    proc, dump = tested
    value = tools.metric(proc.stdout + proc.stderr, 'mAP/overall')
    assert 0.0 <= value <= 1.0
    # mmengine's warning for the dump metric's (absent) prefix is filtered
    assert 'The prefix is not set' not in proc.stdout + proc.stderr
    # the summary: metrics, outputs, a picture of the two val videos'
    # first keyframes (ground truth beside predictions)
    summary = proc.stdout[proc.stdout.index('test.py: done'):]
    work = dump.parent
    (picture, ) = glob.glob(str(work / '*' / 'test_predictions.png'))
    assert f'  metrics     : mAP/overall {value:.4f}, ' in summary
    assert f'  work dir    : {work}\n' in summary
    assert f'  predictions : {dump} (--dump)\n' in summary
    assert f'  picture     : {picture} (ground truth left, predictions ' \
        'right, 2 keyframes)' in summary
    img = cv2.imread(picture)
    assert img is not None and img.shape[1] > 4 * 2 * 360  # 4 tiles a row
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4  # one per val keyframe
    assert sorted(p['timestamp'] for p in preds) == [901, 901, 902, 902]
    for p in preds:
        scores = p['pred_instances']['scores']
        bboxes = p['pred_instances']['bboxes']
        assert 1 <= len(scores) <= 10  # at most one per query
        assert scores.shape[1] == 8 and bboxes.shape == (len(scores), 4)
        assert 0 <= bboxes.min() and bboxes.max() <= 1
        assert (scores[:, 0] == 0).all()


def _interrupted_then_resumed(tools, work, *cfg_options):
    """Train epoch 1 only, then ``--resume`` to the end (no validation);
    returns the resumed run's process."""
    common = ['--work-dir', str(work), '--no-validate']
    tools.python_tool('train.py', tools.TINY_CFG, *common, '--cfg-options',
                      'train_cfg.max_epochs=1', *cfg_options)
    assert (work / 'epoch_1.pth').exists()
    assert not (work / 'epoch_2.pth').exists()
    return tools.python_tool(
        'train.py', tools.TINY_CFG, *common, '--resume',
        *(['--cfg-options', *cfg_options] if cfg_options else []))


def _max_abs_diff(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a
               if a[k].is_floating_point())


def test_resume_matches_uninterrupted_training(trained, tools, tmp_path):
    """With the augmentation on (frame jitter, scale jitter, flip): the
    uninterrupted run validated after epoch 1, the resumed one did not."""
    full, _ = trained
    work = tmp_path / 'resumed'
    proc = _interrupted_then_resumed(tools, work)
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 2' in out
    assert 'restored the Python/NumPy/torch random state' in out
    assert 'Epoch(train) [1]' not in out  # the first epoch is not redone

    a, b = _load(full / 'epoch_2.pth'), _load(work / 'epoch_2.pth')
    assert (b['meta']['epoch'], b['meta']['iter']) == (2, 4)
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(
            b['state_dict'][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # the optimizer moments and the schedulers went on where they were
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i]['step'] == sb[i]['step'] == 4
        torch.testing.assert_close(sb[i]['exp_avg_sq'], sa[i]['exp_avg_sq'])
    lr = [g['lr'] for g in a['optimizer']['param_groups']]
    assert lr == [g['lr'] for g in b['optimizer']['param_groups']]
    assert a['param_schedulers'] == b['param_schedulers']
    # a resumed run that had learned nothing would fail the comparison
    start = _load(work / 'epoch_1.pth')['state_dict']
    assert any(not torch.equal(start[k], v)
               for k, v in b['state_dict'].items() if v.is_floating_point())


def test_resume_without_the_random_state_diverges(trained, tools, tmp_path):
    """The same interruption without RandomStateHook (mmengine alone, left
    out by name: ``default_hooks.random_state=None``) ends on other
    weights: the augmentation after the resume differs."""
    full, _ = trained
    work = tmp_path / 'resumed_plain'
    _interrupted_then_resumed(tools, work, 'default_hooks.random_state=None')
    a = _load(full / 'epoch_2.pth')['state_dict']
    b = _load(work / 'epoch_2.pth')['state_dict']
    assert _max_abs_diff(a, b) > 1e-4


def test_mmdets_ema_recipe_keeps_the_projects_hooks(tools, tmp_path):
    """Issue 112: a config's own ``custom_hooks`` as mmdet's YOLOX and RTMDet
    configs write EMA (its mmdet part named with its scope: the configs'
    default scope is mmaction's) adds to the project's hooks (default
    hooks): the run
    trains with EMA, and its checkpoints still carry the class names and
    the random state; one hook left out by name is logged."""
    user = tmp_path / 'ema.py'
    user.write_text(f'_base_ = [{tools.TINY_CFG!r}]\n'
                    "custom_hooks = [dict(type='EMAHook', "
                    "ema_type='mmdet.ExpMomentumEMA', momentum=0.0002, "
                    'update_buffers=True, priority=49)]\n')
    work = tmp_path / 'work'
    proc = tools.python_tool('train.py', str(user), '--work-dir', str(work),
                             '--no-validate', '--cfg-options',
                             'train_cfg.max_epochs=1',
                             'default_hooks.graphed_training_log=None')
    ckpt = _load(work / 'epoch_1.pth')
    assert 'ema_state_dict' in ckpt  # EMAHook ran
    assert ckpt['meta']['dataset_meta']['classes']  # ClassNamesHook
    assert ckpt['rng_state']['sampler_seed'] is not None  # RandomStateHook
    out = proc.stdout + proc.stderr
    assert 'default_hooks.graphed_training_log=None leaves out ' \
        'GraphedTrainingLogHook' in out


def test_resume_in_an_empty_work_dir_says_so(tools, tmp_path):
    work = tmp_path / 'empty'
    proc = tools.python_tool('train.py', tools.TINY_CFG, '--work-dir',
                             str(work), '--resume', '--no-validate',
                             '--cfg-options', 'train_cfg.max_epochs=1')
    out = proc.stdout + proc.stderr
    assert f'--resume: no checkpoint found in the work dir {work}' in out
    assert 'training starts from scratch' in out


def test_test_tool_refuses_a_checkpoint_of_another_model(
        trained, tools, tmp_path):
    """mmengine loads ``load_from`` non-strictly: a checkpoint of another
    model was evaluated with a partly random network (exit code 0)."""
    work, _ = trained
    ckpt = str(work / 'epoch_2.pth')
    # another number of actions than the data's classes is refused by the
    # config check before the checkpoint is read
    proc = tools.python_tool(
        'test.py',
        tools.TINY_CFG,
        ckpt,
        '--work-dir',
        str(tmp_path / 'w'),
        '--cfg-options',
        'model.roi_head.stage_head.num_actions=5',
        check=False)
    assert proc.returncode != 0
    assert 'model.roi_head.stage_head.num_actions (5) and ' in proc.stderr
    assert 'mAP/overall: ' not in proc.stdout + proc.stderr
    cases = [
        (['model.roi_head.stage_head.feedforward_channels=96'], [
            'shape mismatch', 'roi_head.stages.0.ffn_s.layers.0.0.weight',
            'roi_head.stages.1.ffn_t.layers.0.0.weight: [128, 64] in the '
            'checkpoint vs [96, 64] in the model'
        ]),
        (['model.backbone.depth=34'],
         ['missing in the checkpoint', 'backbone.layer1.2.conv1']),
    ]
    for options, expected in cases:
        proc = tools.python_tool(
            'test.py',
            tools.TINY_CFG,
            ckpt,
            '--work-dir',
            str(tmp_path / 'w'),
            '--cfg-options',
            *options,
            check=False)
        assert proc.returncode != 0, options
        out = proc.stdout + proc.stderr
        assert 'does not fit the model' in proc.stderr and ckpt in proc.stderr
        for text in expected:
            assert text in proc.stderr, (options, text)
        assert '--non-strict' in proc.stderr
        assert 'mAP/overall: ' not in out  # nothing was evaluated
    # unexpected keys: a checkpoint with an extra module
    state = _load(ckpt)
    state['state_dict']['extra_head.weight'] = torch.zeros(2)
    extra = tmp_path / 'extra.pth'
    torch.save(state, extra)
    proc = tools.python_tool(
        'test.py',
        tools.TINY_CFG,
        str(extra),
        '--work-dir',
        str(tmp_path / 'w'),
        check=False)
    assert proc.returncode != 0
    assert 'unexpected (not in the model) (1):\n    extra_head.weight' in \
        proc.stderr
    # the explicit opt-out evaluates and logs what was left out
    proc = tools.python_tool('test.py', tools.TINY_CFG, str(extra),
                             '--work-dir', str(tmp_path / 'w'), '--non-strict')
    out = proc.stdout + proc.stderr
    assert 'is loaded in part (--non-strict)' in out
    assert 0.0 <= tools.metric(out, 'mAP/overall') <= 1.0


def test_test_tool_refuses_other_ground_truth(tested, trained, tools,
                                              tmp_path):
    """Overriding only the dataset's ann_file scored the predictions of
    half the videos against the whole ground truth."""
    work, _ = trained
    rows = open(f'{tools.TINY_DATA}/annotations/val.csv').read().splitlines()
    half = tmp_path / 'val_half.csv'
    half.write_text('\n'.join(r for r in rows if r.startswith('syn_val_000')) +
                    '\n')
    ckpt = str(work / 'epoch_2.pth')
    common = [
        '--work-dir',
        str(tmp_path / 'w'), '--cfg-options',
        f'test_dataloader.dataset.ann_file={half}'
    ]
    proc = tools.python_tool(
        'test.py', tools.TINY_CFG, ckpt, *common, check=False)
    assert proc.returncode != 0
    assert 'test_evaluator.ann_file' in proc.stderr
    assert str(half) in proc.stderr and 'val.csv' in proc.stderr
    assert 'mAP/overall: ' not in proc.stdout + proc.stderr
    # both set: the half set is evaluated against its own ground truth
    proc = tools.python_tool('test.py', tools.TINY_CFG, ckpt, *common,
                             f'test_evaluator.ann_file={half}', '--dump',
                             str(tmp_path / 'half.pkl'))
    value = tools.metric(proc.stdout + proc.stderr, 'mAP/overall')
    assert 0.0 <= value <= 1.0
    with open(tmp_path / 'half.pkl', 'rb') as f:
        assert {p['video_id'] for p in pickle.load(f)} == {'syn_val_000'}


def test_runner_checkpoint_needs_and_gets_only_the_allow_list(
        trained, tmp_path):
    """A Runner checkpoint of a real training run: torch's safe loading
    refuses it (numpy, HistoryBuffer), mmengine's loader reads it through
    stmixer_mm's allow-list (the ``--resume`` tests resume from such files)
    without adding anything to torch's process-wide allow-list; an
    arbitrary object in the same place is refused, naming the file."""
    work, _ = trained
    path = str(work / 'epoch_1.pth')
    with pytest.raises(pickle.UnpicklingError, match='weights_only'):
        torch.load(path, map_location='cpu', weights_only=True)
    before = set(torch.serialization.get_safe_globals())
    ckpt = mmengine_checkpoint._load_checkpoint(path, map_location='cpu')
    assert ckpt['meta']['epoch'] == 1
    assert set(torch.serialization.get_safe_globals()) == before
    ckpt['meta']['extra'] = _Unlisted()
    bad = str(tmp_path / 'unlisted.pth')
    torch.save(ckpt, bad)
    with pytest.raises(CheckpointFileError, match='_Unlisted') as err:
        mmengine_checkpoint._load_checkpoint(bad, map_location='cpu')
    assert bad in str(err.value)


class _Unlisted:
    """A type outside the allow-list."""


def test_test_tool_show_dir_writes_one_image_per_sample(
        trained, tools, tmp_path):
    """``tools/test.py --show-dir`` draws every test sample (4 val keyframes)
    through ``ActionDetVisualizationHook``; ``--interval 2`` every second
    one. ``--show-dir`` is relative to ``<work_dir>/<timestamp>/``."""
    work, _ = trained
    for interval, expected in ((1, 4), (2, 2)):
        out = tmp_path / f'interval{interval}'
        tools.python_tool('test.py', tools.TINY_CFG, str(work / 'epoch_2.pth'),
                          '--work-dir', str(out), '--show-dir', 'vis',
                          '--interval', str(interval))
        images = sorted(glob.glob(str(out / '*' / 'vis' / '*.jpg')))
        assert len(images) == expected, images
        img = cv2.imread(images[0])
        assert img is not None and min(img.shape[:2]) >= 64


def test_known_noise_filter_keeps_malformed_records():
    """A log call with bad %-arguments is reported by logging as without
    the filter, not raised from the filter."""
    import logging

    from stmixer_mm.apps.runner_utils import KnownNoiseFilter
    noise = logging.LogRecord(
        'x', logging.WARNING, 'f', 1,
        '"FileClient" will be deprecated in future. '
        'Please use io functions', None, None)
    bad = logging.LogRecord('x', logging.INFO, 'f', 1, '%d', ('a', ), None)
    assert not KnownNoiseFilter().filter(noise)
    assert KnownNoiseFilter().filter(bad)
