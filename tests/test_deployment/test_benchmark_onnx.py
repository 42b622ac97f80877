"""``tools/analysis_tools/benchmark_model.py`` as a user runs it, on the tiny
fixture config: the ONNX Runtime row beside PyTorch's (``--onnx``) and the
table mode; its harness in the package (the official configs of a
metafile, random-weight models, the finiteness check)."""
import json
import os.path as osp
import re

import pytest
import torch

from stmixer_mm import testing
from stmixer_mm.apps.benchmarks import common as benchmark
from stmixer_mm.apps.benchmarks.flops import build_detector, count_flops
from stmixer_mm.testing import repo_root

REPO = repo_root()
TINY_CFG = testing.repo_path(testing.TINY_CFG)
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_model.py')
DEFAULT_METAFILE = osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')
TOOL_NAME = 'analysis_tools/benchmark_model.py'


def _tool_error(argv):
    """The tool's exit status and error output for ``argv`` (argument
    errors stop it before anything is built)."""
    proc = testing.python_tool(TOOL_NAME, *argv, check=False)
    return proc.returncode, proc.stderr


def _native_bf16_cpu():
    """Whether this CPU computes bf16 natively (oneDNN's bf16 kernels)."""
    check = getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', None)
    return bool(check()) if check is not None else False


def test_onnx_row(tools):
    out = tools.python_tool(TOOL_NAME, TINY_CFG, '--device', 'cpu', '--shape',
                            '4', '60', '80', '--onnx', '--repeats', '2',
                            '--warmup', '0', '--threads', '1').stdout
    torch_ms, ort_ms = (
        float(
            re.search(
                rf'{what} *: median ([\d.]+) ms, min [\d.]+ ms over 2 '
                'runs', out).group(1)) for what in ('forward', 'onnxruntime'))
    assert torch_ms > 0 and ort_ms > 0
    check = re.search(
        r'max \|ORT - PyTorch\| person (\S+), actions (\S+), boxes (\S+) ',
        out)
    assert max(float(v.rstrip(',')) for v in check.groups()) <= 1e-4
    assert 'onnxruntime : median' in out and 'threads 1' in out
    assert 'ort/pytorch : ' in out


@pytest.mark.parametrize('extra', [['--amp'], ['--device', 'cuda']])
def test_onnx_row_is_cpu_fp32_only(extra):
    code, err = _tool_error([TINY_CFG, '--onnx', *extra])
    assert code == 2 and '--onnx times ONNX Runtime on the CPU' in err


# table mode (--official / several configs / --table): one row per config,
# device and dtype with parameters, whole-detector GFLOPs and latency


def _tiny_metafile(tmp_path, config=TINY_CFG):
    meta = tmp_path / 'metafile.yml'
    meta.write_text('Models:\n  - Name: tiny-official\n'
                    f'    Config: {config}\n'
                    '    Converted From:\n      Code: official\n')
    return str(meta)


def test_official_table_row(tools, tmp_path):
    rows_file = tmp_path / 'rows.json'
    out = tools.python_tool(TOOL_NAME, '--official', '--metafile',
                            _tiny_metafile(tmp_path), '--shape', '4', '60',
                            '80', '--repeats', '2', '--warmup', '0',
                            '--threads', '1', '--json', str(rows_file)).stdout
    rows = json.loads(rows_file.read_text())
    native = _native_bf16_cpu()
    cpu_rows = [r for r in rows if r['device'] == 'cpu']
    assert [r['dtype'] for r in cpu_rows
            ] == (['fp32', 'bf16 autocast'] if native else ['fp32'])
    row = cpu_rows[0]
    assert row['name'] == 'tiny-official' and row['config'] == TINY_CFG
    assert row['input'] == [1, 4, 60, 80] and len(row['times']) == 2
    assert row['median_s'] > 0
    assert row['clips_per_s'] == pytest.approx(1 / row['median_s'])
    # the same numbers as get_flops.py on the same config and clip size
    from mmengine.config import Config
    detector = build_detector(Config.fromfile(TINY_CFG))
    ref = count_flops(detector, (4, 60, 80))
    assert row['params'] == sum(p.numel() for p in detector.parameters())
    assert row['flops'] == ref['total'] > 0
    assert row['decoder_share'] == pytest.approx(ref['decoder_share'])
    assert 0 < row['decoder_share'] < 1
    assert ('| config | input (BxTxHxW) | params (M) | GFLOPs (GMACs) |'
            in out)
    line = next(ln for ln in out.splitlines()
                if ln.startswith('| tiny-official |'))
    assert f'| {ref["total"] / 1e9:.2f} ({ref["total"] / 2e9:.2f}) |' in line
    assert '| 1x4x60x80 |' in line and '| cpu, 1 thread | fp32 |' in line
    assert 'load average before: ' in out and 'load average after: ' in out
    if not torch.cuda.is_available():
        assert 'GPU: not measured' in out
    if not native:
        assert 'bf16 on cpu: no native bf16' in out and 'not measured' in out


