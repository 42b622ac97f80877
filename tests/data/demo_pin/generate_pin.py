"""Regenerate tests/data/demo_pin/offline_outputs.json: the offline demo's
outputs on the tiny fixture with the seed-0 random tiny model (run on the
version that held every frame in memory, commit f284713)."""
import importlib.util, json, os.path as osp, sys, tempfile, shutil
import torch
REPO = '/work/wt-d'
sys.path.insert(0, REPO)
from stmixer_mm.apis import init_detector
TINY_CFG = osp.join(REPO, 'tests/data/configs/tiny_stmixer_tiny-ava.py')
tmp = tempfile.mkdtemp()
torch.manual_seed(0)
model = init_detector(TINY_CFG); model.init_weights()
ck = osp.join(tmp, 'init.pth')
torch.save(dict(state_dict=model.state_dict(), meta=dict()), ck)
spec = importlib.util.spec_from_file_location('d', osp.join(REPO, 'tools/demo.py'))
demo = importlib.util.module_from_spec(spec); spec.loader.exec_module(demo)
folder = osp.join(REPO, 'tests/data/tiny_ava/rawframes/syn_val_000')
pin = {}
for stride in (3, 8):
    out = osp.join(tmp, f'out{stride}')
    r = demo.run_demo(demo.parse_args([folder, TINY_CFG, ck, '--out-dir', out, '--stride', str(stride), '--score-thr', '0.05', '--person-thr', '0.3', '--topk', '2', '--tubes', '--fps', '8']))
    d = {}
    for k in ('json', 'csv', 'tubes_json'):
        with open(r[k]) as f:
            d[k] = f.read()
    pin[f"stride{stride}"] = d
with open(sys.argv[1], 'w') as f:
    json.dump(pin, f, indent=0)
shutil.rmtree(tmp)
