"""tools/analysis_tools/get_flops.py, browse_dataset.py, analyze_logs.py,
benchmark_model.py --vs-official and tools/misc/print_config.py: their
command lines in subprocesses, and the library code they use in the
package."""
import json
import os
import os.path as osp
import pickle
import re
import statistics

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from stmixer_mm import testing
from stmixer_mm.testing import repo_root

REPO = repo_root()
QUICKSTART = osp.join(REPO, 'configs', 'quickstart',
                      'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py')
TINY_CFG = testing.repo_path(testing.TINY_CFG)


@pytest.fixture(scope='module')
def get_flops():
    from stmixer_mm.apps.benchmarks import flops
    return flops


def _quickstart_flops(get_flops, impl=None):
    import stmixer_mm  # noqa: F401
    cfg = Config.fromfile(QUICKSTART)
    if impl is not None:
        cfg.merge_from_dict({
            'model.roi_head.stage_head.sampling_mixing.sampling_cfg.impl':
            impl
        })
    model = get_flops.build_detector(cfg)
    # the quick-start clips: 8 frames of 128x192
    return cfg, get_flops.count_flops(model, (8, 128, 192))


def _bilinear_sampling_flops(cfg):
    """4 bilinear corners x levels per sampled value and channel, 2 FLOPs
    per multiply-add, every stage."""
    head = cfg.model.roi_head.stage_head
    block = head.sampling_mixing
    n_q = cfg.model.rpn_head.num_queries
    levels = len(cfg.model.roi_head.featmap_strides)
    return (2 * 4 * levels * n_q * block.spatial_points *
            block.temporal_points * head.hidden_channels *
            cfg.model.roi_head.num_stages)


def _sampling(res):
    return sum(v for k, v in res['by_operator'].items()
               if 'embedding_bag' in k or 'grid_sampler' in k)


def test_get_flops_counts_the_whole_detector(get_flops):
    cfg, res = _quickstart_flops(get_flops)
    parts = res['by_module']
    assert sum(parts.values()) == res['total']
    assert parts['backbone'] > 0 and parts['neck'] > 0
    # the decoder is counted, and is a real share of the model
    assert 0.05 < res['decoder_share'] < 0.5
    assert res['decoder_share'] == pytest.approx(parts['roi_head'] /
                                                 res['total'])
    for k in range(cfg.model.roi_head.num_stages):
        assert res['modules'][f'roi_head.stages.{k}'] > 0
    # the PyTorch sampling path's weighted gathers: at least the bilinear
    # arithmetic (what they gather beyond it is counted as done)
    expected = _bilinear_sampling_flops(cfg)
    assert expected <= _sampling(res) < 1.5 * expected
    # the adaptive mixing's matrix products with generated weights
    assert res['by_operator'].get('aten.bmm', 0) > 0


def test_get_flops_sampling_reference_path(get_flops):
    """``impl='reference'`` (one grid_sample per level): exactly 4 MACs per
    level, sampled value and channel; the rest of the model is counted the
    same as with the PyTorch path."""
    cfg, ref = _quickstart_flops(get_flops, 'reference')
    _, fast = _quickstart_flops(get_flops, 'pytorch')
    assert 'aten.grid_sampler_2d' in ref['by_operator']
    assert _sampling(ref) == _bilinear_sampling_flops(cfg)
    assert ref['total'] - _sampling(ref) == fast['total'] - _sampling(fast)


