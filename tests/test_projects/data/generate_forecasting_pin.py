"""Generate ``forecasting_pin.pt``: the forecast decoder's losses and
predictions on fixed weights, pinned before forecasting moved from the core
package to ``projects/forecasting/`` (issue 113; generated on the code of
commit 10f08e0, where the decoder was the core's ``STMixerHeadsDecoder``).
Regenerate only when a change of the numbers is intended:

    OMP_NUM_THREADS=1 .venv/bin/python \
        tests/test_projects/data/generate_forecasting_pin.py
"""
import sys
from pathlib import Path

import torch

# the suite's helpers (a 'tests' package of site-packages can shadow ours)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

OUT = Path(__file__).resolve().parent / 'forecasting_pin.pt'
#: (decoder type, forecast head settings) of the pinned decoders
VARIANTS = dict(plain=dict(), roi_grid=dict(roi_grid=3))


def run(variant: str, decoder_type: str) -> dict:
    """The pinned run of ``variant``: seeded build and init, the losses on
    two samples with futures and the predictions of the kept detections."""
    import stmixer_mm  # noqa: F401
    from stmixer_mm.registry import MODELS
    from test_models.test_roi_heads.test_stmixer_decoder import (decoder_cfg,
                                                                 inputs)
    from test_projects.forecasting_helpers import BOXES, HORIZONS, sample
    cfg = decoder_cfg(type=decoder_type)
    cfg['forecast_head'] = dict(
        type='STMixerForecastHead', horizons=HORIZONS, **VARIANTS[variant])
    torch.manual_seed(0)
    decoder = MODELS.build(cfg)
    torch.manual_seed(1)
    decoder.init_weights()
    torch.manual_seed(2)
    x, queries = inputs(B=2)
    samples = [sample(BOXES), sample(BOXES[:1])]
    losses = decoder.loss(x, queries, samples)
    decoder.eval()
    with torch.no_grad():
        preds = decoder.predict(x, queries, [sample([], False)] * 2)
    out = dict(losses={k: v.detach() for k, v in losses.items()})
    for i, p in enumerate(preds):
        for key in ('bboxes', 'scores', 'future_bboxes', 'future_scores',
                    'future_visible'):
            out[f'pred{i}.{key}'] = p[key].detach().clone()
    return out


def main() -> None:
    pin = {v: run(v, 'STMixerForecastDecoder') for v in VARIANTS}
    torch.save(pin, OUT)
    print({v: {k: round(float(t), 5) for k, t in p['losses'].items()}
           for v, p in pin.items()})


if __name__ == '__main__':
    main()
