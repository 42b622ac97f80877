"""Shared pytest fixtures.

mmengine keeps the default registry scope in a process-wide singleton
(``DefaultScope``); tests that call ``init_default_scope('mmaction')`` would
otherwise change how later tests resolve un-prefixed type names.  Every test
starts and ends with the scope stack it found.
"""
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def _isolate_default_scope():
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
