"""Generate ``stmixer_train_step.pt``: the losses, gradients and Hungarian
matchings of one training step of the four pinned models of
``generate_stmixer_regression.py`` (same configs, name-seeded weights and
inputs), read by
``tests/test_models/test_detectors/test_stmixer_train_step_pin.py``.

Written from the per-stage training step (one matching and one loss call per
decoder stage, commit dc19208) before the stages were matched and their
losses computed together; regenerate only when a change of the numbers is
intended (and say so in the commit):

    OMP_NUM_THREADS=1 .venv/bin/python \
        tests/data/regression/generate_train_step_pin.py

Per model: ``loss`` (every key, a scalar tensor), ``grads`` (per parameter
with a gradient: sum and sum of absolute values, float64) and ``gt_inds``
(every stage's matching, stage-major, one ``(N, )`` long tensor per sample).
"""
import os.path as osp
import sys

import torch

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(HERE))))

from stmixer_mm.testing.regression import train_step_record  # noqa: E402

if __name__ == '__main__':
    torch.set_num_threads(1)
    torch.save(train_step_record(), osp.join(HERE, 'stmixer_train_step.pt'))
