"""Helpers shared by the test suite (as ``mmdet.testing`` /
``mmaction.testing``): where the checkout is (:func:`repo_root`; the test data
and ``tools/`` are not in a wheel), the fixture files' paths and the runner of
the command-line tools. Not imported by ``import stmixer_mm``."""
from .paths import (TINY_CFG, TINY_DATA, TRACK_CFG, copy_source_tree,
                    repo_path, repo_root, set_repo_root, tiny_ava_model_cfg,
                    tiny_stmixer_cfg)
from .tools import (DETERMINISTIC_TRAIN, http_exchange, metric, python_tool,
                    run_tool, tool_env)

__all__ = [
    'TINY_CFG', 'TINY_DATA', 'TRACK_CFG', 'copy_source_tree', 'repo_path',
    'repo_root', 'set_repo_root', 'tiny_ava_model_cfg', 'tiny_stmixer_cfg',
    'DETERMINISTIC_TRAIN', 'http_exchange', 'metric', 'python_tool',
    'run_tool', 'tool_env'
]
