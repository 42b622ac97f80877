"""The packages of ``projects/`` import as ``projects.<name>.<package>``
from the repository root (mmdet's convention): put it on ``sys.path`` for
these tests whatever the working directory, and register the project's
parts (as its configs' ``custom_imports`` does)."""
import sys
from pathlib import Path

import pytest
from mmengine.registry import DefaultScope

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import projects.actor_masks.actor_masks  # noqa: E402,F401
import projects.forecasting.forecasting  # noqa: E402,F401
import projects.track_queries.track_queries  # noqa: E402,F401


@pytest.fixture
def mmdet_scope(_isolate_default_scope):
    """As ``tests/test_models``' default scope: the projects' network parts
    register in mmdet's registry, built by un-prefixed names whatever
    default scope an earlier test left behind (a module that builds them
    uses it: ``pytestmark``)."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield
