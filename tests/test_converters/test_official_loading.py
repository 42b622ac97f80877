"""Official STMixer checkpoints load as they are (issue 73, point 2).

A file in the official DDP layout (``{'model': {'module.stm_head...': ...},
'optimizer': ..., 'iteration': ...}``, written from the official-layout
fixtures of ``stmixer_mm.testing.official_layouts``) goes straight into
``init_detector``, ``STMixerInferencer(weights=...)``, a Runner's
``load_from`` and ``tools/test.py``: mmengine's checkpoint loader converts
it in memory by the converter's rules, says so in one log line, and the
model gets the same weights (and gives the same outputs) as from the file
``tools/model_converters/convert_official_checkpoint.py --config`` writes.
A file that looks official but does not fit is refused naming the file.
"""
import copy
import os
import os.path as osp
import pickle
import types

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader

from stmixer_mm.apis import (STMixerInferencer, inference_detector,
                             init_detector)
from stmixer_mm.apps.cli import convert_official_checkpoint as converter_tool
from stmixer_mm.converters.official_checkpoints import is_official_checkpoint
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.registry import DATASETS
from stmixer_mm.testing import TINY_CFG, TINY_DATA, repo_path
from stmixer_mm.testing.official_layouts import (Maker, official_cnn_neck,
                                                 official_head,
                                                 official_slowonly,
                                                 official_vit)
from stmixer_mm.utils.checkpoint_loading import CheckpointFileError

#: the tiny config's actions (its data's 7 classes)
ACTIONS = 7
# the tiny SlowOnly config made a bottleneck SlowOnly (PySlowFast's
# layout), the shape of the official-layout fixture official_slowonly
SLOWONLY = {
    'model.backbone.depth': 50,
    'model.backbone.base_channels': 16,
    'model.backbone.stage_blocks': (1, 1, 2, 1),
    'model.neck.in_channels': [64, 128, 256, 512],
}
VIT_CFG = osp.join('tests', 'data', 'configs', 'tiny_stmixer_vit_tiny-ava.py')
CONVERTED_LINE = 'converted in memory from the official STMixer layout'


def _actions_only(sd):
    """The official head has 80 action rows; the tiny data has 7."""
    for key in [
            k for k in sd if k.endswith(('fc_action.weight', 'fc_action.bias'))
    ]:
        sd[key] = sd[key][:ACTIONS].clone()
    return sd


def official_tiny(kind='slowonly', seed=0):
    """Official-layout weights (names without ``module.``) of the tiny
    configs: ``'slowonly'`` (:data:`SLOWONLY`), ``'vit'`` (the tiny ViT)."""
    mk = Maker(seed)
    if kind == 'vit':
        sd = official_vit(mk, embed=32)
        sd.update(official_head(mk, temporal_points=2))
    else:
        sd = official_slowonly(mk)
        sd.update(official_cnn_neck(mk, [64, 128, 256, 512]))
        sd.update(official_head(mk, temporal_points=4))
    return _actions_only(sd)


