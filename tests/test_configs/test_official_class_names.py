"""The five official AVA v2.2 configs name their model's 80 action columns
without a user's label map: their ``label_map`` entry
(``configs/_base_/datasets/ava22.py``) is AVA's action list shipped with the
package, read where neither the data nor the checkpoint names the columns
(an official STMixer checkpoint carries no names)."""
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from stmixer_mm.datasets.class_names import class_names
from stmixer_mm.datasets.label_map import PACKAGED_DIR, read_pbtxt_label_map
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root

OFFICIAL = [
    f'configs/stmixer/{name}_ava22-rgb.py' for name in (
        'stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw',
        'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw',
        'stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw',
        'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw',
        'stmixer_vit-base-p16_videomaev2-k710-k400-pre_8xb1-16x4x1-12e-adamw',
    )
]
#: the packaged twin (new-style) of the first
NEW_STYLE = ('stmixer_mm/configs/stmixer/stmixer_slowonly_r50_k400_pre_8xb2_'
             '4x16x1_12e_adamw_ava22_rgb.py')
#: AVA v2.2 ids the ActivityNet 2019 list (the 60 evaluated) leaves out
NOT_EVALUATED = [
    2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71,
    75
]


def _model(rel_path, monkeypatch, tmp_path):
    """The config's detector on the meta device (no weights, fast), as
    ``init_detector`` leaves it for an official checkpoint (no
    ``dataset_meta``), with the working directory where no AVA data is."""
    cfg = Config.fromfile(f'{repo_root()}/{rel_path}')
    monkeypatch.chdir(tmp_path)  # data/ava/... is not there
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    # mmaction2's ViT reads its drop-path rates with linspace(...).item()
    linspace = torch.linspace
    with torch.device('meta'), mock.patch.object(
            torch, 'linspace',
            lambda *a, **k: linspace(*a, **k, device='cpu')):
        model = MODELS.build(cfg.model)
    model.cfg, model.dataset_meta = cfg, None
    return model


@pytest.mark.parametrize('rel_path', OFFICIAL + [NEW_STYLE])
def test_official_config_names_the_80_actions(rel_path, monkeypatch, tmp_path):
    model = _model(rel_path, monkeypatch, tmp_path)
    names = class_names(model)
    assert sorted(names) == list(range(1, 81))
    assert names[1] == 'bend/bow (at the waist)' and names[2] == 'crawl'
    assert names[80] == 'watch (a person)'
    # the 60 evaluated ones are the same names in the same columns
    evaluated = read_pbtxt_label_map(
        f'{PACKAGED_DIR}/ava_action_list_v2.2_for_activitynet_2019.pbtxt')
    assert sorted(set(names) - set(evaluated)) == NOT_EVALUATED
    assert all(names[i] == n for i, n in evaluated.items())


def test_data_and_checkpoint_names_come_first(monkeypatch, tmp_path):
    model = _model(OFFICIAL[0], monkeypatch, tmp_path)
    # the checkpoint's classes (60 named, 20 None) before the config's map
    evaluated = read_pbtxt_label_map(
        f'{PACKAGED_DIR}/ava_action_list_v2.2_for_activitynet_2019.pbtxt')
    model.dataset_meta = {'classes': [evaluated.get(i) for i in range(1, 81)]}
    assert class_names(model) == evaluated
    # the data's label map (the 60) before the checkpoint's
    label_file = model.cfg.test_dataloader.dataset.label_file
    (tmp_path / label_file).parent.mkdir(parents=True)
    (tmp_path /
     label_file).write_text('item {\n  name: "stand"\n  id: 12\n}\n')
    model.dataset_meta = None
    assert class_names(model) == {12: 'stand'}


def test_without_the_entry_the_names_are_missing(monkeypatch, tmp_path):
    model = _model(OFFICIAL[0], monkeypatch, tmp_path)
    model.cfg.label_map = None
    with pytest.raises(ValueError, match='config sets no label_map'):
        class_names(model)
    model.cfg.label_map = 3
    with pytest.raises(ValueError, match="config's label_map must be"):
        class_names(model)
