"""``tools/experiments/benchmark_tracking.py``: the test subset of an
ACT pickle and ``--aggregate`` over the ``--out`` files (one per variant
and seed are merged by seed). The training itself takes an hour and is not
run here."""
import json
import pickle

from stmixer_mm.benchmarks.tubes import subset_gt


def _metrics(prefix, base):
    keys = ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
            'IDSW/gt', 'Frag/gt', 'coverage')
    return {f'{prefix}/{k}': base + i for i, k in enumerate(keys)}


def _variant(prefixes, base):
    metrics = {}
    for j, p in enumerate(prefixes):
        metrics.update(_metrics(p, base + 10 * j))
    return dict(
        standard=dict(metrics=metrics),
        crossing=dict(metrics={
            k: v + 1
            for k, v in metrics.items()
        }))


def test_subset_gt_keeps_the_first_test_videos(tmp_path):
    gt = dict(test_videos=[['a', 'b', 'c']], train_videos=[['t']])
    src = tmp_path / 'gt.pkl'
    src.write_bytes(pickle.dumps(gt))
    out = subset_gt(str(src), 2, str(tmp_path / 'sub' / 'gt.pkl'))
    with open(out, 'rb') as f:
        assert pickle.load(f)['test_videos'] == [['a', 'b']]
    out = subset_gt(str(src), 0, str(tmp_path / 'all.pkl'))
    with open(out, 'rb') as f:
        assert pickle.load(f)['test_videos'] == [['a', 'b', 'c']]


def test_aggregate_merges_the_variants_of_a_seed(tools, tmp_path):
    paths = []
    for seed in (0, 1):
        for variant, prefixes in (('linking', ['linking']),
                                  ('tracking', ['tracking', 'linking'])):
            run = dict(
                variants={variant: _variant(prefixes, 50.0 + 2 * seed)},
                args=dict(seed=seed))
            path = tmp_path / f'{variant}{seed}.json'
            path.write_text(json.dumps(run))
            paths.append(str(path))
    out = tools.python_tool('experiments/benchmark_tracking.py', '--aggregate',
                            *paths).stdout
    assert '2 run(s), seeds [0, 1]' in out
    rows = [line for line in out.splitlines() if line.startswith('| ')]
    # header, separator, 3 tube sources x 2 sets
    assert len(rows) == 8
    row = next(
        r for r in rows
        if r.startswith('| standard | keyframe detector + linking'))
    # frameAP: 50 and 52 -> mean 51, std 1
    assert '51.0 +- 1.0 [50.0, 52.0]' in row
    row = next(
        r for r in rows
        if r.startswith('| crossing | track queries, tubes from linking'))
    # the second prefix of the tracking run: base + 10, crossing + 1
    assert '62.0 +- 1.0 [61.0, 63.0]' in row