def test_get_flops_cli(tools):
    out = tools.python_tool('analysis_tools/get_flops.py', QUICKSTART,
                            '--shape', '8', '128', '192').stdout
    assert 'Decoder share:' in out and 'roi_head.stages.0' in out
    params = out.split('Parameters: ')[1].split('\n')[0]
    assert params.endswith(' M') and float(params[:-2]) > 1
    proc = tools.python_tool(
        'analysis_tools/get_flops.py',
        QUICKSTART,
        '--shape',
        '0',
        '128',
        '192',
        check=False)
    assert proc.returncode == 2 and '--shape values must be' in proc.stderr
    # a part that refuses its settings: named by its config path, one line
    proc = tools.python_tool(
        'analysis_tools/get_flops.py',
        TINY_CFG,
        '--cfg-options',
        'model.backbone.depth=7',
        check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip().endswith(
        "model.backbone: KeyError: 'invalid depth 7 for resnet' (the part "
        'refused its settings when built)'), proc.stderr


def test_browse_dataset_writes_images(tools, tmp_path):
    from stmixer_mm.apps.dataset_doctor.browser import browse
    out = tmp_path / 'browse'
    files = browse(Config.fromfile(TINY_CFG), 'val', str(out), max_samples=3)
    assert len(files) == 3 and all(osp.isfile(f) for f in files)
    img = cv2.imread(files[0])
    # the 64x64 keyframe scaled up to a 360 short side, legend below
    assert img.shape[1] == 360 and img.shape[0] > 360
    # ground-truth boxes in green are drawn
    green = (np.abs(img[:360].astype(int) - [0, 200, 0]).sum(-1) < 60)
    assert green.sum() > 100
    # neither --output-dir nor --show
    proc = tools.python_tool(
        'analysis_tools/browse_dataset.py', TINY_CFG, check=False)
    assert proc.returncode == 2 and 'nothing to do' in proc.stderr
    # a refused setting, and an annotation file that is no csv: one line
    # naming it, nothing written
    bad = tmp_path / 'bad.csv'
    bad.write_text('{\n')
    for option, said in (
        ('train_dataloader.dataset.unlisted_labels=x',
         "train_dataloader.dataset: ValueError: AVAActorDataset: "
         "unlisted_labels must be one of ('error', 'warn'), got 'x'"),
        (f'train_dataloader.dataset.ann_file={bad}',
         f'AVA annotation file {bad}, line 1: expected 8 comma-separated')):
        proc = tools.python_tool(
            'analysis_tools/browse_dataset.py',
            TINY_CFG,
            '--output-dir',
            str(tmp_path / 'refused'),
            '--cfg-options',
            option,
            check=False)
        assert proc.returncode == 1 and said in proc.stderr, proc.stderr
        assert 'Traceback' not in proc.stderr
        assert not (tmp_path / 'refused').exists()


def _write_log(path):
    recs = [
        dict(lr=0.1, loss=3.0, time=0.5, epoch=1, iter=1, step=1),
        dict(lr=0.1, loss=2.0, time=0.2, epoch=1, iter=2, step=2),
        {
            'mAP/overall': 0.25,
            'time': 0.1,
            'step': 1
        },
        dict(lr=0.1, loss=1.5, time=0.3, epoch=2, iter=3, step=3),
        dict(lr=0.1, loss=1.0, time=0.4, epoch=2, iter=4, step=4),
        {
            'mAP/overall': 0.5,
            'mAP/x': float('nan'),
            'time': 0.1,
            'step': 2
        },
    ]
    with open(path, 'w') as f:
        for r in recs:
            f.write(json.dumps(r) + '\n')


def test_analyze_logs_curves_and_time(tools, tmp_path):
    from stmixer_mm.apps.json_logs import curve, load_log, train_time
    log = tmp_path / 'run.json'
    _write_log(log)
    data = load_log(str(log))
    xs, ys, xl = curve(data, 'loss')
    assert xl == 'iter' and xs.tolist() == [1, 2, 3, 4]
    xs, ys, xl = curve(data, 'mAP/overall')
    assert xl == 'epoch' and xs.tolist() == [1, 2
                                             ] and ys.tolist() == [0.25, 0.5]
    assert len(curve(data, 'mAP/x')[0]) == 0  # NaN dropped
    with pytest.raises(KeyError, match='mAP/overall'):
        curve(data, 'bbox_mAP')
    out = tmp_path / 'c.png'
    tools.python_tool('analysis_tools/analyze_logs.py', 'plot_curve', str(log),
                      '--keys', 'loss', 'mAP/overall', '--out', str(out))
    assert cv2.imread(str(out)) is not None
    printed = tools.python_tool('analysis_tools/analyze_logs.py',
                                'cal_train_time', str(log)).stdout
    assert 'slowest epoch 2, average time is 0.4000 s' in printed
    res = train_time(data)
    # first iteration of each epoch left out: epoch 1 -> 0.2, 2 -> 0.4
    assert (res['slowest'], res['fastest']) == (2, 1)
    assert res['mean'] == pytest.approx(0.3)
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1, "step": 1}\nnot json\n')
    with pytest.raises(ValueError, match='bad.json:2'):
        load_log(str(bad))
    # the command names the log (or the key) in one line, no traceback
    odd = tmp_path / 'odd.json'
    odd.write_text('{"loss": "x", "step": 1, "iter": 1}\n')
    for args, said in ((('plot_curve', str(bad)), 'bad.json:2: not a JSON'),
                       (('cal_train_time', str(tmp_path / 'none.json')),
                        'none.json: no such log file or work dir'),
                       (('plot_curve', str(log), '--keys', 'bbox_mAP'),
                        "run.json has no 'bbox_mAP'"),
                       (('plot_curve', str(odd)), 'odd.json: step 1: loss '
                        "is 'x', expected a number")):
        proc = tools.python_tool(
            'analysis_tools/analyze_logs.py', *args, check=False)
        assert proc.returncode == 1 and said in proc.stderr, proc.stderr
        assert 'Traceback' not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_analyze_logs_on_a_real_run(tools, trained, tmp_path):
    """The json log of tools/train.py on the tiny config (2 epochs)."""
    from stmixer_mm.apps.json_logs import curve, load_log
    work, _ = trained
    data = load_log(str(work))
    assert len(curve(data, 'loss')[0]) == 4  # 2 epochs x 2 iters
    assert curve(data, 'mAP/overall')[0].tolist() == [1, 2]
    out = tmp_path / 'curves.png'
    tools.python_tool('analysis_tools/analyze_logs.py', 'plot_curve',
                      str(work), '--keys', 'loss', 'mAP/overall',
                      's0.loss_action', '--out', str(out))
    assert cv2.imread(str(out)) is not None


