"""Shared pytest fixtures (one per thing; the helpers behind them are in
``stmixer_mm.testing``).

mmengine keeps the default registry scope in a process-wide singleton
(``DefaultScope``); tests that call ``init_default_scope('mmaction')`` would
otherwise change how later tests resolve un-prefixed type names.  Every test
starts and ends with the scope stack it found.

Tests that take more than a few seconds on a 2-core CPU are marked
``slow``: ``pytest -m "not slow"`` is the quick run, ``tools/run_tests.sh``
runs everything.
"""
import copy
import datetime
import os
import os.path as osp
import types

import pytest
from mmengine.registry import DefaultScope

from stmixer_mm import testing

# the checkout from the tests' own location (the package may be installed
# from a wheel, elsewhere)
testing.set_repo_root(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: fixtures that make a test slow: the session's runs of tools/train.py and
#: tools/test.py (tests/test_tools/conftest.py), the wheel built and
#: installed for mim (tests/test_tools/test_mim.py), the commands of
#: docs/en/custom_dataset.md (tests/test_tools/test_custom_dataset_tutorial.py)
SLOW_FIXTURES = {'trained', 'tested', 'installed', 'tutorial'}


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that uses a fixture of ``SLOW_FIXTURES``,
    then move the files holding a slow test to the front (otherwise in
    collection order): with ``tools/run_tests.sh``'s two processes (whole
    files each, ``--no-loadscope-reorder``) the long files start first and
    the many short ones fill the gaps, instead of one long file running
    alone at the end."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, 'fixturenames', ())):
            item.add_marker(pytest.mark.slow)
    slow_files = {
        item.nodeid.split('::')[0]
        for item in items if item.get_closest_marker('slow')
    }
    items.sort(key=lambda item: item.nodeid.split('::')[0] not in slow_files)


class _PerProcessStamp(datetime.datetime):
    """A ``datetime`` whose ``strftime`` ends with the process id."""

    def strftime(self, fmt):
        return f'{super().strftime(fmt)}_{os.getpid()}'


@pytest.fixture(autouse=True, scope='session')
def _ava_metric_files_per_process():
    """mmaction2's ``AVAMetric`` writes its results to
    ``AVA_<second>_result.csv`` in the working directory and removes it
    after scoring: the suite's two processes evaluating in the same second
    removed each other's file (``FileNotFoundError``). In the tests each
    process names its own file (the pid appended)."""
    from mmaction.evaluation.metrics import ava_metric
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ava_metric, 'datetime', _PerProcessStamp)
        yield


@pytest.fixture(autouse=True, scope='session')
def _ava_eval_pool_per_core():
    """mmaction2's ``ava_eval`` maps its true / false positives in a new
    ``multiprocessing.Pool(32)`` at each evaluation (about 1.5 s of forks on
    2 cores, a twentieth of that for 2 processes). In the tests the pool
    has a process per core: the same map of the same function, the same
    results."""
    import multiprocessing

    from mmaction.evaluation.functional import ava_utils

    def pool(processes):
        return multiprocessing.Pool(min(processes, os.cpu_count() or 1))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ava_utils, 'multiprocessing',
                      types.SimpleNamespace(Pool=pool))
        yield


@pytest.fixture(autouse=True, scope='session')
def _config_text_formatted_per_statement():
    """mmengine's ``Config.pretty_text`` formats the whole config text with
    yapf (0.3-2 s on one core), and every Runner of the suite asks for it
    (8 % of the suite's CPU time). In the tests yapf formats each top-level
    statement once per process (``stmixer_mm.testing.formatting``; the same
    text as the whole formatted: tests/test_engine/
    test_formatted_once_config.py)."""
    from mmengine.config import config

    from stmixer_mm.testing.formatting import format_per_statement
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, 'FormatCode',
                      format_per_statement(config.FormatCode))
        yield


@pytest.fixture(autouse=True, scope='session')
def _external_config_lookups_once():
    """mmengine looks a base ``mmaction::_base_/...`` up in every metafile
    of mmaction2 (about 30 YAML files) before it takes the base path, at
    each config load (4 % of the suite's CPU time). In the tests each
    package's metafiles are read once per process (the same answer while
    its model-index.yml is unchanged)."""
    from mmengine.config import utils
    lookup = utils._get_cfg_metainfo
    cache = dict()

    def cached(package_path, cfg_path):
        index = osp.join(package_path, '.mim', 'model-index.yml')
        key = (package_path, cfg_path,
               os.stat(index).st_mtime_ns if osp.isfile(index) else None)
        if key not in cache:
            try:
                cache[key] = (lookup(package_path, cfg_path), None)
            except ValueError as e:
                cache[key] = (None, e)
        found, error = cache[key]
        if error is not None:
            raise ValueError(*error.args)
        return copy.deepcopy(found)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utils, '_get_cfg_metainfo', cached)
        yield


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


@pytest.fixture(scope='session')
def random_checkpoint(tmp_path_factory):
    """A checkpoint of the tiny model (``tools.TINY_CFG``) as initialised
    (no training), in the layout of a Runner checkpoint's ``state_dict``."""
    import torch

    from stmixer_mm.apis import init_detector

    # init_detector sets the default scope 'mmaction'; a session fixture is
    # outside the per-test isolation above, so restore it here (later test
    # folders build un-prefixed mmdet names)
    saved = DefaultScope._instance_dict.copy()
    torch.manual_seed(0)
    model = init_detector(testing.repo_path(testing.TINY_CFG))
    model.init_weights()
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    path = tmp_path_factory.mktemp('random') / 'init.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


@pytest.fixture(scope='session')
def tools():
    """The paths and the tool runner of ``stmixer_mm.testing`` for the test
    modules (``--import-mode=importlib`` makes conftest.py unimportable from
    them): ``REPO``, ``TINY_CFG``, ``TINY_DATA`` (absolute),
    ``DETERMINISTIC_TRAIN``, ``run``, ``python_tool``, ``metric``."""
    return types.SimpleNamespace(
        REPO=testing.repo_root(),
        TINY_CFG=testing.repo_path(testing.TINY_CFG),
        TINY_DATA=testing.repo_path(testing.TINY_DATA),
        DETERMINISTIC_TRAIN=testing.DETERMINISTIC_TRAIN,
        run=testing.run_tool,
        python_tool=testing.python_tool,
        metric=testing.metric)
