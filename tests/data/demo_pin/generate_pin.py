"""Regenerate ``offline_outputs.json``: the offline demo's ``.json``,
``.csv`` and ``_tubes.json`` on ``tests/data/tiny_ava/rawframes/
syn_val_000`` with the seed-0 random tiny model (first made on the
version that held every frame in memory, commit f284713; regenerated for
issue 59, which writes the persons without an action too: the .csv and
the detections with an action did not change; and for issue 73, the
track ids of the config's tracker, ByteTracker: ``track_id`` per
detection, ``tracker`` in the headers, the tubes of its ids; and for
issue 84, one result format: the persons under their keyframes, the
header of ``stmixer_mm-result/1``, the .csv and the tubes unchanged).

    PYTHONPATH=. python tests/data/demo_pin/generate_pin.py OUT.json
"""
import json
import os.path as osp
import shutil
import sys
import tempfile

import torch

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TINY_CFG = osp.join(REPO, 'tests/data/configs/tiny_stmixer_tiny-ava.py')
FOLDER = osp.join(REPO, 'tests/data/tiny_ava/rawframes/syn_val_000')


def main(out_file):
    from stmixer_mm.apis import init_detector
    tmp = tempfile.mkdtemp()
    torch.manual_seed(0)
    model = init_detector(TINY_CFG)
    model.init_weights()
    ckpt = osp.join(tmp, 'init.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    from stmixer_mm.apps.cli import demo
    outputs = {}
    for stride in (3, 8):
        out = osp.join(tmp, f'out{stride}')
        r = demo.run(
            demo.parse_args([
                FOLDER, TINY_CFG, ckpt, '--out-dir', out, '--stride',
                str(stride), '--score-thr', '0.05', '--person-thr', '0.3',
                '--topk', '2', '--tubes', '--fps', '8'
            ]))
        files = {}
        for k in ('json', 'csv', 'tubes_json'):
            with open(r[k]) as f:
                files[k] = f.read()
        outputs[f'stride{stride}'] = files
    with open(out_file, 'w') as f:
        json.dump(
            dict(
                input=FOLDER,
                note='tools/demo.py offline outputs; see generate_pin.py',
                outputs=outputs),
            f,
            indent=0)
    shutil.rmtree(tmp)


if __name__ == '__main__':
    main(sys.argv[1])
