"""Where a trained forecaster loses the future (issue 62): is it in the
decoded query? Per horizon, the anticipation and onset mAP of the present
scores, the trained head and linear probes on what the forecast head reads
(``collect``, teacher forcing). Method and results: docs/en/forecasting.md.

    python projects/forecasting/tools/forecast_probe.py CONFIG CHECKPOINT

CONFIG: the forecast quick start's config (``configs/quickstart/``)."""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from stmixer_mm.apis import init_detector
from stmixer_mm.registry import DATASETS

# the project's package from a checkout (projects/ is not installed)
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from projects.forecasting.forecasting import box_features  # noqa: E402
from projects.forecasting.forecasting.functional import voc_ap  # noqa: E402


def _pipeline(cfg: Config) -> List[dict]:
    """The training pipeline without its random flip, the clip sampled as
    at test time (the keyframe last, no jitter)."""
    steps = []
    for step in cfg.train_pipeline:
        step = dict(step)
        if step['type'] == 'Flip':
            continue
        if step['type'] == 'SampleTubeFrames':
            step['test_mode'] = True
        steps.append(step)
    return steps


def _dataset(cfg: Config, test_mode: bool, stride: int):
    """The split's samples whose horizons are inside their video, every
    ``stride``-th."""
    ds_cfg = dict(cfg.train_dataloader.dataset)
    ds_cfg.update(pipeline=_pipeline(cfg), test_mode=test_mode)
    dataset = DATASETS.build(ds_cfg)
    horizon = max(dataset.forecast_horizons)
    keep = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        inside = int(info['timestamp']) + horizon <= int(info['total_frames'])
        if inside and i % stride == 0:
            keep.append(i)
    return dataset, keep


@torch.no_grad()
def collect(model, dataset, indices, batch_size: int) -> Dict[str, np.ndarray]:
    """Queries, present and forecast action logits, RoI features, future
    labels and presence of the queries the last stage matched."""
    head = model.roi_head.forecast_head
    got: Dict[str, list] = dict(
        query=[],
        present=[],
        box=[],
        head=[],
        future=[],
        visible=[],
        now=[],
        roi=[])

    def capture(x,
                stage_results,
                assign_results,
                batch_gt_instances,
                metas,
                prefix=''):
        preds = head(stage_results, x, metas)
        queries = stage_results['spatial_queries']
        if stage_results.get('temporal_queries') is not None:
            queries = torch.cat([queries, stage_results['temporal_queries']],
                                -1)
        for i, (res, gt) in enumerate(zip(assign_results, batch_gt_instances)):
            pos = torch.nonzero(res.gt_inds > 0, as_tuple=False).squeeze(1)
            idx = res.gt_inds[pos] - 1
            got['query'].append(queries[i, pos].float().numpy())
            got['present'].append(
                stage_results['action_logits'][i, pos].float().numpy())
            # the box's scale and aspect (z, r), not its place
            got['box'].append(stage_results['xyzr'][i, pos, 2:].numpy())
            got['head'].append(preds['action_logits'][i, pos].numpy())
            got['future'].append(gt.future_labels[idx].float().numpy())
            got['visible'].append(gt.future_visible[idx].numpy())
            now = gt.labels[idx].float()  # multi-hot, column 0 background
            got['now'].append(now[:, 1:].numpy())
            got['roi'].append(
                box_features([x[0][i:i + 1].float()],
                             gt.bboxes[idx][None].float(), [metas[i]],
                             3)[0].numpy())
        return {}

    original = head.loss_and_target
    head.loss_and_target = capture
    try:
        for start in range(0, len(indices), batch_size):
            batch = pseudo_collate(
                [dataset[i] for i in indices[start:start + batch_size]])
            data = model.data_preprocessor(batch, True)
            model.loss(data['inputs'], data['data_samples'])
    finally:
        head.loss_and_target = original
    return {k: np.concatenate(v) for k, v in got.items()}