def test_print_config(tools, tmp_path):
    save = tmp_path / 'full.py'
    out = tools.python_tool('misc/print_config.py', TINY_CFG, '--cfg-options',
                            'train_cfg.max_epochs=5', '--save-path',
                            str(save)).stdout
    assert "type='STMixer'" in out and 'max_epochs=5' in out
    saved = Config.fromfile(str(save))
    assert saved.train_cfg.max_epochs == 5
    assert saved.default_scope == 'mmaction'  # _base_ merged


# ----------------------------------------------------------------------
# benchmark_model.py --vs-official: our detector against the official stack
# (stock mmaction2 backbone + reference sampling), same weights and clips


def _tiny_vit_config(tmp_path):
    """The tiny fixture config with a 1-block ViT of the ViT-B base's
    class (fused attention by default)."""
    path = tmp_path / 'tiny_vit.py'
    path.write_text(f"""_base_ = ['{TINY_CFG}']
model = dict(
    backbone=dict(
        _delete_=True,
        type='STMixerVisionTransformer',
        img_size=64,
        patch_size=16,
        embed_dims=32,
        depth=1,
        num_heads=2,
        num_frames=4,
        tubelet_size=2,
        use_mean_pooling=False,
        return_feat_map=True),
    neck=dict(
        _delete_=True,
        type='STMixerViTNeck',
        in_channels=32,
        out_channels=64,
        scales=(4, 2, 1, 0.5)),
    roi_head=dict(stage_head=dict(sampling_mixing=dict(temporal_points=2))))
""")
    return str(path)


def _with_plugin(tmp_path, monkeypatch, name, code, extra=''):
    """The tiny config (and ``extra`` lines) importing a user's module
    ``name`` (``code``), as a config's ``custom_imports`` does."""
    (tmp_path / f'{name}.py').write_text(code)
    monkeypatch.setenv(
        'PYTHONPATH',
        os.pathsep.join(
            p for p in (str(tmp_path), os.environ.get('PYTHONPATH')) if p))
    path = tmp_path / f'tiny_{name}.py'
    path.write_text(f"_base_ = ['{TINY_CFG}']\n"
                    f"custom_imports = dict(imports=['{name}'], "
                    'allow_failed_imports=False)\n' + extra)
    return str(path)


def _vs_official(tools, configs, *extra, check=True, subprocess=False):
    """``benchmark_model.py --vs-official`` on ``configs`` (CPU, clips of
    4 x 64 x 96, no warm-up); ``subprocess`` for a config whose plugin
    patches the package (:func:`_with_plugin`)."""
    return tools.python_tool(
        'analysis_tools/benchmark_model.py',
        *configs,
        '--vs-official',
        '--device',
        'cpu',
        '--shape',
        '4',
        '64',
        '96',
        '--warmup',
        '0',
        *extra,
        check=check,
        subprocess=subprocess)


def test_official_stack_cfg_swaps_backbone_and_sampling(tmp_path):
    from stmixer_mm.apps.benchmarks.common import (official_configs,
                                                   official_stack_cfg)
    from stmixer_mm.apps.deployment import get_sampling_impls
    cfg = Config.fromfile(_tiny_vit_config(tmp_path))
    official_stack_cfg(cfg)
    assert cfg.model.backbone.type == 'mmaction.VisionTransformer'
    assert 'attn_impl' not in cfg.model.backbone
    assert set(get_sampling_impls(cfg)) == {'reference'}
    cnn = Config.fromfile(TINY_CFG)
    official_stack_cfg(cnn)
    assert cnn.model.backbone.type == 'mmaction.ResNet3dSlowOnly'
    for name, path in official_configs(
            osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')):
        cfg = official_stack_cfg(Config.fromfile(path))
        bb = cfg.model.backbone
        assert bb.type in ('mmaction.VisionTransformer',
                           'mmaction.ResNet3dSlowOnly',
                           'ResNet3dSlowFastMultiLevel'), name
        assert bb.get('conv3d_impl', 'native') == 'native', name
        assert 'attn_impl' not in bb, name
        assert set(get_sampling_impls(cfg)) == {'reference'}, name


def test_vs_official_table(tools, tmp_path):
    """Two configs at 1 and 2 threads: the table, ``--dtypes`` and
    ``--json`` (they were once ignored: its rows were fp32 and bf16 where
    native, and no file); ``--compile`` where the captured path does not
    apply (a CUDA-graph mode off CUDA): the row says why and times nothing
    (no eager time reported as captured)."""
    out_json = tmp_path / 'rows.json'
    proc = _vs_official(tools, [TINY_CFG, _tiny_vit_config(tmp_path)],
                        '--threads', '1', '2',
                        '--repeats', '2', '--dtypes', 'fp32', '--json',
                        str(out_json), '--compile', '--compile-mode',
                        'reduce-overhead')
    out = proc.stdout
    rows = json.loads(out_json.read_text())
    assert [(r['name'], r['threads'], r['dtype'])
            for r in rows] == [('tiny_stmixer_tiny-ava', 1, 'fp32'),
                               ('tiny_stmixer_tiny-ava', 2, 'fp32'),
                               ('tiny_vit', 1, 'fp32'),
                               ('tiny_vit', 2, 'fp32')]
    for r in rows:
        assert len(r['times']) == len(r['official_times']) == 2
        assert r['speedup'] == pytest.approx(r['official_median_s'] /
                                             r['median_s'])
        assert r['median_s'] == statistics.median(r['times'])
        assert r['peak'] > 0 and r['official_peak'] > 0
        # raw outputs of every stage compared: never exactly equal, as the
        # two stacks round differently
        assert 0 < r['max_diff'] <= 1e-4
        assert r['cpu_s'] > 0 and r['official_cpu_s'] > 0
        assert 'need a CUDA device' in r['compile_error']
        assert 'compiled_median_s' not in r
    assert any('conv-BN fusion' in a for a in rows[0]['applied'])
    assert "ViT attention 'sdpa'" in rows[2]['applied']
    assert '| official (ms) | ours (ms) |' in out and 'speed-up' in out
    assert 'CPU-time speed-up' in out
    assert 'cpu, 2 threads' in out and 'load average before' in out
    assert 'official: stock mmaction2 backbone' in out
    assert 'captured, tiny_vit (cpu, 2 threads, fp32): not applied: ' in out
    assert 'predict runs eagerly' in proc.stderr


MIRRORED = """# our SlowOnly unlike the official one: its features mirrored
from stmixer_mm.models.backbones import resnet3d_slowonly

ours = resnet3d_slowonly.STMixerResNet3dSlowOnly
forward = ours.forward


def mirrored(self, x):
    out = forward(self, x)
    if isinstance(out, tuple):
        return tuple(o.flip(-1) for o in out)
    return out.flip(-1)


ours.forward = mirrored
"""


def test_vs_official_stops_when_outputs_differ(tools, tmp_path, monkeypatch):
    """A network that is not the official stack's is caught: its raw
    outputs differ (they exist even where random weights keep no
    detection), and the fp32 row stops the run; the bf16 row before it is
    only reported, with its ``--compile`` failure (a compilation that
    fails: the row says why and times nothing)."""
    config = _with_plugin(
        tmp_path, monkeypatch, 'mirrored', MIRRORED,
        "model = dict(backbone=dict(type='STMixerResNet3dSlowOnly'))\n")
    out_json = tmp_path / 'rows.json'
    proc = _vs_official(
        tools,
        [config],
        '--threads',
        '1',
        '--repeats',
        '1',
        '--dtypes',
        'bf16',
        'fp32',
        '--json',
        str(out_json),
        '--compile',
        '--compile-mode',
        'default',
        '--compile-backend',
        'tvm',  # registered in torch; fails without apache-tvm installed
        check=False,
        subprocess=True)
    assert proc.returncode == 1
    found = re.search(
        r'tiny_mirrored \(cpu, 1 thread, fp32\): our predictions '
        r"differ from the official stack's by (\S+) \(relative; tolerance "
        r'1e-04\)', proc.stderr)
    assert found and float(found.group(1)) > 1e-3
    (bf16, ) = json.loads(out_json.read_text())
    assert bf16['dtype'] == 'bf16 autocast'
    assert 'tvm' in bf16['compile_error']
    assert 'compiled_median_s' not in bf16


def test_vs_official_argument_errors(tools):
    for argv, message in (([TINY_CFG, '--threads', '1',
                            '2'], 'several --threads values'),
                          ([TINY_CFG,
                            '--compile'], '--compile is for --vs-official'), ([
                                TINY_CFG, '--vs-official', '--dtypes', 'fp32',
                                '--fp32-only'
                            ], 'use it without --bf16'),
                          ([TINY_CFG, '--official', '--bf16',
                            '--fp32-only'], 'exclude each other'), ([
                                TINY_CFG, '--vs-official', '--compile',
                                '--compile-backend', 'inductr'
                            ], "--compile-backend: backend='inductr' is not")):
        proc = tools.python_tool(
            'analysis_tools/benchmark_model.py', *argv, check=False)
        assert proc.returncode == 2 and message in proc.stderr
    # a part that refuses its settings: named by its config path, one line
    proc = tools.python_tool(
        'analysis_tools/benchmark_model.py',
        TINY_CFG,
        '--cfg-options',
        'model.roi_head.num_stages=0',
        check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'model.roi_head: ValueError: STMixerDecoder: num_stages must be ' \
        'an int >= 1, got 0' in proc.stderr, proc.stderr


@pytest.mark.parametrize('tool, before, after', [
    ('analysis_tools/benchmark_decoder.py', [], []),
    ('analysis_tools/benchmark_online.py',
     ['--models', 'official', '--official-config'], ['--work-dir']),
])
def test_benchmarks_refuse_a_setting_before_any_work(tools, tmp_path, tool,
                                                     before, after):
    """A config whose part refuses its settings: one line naming the config
    and the setting's path, before a video or a model is made."""
    bad = tmp_path / 'bad_stages.py'
    bad.write_text(f'_base_ = [{TINY_CFG!r}]\n'
                   'model = dict(roi_head=dict(num_stages=0))\n')
    work = tmp_path / 'work'
    argv = [*before, str(bad)] + ([*after, str(work)] if after else [])
    proc = tools.python_tool(tool, *argv, check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert f'{bad}: model.roi_head: ValueError: STMixerDecoder: num_stages ' \
        'must be an int >= 1, got 0' in proc.stderr, proc.stderr
    assert not work.exists()


def test_benchmark_online_reads_its_configs_where_its_workers_do(
        tools, tmp_path):
    """The default configs are paths in the checkout, as the workers (run
    from there) read them: the preflight finds them from any folder."""
    video = tmp_path / 'missing.mp4'
    proc = tools.python_tool(
        'analysis_tools/benchmark_online.py',
        '--models',
        'quickstart',
        '--video',
        str(video),
        check=False,
        cwd=tmp_path)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert f'{video}: no such video' in proc.stderr + proc.stdout, \
        proc.stderr


def test_benchmark_online_reads_a_relative_config_from_the_callers_folder(
        tools, tmp_path):
    """A relative --quickstart-config is the caller's: run from the folder
    that holds it, its refused setting is named (was: no such file)."""
    (tmp_path / 'bad.py').write_text(
        f'_base_ = [{TINY_CFG!r}]\n'
        'model = dict(roi_head=dict(num_stages=0))\n')
    proc = tools.python_tool(
        'analysis_tools/benchmark_online.py',
        '--models',
        'quickstart',
        '--quickstart-config',
        'bad.py',
        check=False,
        cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert f'{tmp_path / "bad.py"}: model.roi_head: ValueError: ' \
        'STMixerDecoder: num_stages must be an int >= 1' in proc.stderr, \
        proc.stderr


SPY = """# records the TF32 flags of every call of the captured path
import atexit
import json
import pickle

import torch

from stmixer_mm.models.detectors import compile as compile_module

calls = []
call = compile_module.CompiledPredict.__call__


def spy(self, *args, **kwargs):
    # each capture numbered at its first call: id() is reused once a
    # capture is freed, which merged two captures into one
    if not hasattr(self, '_spy_number'):
        self._spy_number = len({c[0] for c in calls})
    calls.append((self._spy_number, torch.backends.cudnn.allow_tf32,
                  torch.backends.cuda.matmul.allow_tf32))
    return call(self, *args, **kwargs)


compile_module.CompiledPredict.__call__ = spy
# a user's setting: TF32 on
torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
atexit.register(lambda: print('TF32SPY ' + json.dumps(calls)))
"""


def test_vs_official_captured_row(tools, tmp_path, monkeypatch):
    """``--compile``: our model through its captured path, timed beside the
    eager row with its compile time, graph breaks and difference from
    eager; aot_eager on the CPU (exact, and no C compiler needed). The
    difference is taken without TF32, through a capture compiled inside
    that setting (one compiled with TF32 on keeps it), as the comparison
    with the official stack; the timing keeps the user's setting; the eager
    path is back after each row (``--fp32-only``: fp32 rows alone)."""
    config = _with_plugin(tmp_path, monkeypatch, 'tf32_spy', SPY)
    out_json = tmp_path / 'rows.json'
    out = _vs_official(
        tools, [config],
        '--threads',
        '1',
        '2',
        '--repeats',
        '2',
        '--fp32-only',
        '--json',
        str(out_json),
        '--compile',
        '--compile-mode',
        'default',
        '--compile-backend',
        'aot_eager',
        subprocess=True).stdout
    rows = json.loads(out_json.read_text())
    assert [r['dtype'] for r in rows] == ['fp32', 'fp32']
    assert 'bf16 on cpu: not measured (--fp32-only' in out
    for row in rows:
        assert 'compile_error' not in row, row.get('compile_error')
        assert row['compile_mode'] == 'default'
        assert len(row['compiled_times']) == 2
        assert row['compiled_median_s'] == statistics.median(
            row['compiled_times'])
        assert row['compiled_speedup'] == pytest.approx(
            row['official_median_s'] / row['compiled_median_s'])
        assert row['graph_breaks'] == 0 and row['compiled_diff'] == 0
        # the raw outputs exist even where random weights keep no detection
        assert row['compiled_raw_diff'] == 0
        assert isinstance(row['compiled_kept'], int)
    calls = json.loads(out.split('TF32SPY ')[1].splitlines()[0])
    ids = list(dict.fromkeys(c[0] for c in calls))  # in order of first call
    assert ids == [0, 1, 2, 3]  # per row: the timed capture, the checked one
    for timed, checked in (ids[0:2], ids[2:4]):
        # first call + 2 timed ones, nothing after: eager is back
        assert [c[1:] for c in calls if c[0] == timed] == [[True, True]] * 3
        assert [c[1:] for c in calls if c[0] == checked] == [[False, False]]


def test_visualize_results_refuses_what_it_cannot_draw(tools, tmp_path):
    """A dump that is not one (corrupt, another structure, missing), a work
    dir without a log, --num-images 0: one line naming it, nothing
    written."""
    garbage = tmp_path / 'garbage.pkl'
    garbage.write_bytes(b'garbage\n')
    wrong = tmp_path / 'wrong.pkl'
    wrong.write_bytes(pickle.dumps([{'pred_instances': 3}]))
    one = tmp_path / 'one.pkl'  # one sample, not a list of them
    one.write_bytes(
        pickle.dumps(dict(video_id='v', timestamp=1, pred_instances={})))
    out = tmp_path / 'out'
    cases = [
        (['--predictions', str(garbage)], 1,
         f'--predictions {garbage} cannot be read (ValueError'),
        (['--predictions', str(tmp_path / 'none.pkl')], 1,
         'none.pkl cannot be read (FileNotFoundError'),
        (['--predictions', str(wrong)], 1,
         f"{wrong}: predictions[0] is {{'pred_instances': 3}} (dict): "
         'expected a dict with video_id, timestamp'),
        (['--predictions', str(one)], 1,
         f'{one}: predictions must be a list of dicts with video_id, '
         'timestamp, pred_instances, got dict'),
        (['--work-dir',
          str(tmp_path)], 1, f'no scalars.json under {tmp_path}'),
        (['--predictions', str(wrong), '--num-images',
          '0'], 2, '--num-images must be >= 1, got 0'),
    ]
    for args, code, said in cases:
        proc = tools.python_tool(
            'analysis_tools/visualize_results.py',
            TINY_CFG,
            *args,
            '--out-dir',
            str(out),
            check=False)
        assert proc.returncode == code and said in proc.stderr, proc.stderr
        assert 'Traceback' not in proc.stderr and not out.exists()
