"""Fixtures of the ``stmixer_mm.apis`` tests: the tiny config and a
checkpoint of its model as initialised (no training)."""
import os.path as osp
import types

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(REPO, 'tests', 'data', 'configs',
                    'tiny_stmixer_tiny-ava.py')
TINY_DATA = osp.join(REPO, 'tests', 'data', 'tiny_ava')


@pytest.fixture(scope='session')
def random_checkpoint(tmp_path_factory):
    """A checkpoint of the tiny model as initialised, in the layout of a
    Runner checkpoint's ``state_dict``."""
    import torch
    from mmengine.registry import DefaultScope

    from stmixer_mm.apis import init_detector

    # init_detector sets the default scope 'mmaction'; a session fixture is
    # outside the per-test isolation of tests/conftest.py, so restore it
    # here (later test folders build un-prefixed mmdet names)
    saved = DefaultScope._instance_dict.copy()
    torch.manual_seed(0)
    model = init_detector(TINY_CFG)
    model.init_weights()
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    path = tmp_path_factory.mktemp('random') / 'init.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


@pytest.fixture(scope='session')
def tools():
    """Paths for the test modules (``--import-mode=importlib`` makes
    conftest.py unimportable from them)."""
    return types.SimpleNamespace(
        REPO=REPO, TINY_CFG=TINY_CFG, TINY_DATA=TINY_DATA)
