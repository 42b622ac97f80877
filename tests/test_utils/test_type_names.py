"""``type_name``: the registry name of a config's ``type`` in an old-style
(string) or new-style (class, lazily imported class) config."""
from mmdet.models.necks import FPN
from mmengine.config import Config
from mmengine.config.lazy import LazyAttr, LazyObject

from stmixer_mm.utils import type_name


def test_type_name_of_strings_and_classes():
    assert type_name('FPN') == 'FPN'
    assert type_name('mmdet.FPN') == 'FPN'
    assert type_name(FPN) == 'FPN'
    assert type_name(None) == ''
    assert type_name('') == ''


def test_type_name_of_a_lazy_import(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text('from mmdet.models.necks import FPN\n'
                    'neck = dict(type=FPN, in_channels=[8], out_channels=8,'
                    ' num_outs=1)\n')
    cfg = Config.fromfile(str(path))
    lazy = dict.__getitem__(cfg.neck, 'type')  # stored: not yet imported
    assert isinstance(lazy, (LazyAttr, LazyObject))
    assert type_name(lazy) == 'FPN'
    assert type_name(cfg.neck.to_dict()['type']) == 'FPN'  # dumped: a str
    assert type_name(cfg.neck.type) == 'FPN'  # read: the class
    assert cfg.neck.type is FPN
