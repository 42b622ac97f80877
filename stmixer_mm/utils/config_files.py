"""Reading a config file, with errors that name the file."""
import os.path as osp
import sys
from pathlib import Path

__all__ = ['ConfigFileError', 'MissingConfigError', 'load_config']


class ConfigFileError(ValueError):
    """A config file that cannot be read; the message names it."""


class MissingConfigError(ConfigFileError, FileNotFoundError):
    """A missing config; also a ``FileNotFoundError`` (as mmengine's)."""


def _add_projects_root(path: str) -> None:
    """Put ``<root>`` of a config under ``<root>/projects/<name>/`` on
    ``sys.path``: it imports ``projects.<name>...`` (mmdet's convention)
    from any working directory."""
    for folder in Path(path).resolve().parents:
        if folder.name == 'projects':
            root = str(folder.parent)
            if root not in sys.path:
                sys.path.insert(0, root)
            return


def load_config(path: str):
    """``Config.fromfile`` whose errors name the file.

    Args:
        path (str): The config file.

    Returns:
        Config: The config.

    Raises:
        ConfigFileError: Missing (:class:`MissingConfigError`), not a
            config, a syntax error, a failing base or import.
    """
    from mmengine.config import Config
    if not osp.isfile(path):
        raise MissingConfigError(f'config {path}: no such file')
    if not path.endswith(('.py', '.json', '.yaml', '.yml')):
        raise ConfigFileError(
            f'config {path}: not a config file (expected .py, .json, .yaml '
            'or .yml; is it a checkpoint or another input in the config\'s '
            'place?)')
    _add_projects_root(path)
    try:
        return Config.fromfile(path)
    except Exception as e:
        text = str(e).strip().splitlines()
        reason = text[-1] if text else ''
        raise ConfigFileError(f'config {path} could not be read: '
                              f'{type(e).__name__}: {reason}') from e