def as_double(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def fit_probe(x: np.ndarray,
              y: np.ndarray,
              l2: float = 1e-3,
              steps: int = 200) -> torch.nn.Linear:
    """A linear multi-label classifier on standardised features."""
    x, y = as_double(x), as_double(y)
    linear = torch.nn.Linear(x.shape[1], y.shape[1]).double()
    opt = torch.optim.LBFGS(
        linear.parameters(), max_iter=steps, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            linear(x), y) + l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return linear


def _aps(scores: np.ndarray, labels: np.ndarray,
         subsets: np.ndarray) -> List[float]:
    """Per class, the VOC AP (%) of ``scores`` against ``labels``, class
    ``c`` ranked among ``subsets[:, c]`` (nan without a positive)."""
    aps = []
    for c in range(labels.shape[1]):
        pos = labels[subsets[:, c], c] > 0
        order = np.argsort(-scores[subsets[:, c], c], kind='stable')
        aps.append(
            100 *
            voc_ap(pos[order], int(pos.sum())) if pos.any() else float('nan'))
    return aps


def _mean_ap(scores: np.ndarray, labels: np.ndarray,
             subsets: np.ndarray) -> float:
    """The mean of :func:`_aps` over the classes with a positive."""
    aps = [ap for ap in _aps(scores, labels, subsets) if ap == ap]
    return float(np.mean(aps)) if aps else float('nan')


def scores_table(scores: Dict[str, np.ndarray], future: np.ndarray,
                 now: np.ndarray) -> List[str]:
    """Per forecast: anticipation mAP over all persons, onset mAP (class
    ``c`` among the persons not doing ``c`` now), the mean rank of the
    future classes of the persons whose classes change, and the onset AP
    of each class."""
    everyone = np.ones_like(future, dtype=bool)
    not_now = now == 0
    changing = (future != now).any(1)
    rows = []
    for name, s in scores.items():
        ranks = [
            1 + int((row > row[c]).sum())
            for row, lab in zip(s[changing], future[changing])
            for c in np.flatnonzero(lab)
        ]
        onsets = ' | '.join(f'{ap:.1f}' for ap in _aps(s, future, not_now))
        rows.append(f'| {name} | {_mean_ap(s, future, everyone):.1f} | '
                    f'{_mean_ap(s, future, not_now):.1f} | '
                    f'{np.mean(ranks) if ranks else float("nan"):.2f} | '
                    f'{onsets} |')
    return rows


def run_probe(config: str,
              checkpoint: str,
              test_stride: int = 3,
              train_stride: int = 1,
              batch_size: int = 8,
              out_file: Optional[str] = None) -> Dict[str, List[str]]:
    """Collect both splits, fit the probes and print the table of each
    horizon (its rows returned, and written to ``out_file`` as JSON)."""
    cfg = Config.fromfile(config)
    init_default_scope('stmixer_mm')
    model = init_detector(cfg, checkpoint, device='cpu')
    model.eval()
    if getattr(model.roi_head, 'forecast_head', None) is None:
        raise ValueError(f'{config}: the model has no forecast_head; the '
                         'probe reads a forecast config and its checkpoint')
    horizons = model.roi_head.forecast_head.horizons
    data = {}
    for split, test_mode, stride in (('train', False, train_stride),
                                     ('test', True, test_stride)):
        dataset, keep = _dataset(cfg, test_mode, stride)
        data[split] = collect(model, dataset, keep, batch_size)
        print(f'{split}: {len(keep)} keyframes, '
              f'{len(data[split]["query"])} matched persons')
    out = {}
    for k, h in enumerate(horizons):
        tr, te = data['train'], data['test']
        seen_tr, seen_te = tr['visible'][:, k] > 0, te['visible'][:, k] > 0
        probes = {}
        for name, keys in (('probe (query)', ('query', )), ('probe on present',
                                                            ('present', )),
                           ('probe on present + box z, r', ('present', 'box')),
                           ('probe on RoI features', ('roi', ))):
            x_tr = np.concatenate([tr[key][seen_tr] for key in keys], 1)
            x_te = np.concatenate([te[key][seen_te] for key in keys], 1)
            mean, std = x_tr.mean(0), x_tr.std(0) + 1e-6
            probe = fit_probe((x_tr - mean) / std, tr['future'][seen_tr, k])
            with torch.no_grad():
                probes[name] = probe(as_double((x_te - mean) / std)).numpy()
        scores = dict(
            present=te['present'][seen_te], head=te['head'][seen_te, k])
        scores.update(probes)
        changing = (te['future'][seen_te, k] != te['now'][seen_te]).any(1)
        print(f'\nhorizon {h}: {int(seen_te.sum())} test persons in view '
              f'({int(changing.sum())} changing), {int(seen_tr.sum())} train')
        names = list(dataset.metainfo.get('classes', ()))
        print('| scores | anticipation mAP | onset mAP | rank of the future '
              'class (changing persons) | ' +
              ' | '.join(f'onset AP {n}' for n in names) + ' |')
        print('| --- ' * (4 + len(names)) + '|')
        prevalence = (te['future'][seen_te, k] *
                      (te['now'][seen_te] == 0)).sum(0) / np.maximum(
                          (te['now'][seen_te] == 0).sum(0), 1)
        print('onset prevalence (the AP of a random ranking): ' +
              ', '.join(f'{n} {100 * p:.1f}'
                        for n, p in zip(names, prevalence)))
        rows = scores_table(scores, te['future'][seen_te, k],
                            te['now'][seen_te])
        print('\n'.join(rows))
        out[str(h)] = rows
    if out_file:
        with open(out_file, 'w') as f:
            json.dump(out, f, indent=1)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--test-stride',
        type=int,
        default=3,
        help='every stride-th test frame (3: coprime with the data\'s '
        '16-frame slots, so every phase of a slot is sampled)')
    parser.add_argument(
        '--train-stride',
        type=int,
        default=1,
        help='every stride-th training keyframe')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--out', help='JSON of the table')
    args = parser.parse_args(argv)
    try:
        run_probe(args.config, args.checkpoint, args.test_stride,
                  args.train_stride, args.batch_size, args.out)
    except ValueError as e:  # not a forecast model
        raise SystemExit(f'forecast_probe.py: {e}')


if __name__ == '__main__':
    main()
