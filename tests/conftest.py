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


@pytest.fixture
def mm_log_records():
    """The records that mmengine's current logger emits during the test
    (``print_log(..., logger='current')``), as a list of ``LogRecord``."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
