"""``tools/analysis_tools/benchmark_decoder.py`` as a user runs it, on a tiny
config, in one process: the table, the equality of the fast path with the
reference, the memory, the bf16 deviation and the profile with its floor
lines."""
import re
from pathlib import Path

from stmixer_mm.testing import repo_root

ROOT = Path(repo_root())
CONFIG = ROOT / 'tests/data/configs/tiny_stmixer_tiny-ava.py'


def _numbers(text):
    return [float(v) for v in re.findall(r'\d+\.?\d*(?:e[+-]?\d+)?', text)]


def test_benchmark_decoder_tiny(tools):
    out = tools.python_tool('analysis_tools/benchmark_decoder.py', str(CONFIG),
                            '--input-size', '64', '64', '--repeats', '1',
                            '--warmup', '0', '--profile-rows', '3', '--bf16',
                            '--device', 'cpu', '--threads', '1').stdout
    assert '10 queries, 2 stages' in out
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split('|')]
        if len(cells) == 6 and cells[1] in ('inference', 'training'):
            rows[cells[0], cells[1]] = cells
    # --bf16: the fast path's bf16 autocast inference beside it
    assert set(rows) == {(v, m)
                         for v in ('fast', 'reference')
                         for m in ('inference', 'training')
                         } | {('fast bf16', 'inference')}
    for (variant, _), cells in rows.items():
        assert float(cells[2]) > 0 and float(cells[4]) > 0
        if variant == 'reference':
            assert cells[3] == '1.00' and cells[5] == '1.00'
    diffs = out.split('from the reference (every stage): ')[1].split('\n')[0]
    values = [float(w.rstrip(',')) for w in diffs.split() if w[0].isdigit()]
    assert len(values) == 3 and max(values) < 1e-3
    # bf16 rounds: a deviation from fp32, but a small one
    bf16 = out.split('bf16 autocast vs fp32, last stage, max|diff|: ')[1]
    boxes, person, actions = _numbers(bf16.split('\n')[0])
    assert 0 < boxes < 5 and 0 < person < 0.1 and 0 <= actions < 0.1
    assert out.count('floor of the fast') == 2
    # which ops make the top rows depends on the machine's load (CI once
    # had no addmm among them): the tables are checked for being there,
    # the GEMM accounting for its shares: the GEMMs take part of the time,
    # the GEMMs with the sampling gathers no less
    assert out.count('profile of the fast path') == 2
    assert out.count('Self CPU') >= 2
    gemm = re.findall(r'the dense GEMMs \([^)]*\): (\d+)% of the time', out)
    both = re.findall(r'the bilinear reads themselves\): (\d+)% of the time',
                      out)
    assert len(gemm) == len(both) == 2
    for g, b in zip(gemm, both):
        assert 0 < int(g) <= int(b) <= 100
