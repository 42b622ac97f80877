"""tools/analysis_tools/get_flops.py, browse_dataset.py, analyze_logs.py,
benchmark_model.py --vs-official and tools/misc/print_config.py: their
library code in the package, their command lines in subprocesses."""
import json
import os.path as osp

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
    from stmixer_mm.benchmarks import flops
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


def test_browse_dataset_writes_images(tools, tmp_path):
    from stmixer_mm.visualization.dataset_browser import browse
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
    from stmixer_mm.utils.json_logs import curve, load_log, train_time
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


@pytest.mark.slow
def test_analyze_logs_on_a_real_run(tools, trained, tmp_path):
    """The json log of tools/train.py on the tiny config (2 epochs)."""
    from stmixer_mm.utils.json_logs import curve, load_log
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


@pytest.fixture(scope='module')
def benchmark_model():
    """The library of benchmark_model.py --vs-official."""
    import types

    from stmixer_mm.benchmarks import common as benchmark
    from stmixer_mm.benchmarks import model as vs_official
    return types.SimpleNamespace(**{**vars(benchmark), **vars(vs_official)})


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


def test_official_stack_cfg_swaps_backbone_and_sampling(
        benchmark_model, tmp_path):
    from stmixer_mm.deployment import get_sampling_impls
    cfg = Config.fromfile(_tiny_vit_config(tmp_path))
    benchmark_model.official_stack_cfg(cfg)
    assert cfg.model.backbone.type == 'mmaction.VisionTransformer'
    assert 'attn_impl' not in cfg.model.backbone
    assert set(get_sampling_impls(cfg)) == {'reference'}
    cnn = Config.fromfile(TINY_CFG)
    benchmark_model.official_stack_cfg(cnn)
    assert cnn.model.backbone.type == 'mmaction.ResNet3dSlowOnly'
    for name, path in benchmark_model.official_configs(
            osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')):
        cfg = benchmark_model.official_stack_cfg(Config.fromfile(path))
        bb = cfg.model.backbone
        assert bb.type in ('mmaction.VisionTransformer',
                           'mmaction.ResNet3dSlowOnly',
                           'ResNet3dSlowFastMultiLevel'), name
        assert bb.get('conv3d_impl', 'native') == 'native', name
        assert 'attn_impl' not in bb, name
        assert set(get_sampling_impls(cfg)) == {'reference'}, name


def _vs_official(benchmark_model, configs, **kwargs):
    import torch
    threads = torch.get_num_threads()
    named = [(osp.splitext(osp.basename(c))[0], c) for c in configs]
    try:
        return benchmark_model.benchmark_vs_official(
            named, [torch.device('cpu')],
            shape=(4, 64, 96),
            warmup=0,
            **kwargs)
    finally:
        torch.set_num_threads(threads)


def test_vs_official_table(benchmark_model, tmp_path, capsys):
    rows = _vs_official(
        benchmark_model, [TINY_CFG, _tiny_vit_config(tmp_path)],
        threads=[1, 2],
        repeats=2)
    out = capsys.readouterr().out
    fp32 = [r for r in rows if r['dtype'] == 'fp32']
    assert [(r['name'], r['threads'])
            for r in fp32] == [('tiny_stmixer_tiny-ava', 1),
                               ('tiny_stmixer_tiny-ava', 2), ('tiny_vit', 1),
                               ('tiny_vit', 2)]
    for r in rows:
        assert len(r['times']) == len(r['official_times']) == 2
        assert r['speedup'] == pytest.approx(r['official_median_s'] /
                                             r['median_s'])
        assert r['peak'] > 0 and r['official_peak'] > 0
    for r in fp32:
        # raw outputs of every stage compared: never exactly equal, as the
        # two stacks round differently
        assert 0 < r['max_diff'] <= 1e-4
    assert any('conv-BN fusion' in a for a in fp32[0]['applied'])
    assert "ViT attention 'sdpa'" in fp32[2]['applied']
    assert '| official (ms) | ours (ms) |' in out and 'speed-up' in out
    assert 'CPU-time speed-up' in out
    for r in rows:
        assert r['cpu_s'] > 0 and r['official_cpu_s'] > 0
    assert 'cpu, 2 threads' in out and 'load average before' in out
    assert 'official: stock mmaction2 backbone' in out


def test_vs_official_rows_dtypes_and_json(benchmark_model, tmp_path):
    """``--dtypes`` and ``--json`` reach ``--vs-official`` (they were
    ignored: its rows were fp32 and bf16 where native, and no file)."""
    import json
    out = tmp_path / 'rows.json'
    rows = _vs_official(
        benchmark_model, [TINY_CFG],
        threads=[1],
        repeats=1,
        dtypes=['fp32'],
        json=str(out))
    assert [r['dtype'] for r in rows] == ['fp32']
    written = json.loads(out.read_text())
    assert [r['dtype'] for r in written] == ['fp32']
    assert written[0]['median_s'] == rows[0]['median_s']


def test_select_dtypes():
    import torch

    from stmixer_mm.benchmarks.common import native_bf16, select_dtypes
    cpu = torch.device('cpu')
    native = native_bf16(cpu)[0]
    assert select_dtypes([cpu], ['fp32', 'fp16'])[0] == {cpu: ['fp32', 'fp16']}
    assert select_dtypes([cpu], fp32_only=True)[0] == {cpu: ['fp32']}
    assert select_dtypes([cpu], bf16=True)[0] == {cpu: ['fp32', 'bf16']}
    assert select_dtypes([cpu])[0] == {
        cpu: ['fp32'] + (['bf16'] if native else [])
    }
    for kwargs, message in ((dict(dtypes=['fp32'], bf16=True), 'not both'),
                            (dict(bf16=True, fp32_only=True), 'exclude'),
                            (dict(dtypes=['fp8']), 'unknown row dtypes')):
        with pytest.raises(ValueError, match=message):
            select_dtypes([cpu], **kwargs)


def test_vs_official_stops_when_outputs_differ(benchmark_model, tmp_path,
                                               monkeypatch):
    # a stand-in official stack that is not the same network must be caught
    orig = benchmark_model.official_stack_cfg

    def wrong(cfg):
        orig(cfg)
        # keeps other detections
        cfg.model.test_cfg.rcnn.person_threshold = 0.0
        cfg.model.test_cfg.rcnn.num_fallback = 100
        return cfg

    from stmixer_mm.benchmarks import common as benchmark
    monkeypatch.setattr(benchmark, 'official_stack_cfg', wrong)
    with pytest.raises(SystemExit, match='differ from the official'):
        _vs_official(benchmark_model, [TINY_CFG], threads=[1], repeats=1)


def test_raw_output_difference_sees_a_changed_weight(benchmark_model):
    ours = benchmark_model.build_random_model(TINY_CFG, 0)
    official = benchmark_model.build_random_model(TINY_CFG, 0, official=True)
    official.load_state_dict(ours.state_dict(), strict=True)
    data = benchmark_model.make_batch(1, 4, 64, 96)
    cpu = benchmark_model.torch.device('cpu')
    assert benchmark_model.raw_output_difference(ours, official, data,
                                                 cpu) < 1e-4
    with benchmark_model.torch.no_grad():
        for p in official.roi_head.stages[-1].parameters():
            p.add_(0.1)
    assert benchmark_model.raw_output_difference(ours, official, data,
                                                 cpu) > 1e-3


def test_vs_official_argument_errors(tools):
    for argv, message in (([TINY_CFG, '--threads', '1',
                            '2'], 'several --threads values'),
                          ([TINY_CFG,
                            '--compile'], '--compile is for --vs-official'), ([
                                TINY_CFG, '--vs-official', '--dtypes', 'fp32',
                                '--fp32-only'
                            ], 'use it without --bf16'),
                          ([TINY_CFG, '--official', '--bf16',
                            '--fp32-only'], 'exclude each other')):
        proc = tools.python_tool(
            'analysis_tools/benchmark_model.py', *argv, check=False)
        assert proc.returncode == 2 and message in proc.stderr


def test_vs_official_captured_row(benchmark_model):
    """``--compile``: our model through its captured path (``compile_cfg``,
    what a config selects), timed beside the eager row with its compile
    time, graph breaks and difference from eager; aot_eager on the CPU
    (exact, and no C compiler needed)."""
    import statistics

    import torch
    model = benchmark_model.build_random_model(TINY_CFG, 0)
    data = benchmark_model.make_batch(1, 4, 64, 96)
    cpu = torch.device('cpu')
    row = dict(median_s=0.5, official_median_s=1.0)
    benchmark_model.compile_row(model, data, cpu, None, row,
                                dict(mode='default', backend='aot_eager'), 0,
                                2)
    assert 'compile_error' not in row, row.get('compile_error')
    assert row['compile_mode'] == 'default'
    assert len(row['compiled_times']) == 2
    assert row['compiled_median_s'] == statistics.median(row['compiled_times'])
    assert row['compiled_speedup'] == pytest.approx(1.0 /
                                                    row['compiled_median_s'])
    assert row['graph_breaks'] == 0 and row['compiled_diff'] == 0
    # the raw outputs exist even where random weights keep no detection
    assert row['compiled_raw_diff'] == 0
    assert row['compiled_kept'] == sum(
        len(r.pred_instances)
        for r in benchmark_model.inference_runner(model, data, cpu)())
    assert model.compiled_predict is None  # the eager path is back


def test_vs_official_captured_difference_is_taken_without_tf32(
        benchmark_model, monkeypatch):
    """fp32 rows: the captured path is compared with eager with TF32 off,
    through a capture compiled inside that setting (one compiled with TF32
    on keeps it), as the comparison with the official stack; the timing
    keeps PyTorch's defaults."""
    import torch

    from stmixer_mm.models.detectors import compile as compile_module
    seen = []
    call = compile_module.CompiledPredict.__call__

    def spy(self, *args, **kwargs):
        seen.append((id(self), torch.backends.cudnn.allow_tf32,
                     torch.backends.cuda.matmul.allow_tf32))
        return call(self, *args, **kwargs)

    monkeypatch.setattr(compile_module.CompiledPredict, '__call__', spy)
    model = benchmark_model.build_random_model(TINY_CFG, 0)
    data = benchmark_model.make_batch(1, 4, 64, 96)
    row = dict(median_s=0.5, official_median_s=1.0)
    with benchmark_model.no_tf32():  # saves and puts back both flags
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = True
        benchmark_model.compile_row(model, data, torch.device('cpu'), None,
                                    row,
                                    dict(mode='default',
                                         backend='aot_eager'), 0, 1)
        assert torch.backends.cuda.matmul.allow_tf32  # put back
    assert row['compiled_raw_diff'] == 0
    timed, checked = seen[:-1], seen[-1]
    assert {s[1:] for s in timed} == {(True, True)}
    assert checked[1:] == (False, False)
    assert checked[0] not in {s[0] for s in timed}  # compiled afresh


def test_vs_official_captured_row_records_a_failure(benchmark_model):
    """Where the captured path does not apply, ``predict`` falls back to
    eager: the row says why and times nothing (no eager time reported as
    captured): a compilation that fails, and a CUDA-graph mode off CUDA."""
    import torch
    model = benchmark_model.build_random_model(TINY_CFG, 0)
    data = benchmark_model.make_batch(1, 4, 64, 96)
    for cfg, why in ((dict(mode='default',
                           backend='no_such_backend'), 'no_such_backend'),
                     (dict(mode='reduce-overhead'), 'need a CUDA device')):
        row = dict(median_s=0.5, official_median_s=1.0)
        with pytest.warns(UserWarning, match='predict runs eagerly'):
            benchmark_model.compile_row(model, data, torch.device('cpu'), None,
                                        row, cfg, 0, 1)
        assert why in row['compile_error']
        assert 'compiled_median_s' not in row
        assert model.compiled_predict is None
