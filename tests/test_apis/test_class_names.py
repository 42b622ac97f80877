"""Label maps checked against the model; one source of class names and of
the test pipeline for the demo, the inference API and tools/test.py."""
import os
import os.path as osp
import pickle

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from stmixer_mm.apis import (build_clip_pipeline, check_label_map, class_names,
                             load_label_map)

PBTXT = """label {{
  name: "{name}"
  label_id: {id}
  label_type: PERSON_MOVEMENT
}}
"""
NAMES = [
    'stand', 'crouch', 'walk', 'jump', 'raise_arms', 'hold_object', 'talk_to'
]


class FakeDecoder:

    def __init__(self, num_actions):
        self.num_actions = num_actions
        self.label_convention = 'ava'


class FakeModel:
    """What class_names reads from a detector."""

    def __init__(self, num_actions, cfg=None, dataset_meta=None):
        self.roi_head = FakeDecoder(num_actions)
        self.cfg = cfg
        self.dataset_meta = dataset_meta


def _pbtxt(path, ids, names=NAMES):
    path.write_text(''.join(
        PBTXT.format(name=n, id=i) for i, n in zip(ids, names)))
    return str(path)


def test_fitting_label_map(tools):
    path = osp.join(tools.TINY_DATA, 'annotations', 'label_map.pbtxt')
    names = load_label_map(path)
    assert names == {i + 1: n for i, n in enumerate(NAMES)}
    assert class_names(FakeModel(7), path) == names


def test_zero_based_label_map_is_refused(tmp_path):
    path = _pbtxt(tmp_path / 'zero.pbtxt', range(7))
    with pytest.raises(ValueError) as e:
        class_names(FakeModel(7), path)
    msg = str(e.value)
    assert path in msg and "names column 0 ('stand')" in msg
    assert 'columns [7] have no name' in msg


def test_partial_label_map_lists_the_unnamed_columns(tmp_path):
    path = _pbtxt(tmp_path / 'part.pbtxt', range(1, 5))
    with pytest.raises(
            ValueError, match=r'columns \[5, 6, 7\] have no '
            'name'):
        class_names(FakeModel(7), path)


def test_label_map_beyond_the_model(tmp_path):
    path = _pbtxt(tmp_path / 'big.pbtxt', range(1, 8))
    with pytest.raises(
            ValueError, match=r'ids \[5, 6, 7\] are beyond the model'):
        class_names(FakeModel(4), path)


def test_repeated_ids_and_names(tmp_path):
    with pytest.raises(ValueError, match='label_id 1 given twice'):
        load_label_map(_pbtxt(tmp_path / 'dup.pbtxt', [1, 1]))
    with pytest.raises(ValueError, match="'stand' names columns 1 and 2"):
        check_label_map({1: 'stand', 2: 'stand'}, 2, 'map')


@pytest.mark.parametrize('content, match', [
    (b'', r'is empty \(0 bytes\)'),
    (os.urandom(300) + b'\xff\xfe', 'is not a text file'),
    (b'hello\nnot a label map\n', 'has no `label'),
    (b'label {\n  name: "x"\n}\n', 'needs both name'),
    (b'label {\n  name: "x"\n  label_id: one\n}\n', 'is not an integer'),
])
def test_garbage_label_map_is_named(tmp_path, content, match):
    path = tmp_path / 'bad.pbtxt'
    path.write_bytes(content)
    with pytest.raises(ValueError) as e:
        load_label_map(str(path))
    assert str(path) in str(e.value)
    assert e.match(match)


def test_act_pickle_as_label_map(tmp_path):
    path = tmp_path / 'GT.pkl'
    with open(path, 'wb') as f:
        pickle.dump(dict(labels=['run', 'sit', 'wave']), f)
    # label i of the pickle is column i + 1
    assert class_names(FakeModel(3), str(path)) == {
        1: 'run',
        2: 'sit',
        3: 'wave'
    }
    with pytest.raises(ValueError, match=r'columns \[4\] have no name'):
        class_names(FakeModel(4), str(path))
    trunc = tmp_path / 'trunc.pkl'
    trunc.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ValueError, match='not a readable pickle'):
        load_label_map(str(trunc))


