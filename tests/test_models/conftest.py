"""The model tests build un-prefixed names of mmdet's registry (the network
parts register there), so each runs with mmdet as the current default
scope, whatever an earlier test folder's session or module fixtures left
behind (e.g. ``init_detector`` in ``tests/test_apis`` sets ``mmaction``)."""
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def _mmdet_default_scope(_isolate_default_scope):
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield
