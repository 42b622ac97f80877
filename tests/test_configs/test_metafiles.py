"""Every metafile entry (``mim search stmixer_mm``, and the projects'
``projects/*/metafile.yml``) says what its config
does: name, epochs, batch size, GPUs, frames, pre-training, optimiser and
its techniques, training data and the data set of its results are compared
with the config file and its name; and mim's table shows the values (its
key column is as wide as the longest field name of all entries, of an
80-character line: a 72-character name left 3 characters per value)."""
import glob
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config

from stmixer_mm.testing import repo_root
from stmixer_mm.utils import type_name

ROOT = repo_root()
#: the longest field name mim's table may have: the values then keep 38
#: of its 80 characters
MAX_KEY = 40
#: the annotation file of the training data -> (how the metafile's
#: ``Training Data`` starts, the ``Dataset`` of its results), first match
DATA = (
    ('synthetic_tubes_forecast/', ('synthetic tubes with forecastable '
                                   'motion', 'Synthetic forecast')),
    ('synthetic_tubes/', ('synthetic tubes', 'Synthetic tubes')),
    ('synthetic_ava_masks/', ('synthetic AVA-format with masks',
                              'Synthetic AVA masks')),
    ('synthetic_ava/', ('synthetic AVA-format', 'Synthetic AVA')),
    ('ava_train_v2.2.csv', ('AVA v2.2', 'AVA v2.2')),
    ('JHMDB-GT.pkl', ('JHMDB-21', 'JHMDB-21')),
    ('UCF101v2-GT.pkl', ('UCF101-24', 'UCF101-24')),
    ('multisports_GT.pkl', ('MultiSports', 'MultiSports')),
)
#: ``Training Techniques`` entry -> the config has it
TECHNIQUES = {
    'layer-wise learning-rate decay':
    lambda cfg: 'LearningRateDecay' in str(
        cfg.optim_wrapper.get('constructor')),
    'FSDP (bf16)':
    lambda cfg: type_name(
        (cfg.get('strategy') or {}).get('type')) == 'ShardedStrategy',
    'DeepSpeed':
    lambda cfg: type_name(
        (cfg.get('strategy') or {}).get('type')) == 'DeepSpeedStrategy',
}
#: ``<model>_<GPUs>xb<per GPU>-<frames>-<epochs>e`` in a config's name
NAME = re.compile(r'_(\d+)xb(\d+)-(\d+x\d+x\d+)-(\d+)e[-_]')


def _index():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        return yaml.safe_load(f)['Import']


def _entries():
    """``(metafile, collections, entry)`` of every model of the index's
    metafiles, then of the projects' (``projects/*/metafile.yml``: not in
    the index, as mmdet's projects; their entries name the core's
    collections)."""
    docs = {}
    for meta in _index() + sorted(
            osp.relpath(p, ROOT)
            for p in glob.glob(osp.join(ROOT, 'projects/*/metafile.yml'))):
        with open(osp.join(ROOT, meta)) as f:
            docs[meta] = yaml.safe_load(f)
    core = {c['Name'] for d in docs.values() for c in d.get('Collections', [])}
    return [(meta, {c['Name']
                    for c in doc.get('Collections', [])} or core, m)
            for meta, doc in docs.items() for m in doc['Models']]


ENTRIES = _entries()


def _leading(value) -> str:
    """``'12 (after the first phase's 6)'`` -> ``'12'``."""
    return str(value).split()[0]


@pytest.mark.parametrize(
    'meta,collections,entry', ENTRIES, ids=[e['Name'] for _, _, e in ENTRIES])
def test_entry_fields_equal_the_config(meta, collections, entry):
    path = osp.join(ROOT, entry['Config'])
    assert osp.isfile(path), f'{meta}: {entry["Config"]} does not exist'
    name = osp.splitext(osp.basename(path))[0]
    assert entry['Name'] == name
    assert entry['In Collection'] in collections
    cfg = Config.fromfile(path)
    md = entry['Metadata']
    where = f'{meta}, {name}'

    gpus, per_gpu, frames, epochs = NAME.search(name).groups()
    assert int(_leading(md['Epochs'])) == cfg.train_cfg.max_epochs == int(
        epochs), f'{where}: Epochs {md["Epochs"]}'
    assert cfg.train_dataloader.batch_size == int(per_gpu), where
    assert md['Batch Size'] == int(gpus) * int(per_gpu), \
        f'{where}: Batch Size {md["Batch Size"]}, {gpus} x {per_gpu}'
    if 'GPU' in md['Training Resources']:
        assert md['Training Resources'] == f'{gpus} GPUs', where
    assert _leading(md['Frames']) == frames, where

    pre = re.search(r'_([^_]*)-pre_', name)  # e.g. videomaev2-k710-k400
    pretrained = str(md['Pretrained'])
    if pre:
        kinetics = re.findall(r'(?:^|-)k(\d+)', pre.group(1))
        assert kinetics and all(f'Kinetics-{k}' in pretrained
                                for k in kinetics), f'{where}: {pretrained}'
    else:
        assert 'Kinetics' not in pretrained, where

    techniques = md['Training Techniques']
    assert techniques[0] == type_name(cfg.optim_wrapper.optimizer.type)
    for technique, has in TECHNIQUES.items():
        assert (technique in techniques) == has(cfg), f'{where}: {technique}'
    assert set(techniques[1:]) <= set(TECHNIQUES), where

    dataset = cfg.train_dataloader.dataset
    while 'ann_file' not in dataset:
        dataset = dataset.dataset
    training_data, results = next(v for k, v in DATA if k in dataset.ann_file)
    assert md['Training Data'].startswith(training_data), where
    for result in entry.get('Results', []):
        assert result['Dataset'] == results, where


def test_mim_table_shows_the_values():
    search = pytest.importorskip('mim.commands.search')
    from modelindex.load_model_index import load
    table = search.convert2df(load(osp.join(ROOT, 'model-index.yml')))
    keys = {
        key
        for _, row in table.iterrows()
        for key in row.dropna().to_dict()
    }
    wide = sorted(k for k in keys if len(k) > MAX_KEY)
    assert not wide, f'mim search field names wider than {MAX_KEY}: {wide}'
    # the results are fields: numbers under "<dataset>/<metric>"
    assert 'synthetic tubes/frame-map@0.5' in keys


def test_mim_search_shows_every_value_at_the_documented_width():
    """``mim search stmixer_mm --display-width 180`` (docs/en/get_started.md)
    cuts no value; at mim's default 80 columns the config paths and the
    data descriptions are cut with ``...``."""
    search = pytest.importorskip('mim.commands.search')
    from click.testing import CliRunner
    runner = CliRunner()
    wide = runner.invoke(search.cli, ['stmixer_mm', '--display-width', '180'])
    assert wide.exit_code == 0, wide.output[-2000:]
    assert 'config' in wide.output and '...' not in wide.output
    narrow = runner.invoke(search.cli, ['stmixer_mm'])
    assert '...' in narrow.output  # what the docs' width is for