class _Payload:
    """Unpickled without restriction, it writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import builtins
        return (builtins.exec, (f'open({self.marker!r}, "w").write("x")', ))


def test_a_label_map_that_runs_code_is_refused(tools, random_checkpoint,
                                               tmp_path):
    """An ACT ``.pkl`` label map goes through the allow-list of
    ``load_pickle``: refused (file and global named) before it runs, from
    ``class_names`` and from the Inferencer (``tools/demo.py
    --label-map``)."""
    from stmixer_mm.apis import STMixerInferencer
    marker = tmp_path / 'PWNED'
    path = tmp_path / 'evil_GT.pkl'
    path.write_bytes(pickle.dumps(dict(labels=NAMES, x=_Payload(marker))))
    with pytest.raises(ValueError) as e:
        class_names(FakeModel(7), str(path))
    assert str(path) in str(e.value) and 'builtins.exec' in str(e.value)
    with pytest.raises(ValueError) as e:
        STMixerInferencer(
            tools.TINY_CFG, random_checkpoint, label_map=str(path))
    assert str(path) in str(e.value) and 'builtins.exec' in str(e.value)
    assert not marker.exists(), 'the label map ran code'


def test_tube_config_carries_its_class_names(tools):
    cfg = Config.fromfile(
        osp.join(tools.REPO, 'configs', 'quickstart',
                 'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'))
    assert class_names(FakeModel(4, cfg)) == {
        1: 'stand',
        2: 'crouch',
        3: 'walk',
        4: 'jump'
    }
    with pytest.raises(ValueError, match=r'columns \[5\] have no name'):
        class_names(FakeModel(5, cfg))


def test_names_from_checkpoint_meta_and_missing_names():
    cfg = Config(
        dict(
            test_dataloader=dict(
                dataset=dict(type='TubeDataset', ann_file='none'))))
    meta = dict(classes=('a', 'b'))
    assert class_names(FakeModel(2, cfg, meta)) == {1: 'a', 2: 'b'}
    with pytest.raises(ValueError, match='pass a label map'):
        class_names(FakeModel(2, cfg))


def test_config_names_must_agree_with_the_checkpoints(tmp_path):
    label_file = _pbtxt(tmp_path / 'map.pbtxt', range(1, 5), NAMES[:4])
    cfg = Config(
        dict(
            test_dataloader=dict(
                dataset=dict(type='AVAActorDataset', label_file=label_file))))
    same = dict(classes=NAMES[:4])
    assert class_names(FakeModel(4, cfg,
                                 same)) == dict(zip(range(1, 5), NAMES[:4]))
    # the checkpoint was trained on the classes in another order
    other = dict(classes=['crouch', 'stand', 'walk', 'jump'])
    with pytest.raises(ValueError) as e:
        class_names(FakeModel(4, cfg, other))
    assert "column 1: 'stand' vs 'crouch'" in str(e.value)
    assert "column 2: 'crouch' vs 'stand'" in str(e.value)
    assert 'column 3' not in str(e.value)
    # unnamed columns of the checkpoint are not compared
    sparse = dict(classes=['stand', None, 'walk', 'jump'])
    assert class_names(FakeModel(4, cfg, sparse))[2] == 'crouch'
    # an explicit label map is the user's choice
    assert class_names(FakeModel(4, cfg, other), label_file)[1] == 'stand'


def test_ava22_label_map_may_leave_unlisted_ids(tmp_path):
    """AVA v2.2 (unlisted_labels='warn'): 80 columns, 60 named."""
    ids = [i for i in range(1, 81) if i % 4]
    names = [f'a{i}' for i in ids]
    path = _pbtxt(tmp_path / 'ava.pbtxt', ids, names)
    cfg = Config(
        dict(
            test_dataloader=dict(
                dataset=dict(
                    type='AVAActorDataset',
                    label_file=path,
                    unlisted_labels='warn'))))
    assert len(class_names(FakeModel(80, cfg))) == 60
    with pytest.raises(ValueError, match='names column 0'):
        class_names(
            FakeModel(80, cfg),
            _pbtxt(tmp_path / 'z.pbtxt', [0] + ids[1:], names))


def test_clip_pipeline_is_the_test_dataloaders(tools, tmp_path):
    """A child config that changes test_dataloader's pipeline but not the
    top-level test_pipeline: the demo / API use what tools/test.py uses."""
    child = tmp_path / 'child.py'
    child.write_text(
        f"_base_ = ['{tools.TINY_CFG}']\n"
        "test_dataloader = dict(dataset=dict(pipeline=[\n"
        "    dict(type='SampleAVAFrames', clip_len=4, frame_interval=2,\n"
        "         test_mode=True),\n"
        "    dict(type='CheckedRawFrameDecode'),\n"
        "    dict(type='Resize', scale=(1333, 96), keep_ratio=True),\n"
        "    dict(type='FormatShape', input_format='NCTHW', collapse=True),\n"
        "    dict(type='PackActionInputs')]))\n")
    cfg = Config.fromfile(str(child))
    init_default_scope('mmaction')
    assert cfg.test_pipeline[2]['scale'] == (1333, 64)  # the base's
    resize = [
        t for t in build_clip_pipeline(cfg).transforms
        if type(t).__name__ == 'Resize'
    ]
    assert len(resize) == 1 and tuple(resize[0].scale) == (1333, 96)
