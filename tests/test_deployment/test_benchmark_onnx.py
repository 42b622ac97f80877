"""``tools/analysis_tools/benchmark_model.py --onnx``: the ONNX Runtime row
beside PyTorch's, on the tiny fixture config."""
import importlib.util
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(REPO, 'tests', 'data', 'configs',
                    'tiny_stmixer_tiny-ava.py')


@pytest.fixture(scope='module')
def benchmark():
    path = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_model.py')
    spec = importlib.util.spec_from_file_location('_tool_benchmark_model',
                                                  path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_onnx_row(benchmark, capsys):
    threads = torch.get_num_threads()
    try:
        result = benchmark.main([
            TINY_CFG, '--shape', '4', '60', '80', '--threads', '1', '--onnx',
            '--repeats', '2', '--warmup', '0'
        ])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert len(result['onnx_times']) == len(result['times']) == 2
    assert result['onnx_median_s'] > 0 and result['median_s'] > 0
    check = result['onnx_check']
    assert check['ok'] and max(check['person_scores'],
                               check['action_scores'],
                               check['bboxes']) <= 1e-4
    assert 'onnxruntime : median' in out and 'threads 1' in out
    assert 'ort/pytorch : ' in out


@pytest.mark.parametrize('extra', [['--amp'], ['--device', 'cuda']])
def test_onnx_row_is_cpu_fp32_only(benchmark, extra, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args([TINY_CFG, '--onnx', *extra])
    assert '--onnx times ONNX Runtime on the CPU' in capsys.readouterr().err