def ddp_file(path, sd):
    """``sd`` saved as the official training code saves it (DDP)."""
    torch.save(
        {
            'model': {
                'module.' + k: v
                for k, v in sd.items()
            },
            'optimizer': {},
            'scheduler': {},
            'iteration': 10
        }, path)
    return str(path)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The tiny SlowOnly config, an official file for it and the file the
    converter writes from it with ``--config``; the same for the tiny
    ViT."""
    tmp = tmp_path_factory.mktemp('official')
    cfg = Config.fromfile(repo_path(TINY_CFG))
    cfg.merge_from_dict(SLOWONLY)
    cfg.dump(str(tmp / 'slowonly.py'))
    out = types.SimpleNamespace(cfg=str(tmp / 'slowonly.py'), tmp=tmp)
    out.official = ddp_file(tmp / 'official.pth', official_tiny())
    out.converted = str(tmp / 'converted.pth')
    converter_tool.main([out.official, out.converted, '--config', out.cfg])
    out.vit_cfg = repo_path(VIT_CFG)
    out.vit_official = ddp_file(tmp / 'vit_official.pth', official_tiny('vit'))
    out.vit_converted = str(tmp / 'vit_converted.pth')
    converter_tool.main(
        [out.vit_official, out.vit_converted, '--config', out.vit_cfg])
    return out


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _converted_lines(records, path):
    return [
        r.getMessage() for r in records
        if CONVERTED_LINE in r.getMessage() and path in r.getMessage()
    ]


@pytest.mark.parametrize('layout', ['ddp', 'model', 'bare'])
def test_the_loader_gives_the_converters_state_dict(files, layout, tmp_path,
                                                    mm_log_records):
    """The DDP file, a ``{'model': ...}`` file without ``module.`` and a
    bare state dict: mmengine's loader returns the converter's weights."""
    sd = official_tiny()
    if layout == 'ddp':
        path = files.official
    else:
        path = str(tmp_path / f'{layout}.pth')
        torch.save({'model': sd} if layout == 'model' else sd, path)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    expected = torch.load(files.converted, weights_only=True)['state_dict']
    assert list(loaded['state_dict']) == list(expected)
    for key, value in expected.items():
        assert torch.equal(loaded['state_dict'][key], value), key
    meta = loaded['meta']
    assert meta['converted_in_memory'] is True
    assert meta['source_entry'] == ('' if layout == 'bare' else 'model')
    assert meta['conversion']['stripped_module_prefix'] == (layout == 'ddp')
    assert len(_converted_lines(mm_log_records, path)) == 1


def test_other_checkpoints_are_handed_on_as_read(files, mm_log_records):
    """A checkpoint of this project's names (the converted file) is not
    touched: the same dict as before, no log line."""
    loaded = CheckpointLoader.load_checkpoint(
        files.converted, map_location='cpu')
    assert not is_official_checkpoint(loaded)
    assert 'converted_in_memory' not in loaded['meta']
    assert set(loaded) == {'meta', 'state_dict'}
    assert not [r for r in mm_log_records if CONVERTED_LINE in r.getMessage()]
    for odd in ([1, 2], {'epoch': 3}, torch.zeros(2), {'model': 'x'}):
        assert not is_official_checkpoint(odd)


def test_init_detector_takes_an_official_checkpoint(files, mm_log_records):
    official = init_detector(files.cfg, files.official)
    converted = init_detector(files.cfg, files.converted)
    _assert_same_weights(official, converted)
    assert len(_converted_lines(mm_log_records, files.official)) == 1
    assert not _converted_lines(mm_log_records, files.converted)
    clip = [
        np.random.RandomState(i).randint(0, 255, (64, 64, 3), np.uint8)
        for i in range(4)
    ]
    a = inference_detector(official, clip).pred_instances
    b = inference_detector(converted, clip).pred_instances
    assert set(a.keys()) == set(b.keys())
    for key in a.keys():
        assert torch.equal(a[key], b[key]), key


def test_vit_position_table_is_the_configs(files):
    """The generated ViT ``pos_embed`` is the model's (the converter's
    ``--config`` rule), though the loader cannot know the config: 4 frames
    at 64 px here, not the official 16 at 224."""
    official = init_detector(files.vit_cfg, files.vit_official)
    converted = init_detector(files.vit_cfg, files.vit_converted)
    _assert_same_weights(official, converted)
    fresh = init_detector(files.vit_cfg)
    assert torch.equal(official.backbone.pos_embed, fresh.backbone.pos_embed)


def test_inferencer_takes_an_official_checkpoint(files):
    frames = osp.join(repo_path(TINY_DATA), 'rawframes', 'syn_val_000')
    official = STMixerInferencer(files.cfg, files.official)
    converted = STMixerInferencer(files.cfg, files.converted)
    _assert_same_weights(official.model, converted.model)
    kwargs = dict(stride=7, score_thr=0.0, topk=3)
    assert official(frames, **kwargs)['predictions'] == \
        converted(frames, **kwargs)['predictions']


def test_demo_takes_an_official_checkpoint(files, tmp_path, mm_log_records):
    """``tools/demo.py VIDEO CONFIG OFFICIAL.pth``: the detections of the
    converted file."""
    from stmixer_mm.apps.cli import demo
    frames = osp.join(repo_path(TINY_DATA), 'rawframes', 'syn_val_000')
    results = [
        demo.run(
            demo.parse_args([
                frames, files.cfg, path, '--out-dir',
                str(tmp_path / name), '--stride', '8', '--score-thr', '0'
            ])) for name, path in (('official', files.official),
                                   ('converted', files.converted))
    ]
    assert len(results[0]['detections']) > 0
    assert results[0]['detections'] == results[1]['detections']
    assert len(_converted_lines(mm_log_records, files.official)) == 1


@pytest.mark.slow  # Runner / tools/test.py runs
@pytest.mark.parametrize('hook', [True, False])
def test_runner_load_from_takes_an_official_checkpoint(files, tmp_path, hook):
    """``load_from`` of a Runner (with the check ``tools/train.py`` adds,
    and a plain one)."""

    def runner(load_from, name):
        cfg = Config.fromfile(files.cfg)
        cfg.work_dir = str(tmp_path / name)
        cfg.load_from = load_from
        cfg.custom_hooks = [dict(type='LoadFromCheckHook')] if hook else []
        run = Runner.from_cfg(cfg)
        run.load_or_resume()
        return run

    _assert_same_weights(
        runner(files.official, 'official').model,
        runner(files.converted, 'converted').model)


@pytest.mark.slow  # Runner / tools/test.py runs
def test_test_tool_takes_an_official_checkpoint(files, tools, tmp_path):
    """``tools/test.py CONFIG OFFICIAL.pth``: one log line naming the file,
    and the predictions of the converted file (its model run over the same
    test samples)."""
    dump = tmp_path / 'official.pkl'
    proc = tools.python_tool('test.py', files.cfg, files.official,
                             '--work-dir', str(tmp_path / 'w'), '--dump',
                             str(dump))
    lines = [
        ln for ln in (proc.stdout + proc.stderr).splitlines()
        if CONVERTED_LINE in ln and files.official in ln
    ]
    assert len(lines) == 1, lines
    assert tools.metric(proc.stdout + proc.stderr, 'mAP/overall') >= 0
    with open(dump, 'rb') as f:
        dumped = pickle.load(f)

    model = init_detector(files.cfg, files.converted, fallback_queries=True)
    cfg = Config.fromfile(files.cfg)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dumped) == len(dataset) > 0
    for i, sample in enumerate(dumped):
        with torch.no_grad():
            (want, ) = model.test_step(pseudo_collate([dataset[i]]))
        assert sample['img_key'] == want.img_key
        got = sample['pred_instances']
        assert set(got) == set(want.pred_instances.keys())
        for field, value in want.pred_instances.items():
            torch.testing.assert_close(got[field], value, rtol=0, atol=0)


@pytest.mark.slow  # Runner / tools/test.py runs
def test_an_official_checkpoint_that_does_not_fit_is_refused(
        files, tools, tmp_path):
    """Converted, but not fitting the config: the strict check names the
    file and says it was converted from the official layout; in
    ``tools/test.py`` too, before anything is evaluated."""
    wider = {'model.roi_head.stage_head.feedforward_channels': 96}
    with pytest.raises(CheckpointMismatchError) as info:
        init_detector(files.cfg, files.official, cfg_options=wider)
    message = str(info.value)
    assert f'checkpoint {files.official} does not fit' in message
    assert 'converted in memory from the official STMixer layout' in message
    assert 'roi_head.stages.0.ffn_s.layers.0.0.weight: [128, 64] in the ' \
        'checkpoint vs [96, 64] in the model' in message
    proc = tools.python_tool(
        'test.py',
        files.cfg,
        files.official,
        '--work-dir',
        str(tmp_path / 'w'),
        '--cfg-options',
        'model.roi_head.stage_head.feedforward_channels=96',
        check=False)
    assert proc.returncode != 0
    assert f'checkpoint {files.official} does not fit' in proc.stderr
    assert 'converted in memory from the official STMixer layout' in \
        proc.stderr
    assert 'mAP/overall: ' not in proc.stdout + proc.stderr


def test_an_official_checkpoint_the_converter_refuses_is_refused(
        files, tmp_path):
    """Official keys the converter does not know: refused with the
    converter's own message, naming the file, before any model loads; and a
    file with ``stm_head.*`` keys but no backbone it knows."""
    sd = official_tiny()
    sd['stm_head.decoder_stages.0.extra.weight'] = torch.zeros(2)
    path = ddp_file(tmp_path / 'unknown.pth', sd)
    with pytest.raises(SystemExit) as tool_exit:
        converter_tool.main([path, str(tmp_path / 'never.pth')])
    refusal = ('1 unknown official key(s): '
               'stm_head.decoder_stages.0.extra.weight')
    assert refusal in str(tool_exit.value.code)
    with pytest.raises(CheckpointFileError) as info:
        init_detector(files.cfg, path)
    assert str(info.value).startswith(f'{path} has the layout of an '
                                      'official STMixer checkpoint')
    assert refusal in str(info.value)

    head_only = {k: v for k, v in sd.items() if k.startswith('stm_head.')}
    path = ddp_file(tmp_path / 'head_only.pth', head_only)
    with pytest.raises(CheckpointFileError, match='cannot tell the backbone'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert not osp.exists(tmp_path / 'never.pth')


def test_the_scheme_wraps_the_checked_loader_once():
    """Registered once, over the loader :mod:`stmixer_mm.utils.compat` may
    have installed (whose attributes it keeps, so the fix is not applied
    twice)."""
    from stmixer_mm.converters.official_checkpoints import \
        register_official_checkpoint_loader
    from stmixer_mm.utils import compat
    scheme = CheckpointLoader._schemes['']
    assert scheme._stmixer_official
    assert register_official_checkpoint_loader() is False
    assert CheckpointLoader._schemes[''] is scheme
    inner = scheme.__wrapped__
    assert getattr(scheme, '_stmixer_checked',
                   False) == getattr(inner, '_stmixer_checked', False)
    saved = copy.copy(compat.APPLIED_FIXES)
    try:
        assert compat.patch_mmengine_local_loader() is False
    finally:
        compat.APPLIED_FIXES[:] = saved
    assert CheckpointLoader._schemes[''] is scheme


@pytest.mark.slow  # a new interpreter
def test_the_official_loader_can_be_turned_off(files):
    """``STMIXER_MM_DISABLE_FIXES=official-checkpoint-loader`` leaves
    mmengine's loader handing an official file on as read (the change of
    the host beyond its defect is documented and switchable)."""
    import subprocess
    import sys
    code = ('import sys\n'
            'from mmengine.runner.checkpoint import CheckpointLoader\n'
            'from stmixer_mm.utils import compat\n'
            "ck = CheckpointLoader.load_checkpoint(sys.argv[1], 'cpu')\n"
            "print(sorted(ck), 'official-checkpoint-loader' in "
            'compat.APPLIED_FIXES)\n')
    from stmixer_mm.utils import compat

    # on (this process, imported without the variable): converted
    off = 'official-checkpoint-loader'
    assert not os.environ.get('STMIXER_MM_DISABLE_FIXES')
    ck = CheckpointLoader.load_checkpoint(files.official, 'cpu')
    assert sorted(ck) == ['meta', 'state_dict']
    assert off in compat.APPLIED_FIXES
    # off, in a new interpreter: as read
    proc = subprocess.run([sys.executable, '-c', code, files.official],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=dict(
                              os.environ,
                              OMP_NUM_THREADS='1',
                              STMIXER_MM_DISABLE_FIXES=off))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip().splitlines()[-1]
    assert out.startswith("['iteration', 'model', ") and \
        out.endswith('False'), out