def test_table_bf16_rows_and_default_shape(tools, tmp_path):
    """--bf16 adds a bf16 autocast row on every device; without --shape
    the clip is the config's clip_len x 256 x 320."""
    rows_file = tmp_path / 'rows.json'
    out = tools.python_tool(TOOL_NAME, TINY_CFG, '--table', '--device', 'cpu',
                            '--bf16', '--repeats', '1', '--warmup', '0',
                            '--no-flops', '--json', str(rows_file)).stdout
    rows = json.loads(rows_file.read_text())
    assert [(r['device'], r['dtype'])
            for r in rows] == [('cpu', 'fp32'), ('cpu', 'bf16 autocast')]
    assert all(r['input'] == [1, 4, 256, 320] for r in rows)
    assert all(r['flops'] is None for r in rows)
    assert '| not counted |' in out and '| bf16 autocast |' in out


def test_official_configs_of_the_metafile():
    """The default metafile names the 5 official AVA v2.2 configs."""
    found = benchmark.official_configs(DEFAULT_METAFILE)
    names = sorted(n.split('_ava22')[0] for n, _ in found)
    assert names == sorted([
        'stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw',
        'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw',
        'stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw',
        'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw',
        'stmixer_vit-base-p16_videomaev2-k710-k400-pre_8xb1-16x4x1-12e-adamw',
    ])
    for name, path in found:
        assert osp.isfile(path) and osp.basename(path) == name + '.py'


def test_official_metafile_errors(tmp_path):
    missing = str(tmp_path / 'nope.py')
    with pytest.raises(FileNotFoundError, match='Models\\[0\\].Config'):
        benchmark.official_configs(_tiny_metafile(tmp_path, missing))
    bad = tmp_path / 'bad.yml'
    bad.write_text('Models:\n  - Name: x\n    Converted From: {Code: c}\n')
    with pytest.raises(ValueError, match='bad.yml: Models\\[0\\] has no'):
        benchmark.official_configs(str(bad))
    with pytest.raises(FileNotFoundError, match='metafile'):
        benchmark.official_configs(str(tmp_path / 'none.yml'))
    unmarked = tmp_path / 'unmarked.yml'
    unmarked.write_text(f'Models:\n  - Name: x\n    Config: {TINY_CFG}\n')
    with pytest.raises(ValueError, match='Converted From'):
        benchmark.official_configs(str(unmarked))
    assert [
        n for n, _ in benchmark.official_configs(
            str(unmarked), converted_only=False)
    ] == ['x']


@pytest.mark.parametrize('argv, message', [
    (['--official', '--onnx'], '--onnx is for one config'),
    ([TINY_CFG, TINY_CFG, '--amp'], '--amp is for one config'),
    ([TINY_CFG, '--bf16'], '--bf16 is for table mode'),
    ([], 'give a CONFIG, or --official'),
])
def test_table_mode_args(argv, message):
    code, err = _tool_error(argv)
    assert code == 2 and message in err


def test_random_model_uses_init_weights_without_checkpoints():
    """The table's random weights: the config's own initialisation (PyTorch's
    default alone gives NaN features in SlowFast-R101-NL), no checkpoint
    loaded, decoder weights perturbed, the same for the same seed."""
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs', 'stmixer',
            'stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw_'
            'ava22-rgb.py'))
    assert cfg.model.init_cfg.checkpoint
    assert benchmark.drop_pretrained(cfg.model) >= 1
    assert cfg.model.init_cfg is None
    vit = Config.fromfile(
        osp.join(
            REPO, 'configs', 'stmixer',
            'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-'
            'adamw_ava22-rgb.py'))
    assert benchmark.drop_pretrained(vit.model) >= 1
    assert 'Pretrained' not in str(vit.model)

    model = benchmark.build_random_model(TINY_CFG, seed=3)
    again = benchmark.build_random_model(TINY_CFG, seed=3)
    for (k, a), b in zip(model.state_dict().items(),
                         again.state_dict().values()):
        assert torch.equal(a, b), k
    assert not model.training
    stage = model.roi_head.stages[0]
    prior = stage.action_prior_prob
    # init_weights ran: the classifier bias is the prior's constant
    expected = -torch.log(torch.tensor((1 - prior) / prior))
    assert torch.allclose(stage.fc_action.bias,
                          expected.expand_as(stage.fc_action.bias))
    # ... and the zero-initialised box regressor was perturbed
    w = stage.fc_reg.weight
    assert 0 < w.abs().max() < 0.1


def test_check_finite_names_the_config():
    """What a timed call gave (predictions of benchmark_model.py, losses of
    bench_train_step.py) is checked before its time is reported."""
    values = {
        'pred_instances.bboxes': torch.tensor([[0., 0.,
                                                float('nan'), 1.]]),
        'pred_instances.scores': torch.ones(1, 3),
        'loss': None
    }
    with pytest.raises(SystemExit, match='cfg-x .*pred_instances.bboxes'):
        benchmark.check_finite(values, 'cfg-x (cpu, fp32)')
    values['pred_instances.bboxes'] = torch.zeros(1, 4)
    benchmark.check_finite(values, 'cfg-x (cpu, fp32)')
