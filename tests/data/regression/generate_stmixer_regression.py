"""Generate ``stmixer_regression.pt``: the pinned behaviour of the STMixer
detector (outputs, losses, parameter names) that refactors must keep.

The fixture was generated from the code *before* the heads were moved to
mmdet's RPN-head / RoI-head contracts (commit d2d0aa8) and is read by
``tests/test_models/test_detectors/test_stmixer_regression.py``. Regenerate
it only when a change of the numbers is intended (and say so in the commit):

    OMP_NUM_THREADS=1 .venv/bin/python \
        tests/data/regression/generate_stmixer_regression.py

Models (all on CPU, built from real configs):

- ``tiny_ava``: ``tests/data/configs/tiny_stmixer_tiny-ava.py`` (SlowOnly-R18
  with 8 base channels, C = 64, 10 queries, 2 stages, 7 actions);
- ``tiny_ava_focal``: the same with a sigmoid FocalLoss person head and
  ``FocalLossCost`` (1 person logit);
- ``tiny_ava_spatial``: the same with ``action_branches=('spatial',)`` (no
  temporal branch, no temporal queries);
- ``vit_base_tiny``: ``configs/_base_/models/stmixer_vit-base-p16.py`` with a
  1-block 64-wide ViT, C = 32, 8 queries, 2 stages (exercises the ViT
  pyramid neck).

For each model the fixture stores the state-dict keys, a per-key checksum of
the seeded initialisation (``torch.manual_seed(0)``, build,
``init_weights()``; ``init_checksums``: sum and sum of absolute values in
float64), the inputs, and ``predict`` (bboxes, scores, person_scores),
``loss`` (every key) and ``_forward`` outputs computed with *name-seeded*
weights: every floating tensor of the state dict is refilled with
``mean + std * N(0, 1)`` drawn from a generator seeded with the CRC32 of its
key, where mean and std are those of the seeded initialisation (stored as
``weight_stats``; constant tensors such as zero-initialised regressors,
LayerNorm weights or BN statistics stay constant, except that all-zero
tensors, e.g. the box regressor and the mixing parameter generators, get
``0.01 * N(0, 1)`` so that boxes move and mixing depends on the query).
So the outputs do not
depend on the order in which modules create their parameters (the weights
themselves would be 22 MB).

The file also pins, for every config under ``configs/`` (built on the meta
device), the names and shapes of the model's parameters and buffers
(``config_params``).
"""
from pathlib import Path

import torch

from stmixer_mm.testing.regression import (build, checksums, config_params,
                                           make_input, model_cfgs, pinned_name,
                                           run_model, seeded_state_dict,
                                           weight_stats)

OUT = Path(__file__).resolve().parent / 'stmixer_regression.pt'


def main() -> None:
    fixture = dict(
        models=dict(),
        config_params={
            path: [(pinned_name(k), shape) for k, shape in params]
            for path, params in config_params().items()
        })
    for name, cfg in model_cfgs().items():
        torch.manual_seed(0)
        model = build(cfg)
        model.init_weights()
        init_state = {pinned_name(k): v for k, v in model.state_dict().items()}
        stats = weight_stats(init_state)
        state_dict = seeded_state_dict(model, stats)
        entry = dict(
            state_dict_keys=list(init_state),
            init_checksums=checksums(init_state),
            weight_stats=stats,
            input_sum=make_input(name).double().sum().item())
        entry.update(run_model(model, state_dict, name))
        fixture['models'][name] = entry
        print(name, {k: round(v.item(), 5) for k, v in entry['loss'].items()})
    torch.save(fixture, OUT)
    print(f'wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
