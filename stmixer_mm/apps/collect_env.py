"""Versions of the stack and the compat fixes applied in this process.

    python -m stmixer_mm.apps.collect_env
    python tools/misc/collect_env.py

Like mmaction2's / mmdet's ``collect_env``, plus MMCV (and its ops), MMDet,
MMAction2, numpy, stmixer_mm (git hash) and the :mod:`.compat` fixes used."""
import argparse
from collections import OrderedDict

from mmengine.utils import get_git_hash
from mmengine.utils.dl_utils import collect_env as collect_basic_env

from stmixer_mm.utils.compat import APPLIED_FIXES
from stmixer_mm.version import __version__


def collect_env() -> 'OrderedDict[str, str]':
    """Collect the environment: name -> value (all strings)."""
    import mmaction
    import mmcv
    import mmdet
    import numpy as np

    env = collect_basic_env()
    try:
        import mmcv.ops  # noqa: F401
        from mmcv.utils import ext_loader
        ext_loader.load_ext('_ext', ['nms'])
        ops = 'compiled ops load'
    except (ImportError, ModuleNotFoundError, AttributeError) as e:
        ops = f'compiled ops unavailable ({e})'
    env['MMCV'] = f'{mmcv.__version__} ({ops})'
    env['MMDetection'] = mmdet.__version__
    env['MMAction2'] = mmaction.__version__
    env['numpy'] = np.__version__
    git = get_git_hash(digits=7, fallback='')
    env['stmixer_mm'] = __version__ + (f'+{git}' if git else '')
    env['stmixer_mm compat fixes applied'] = (', '.join(APPLIED_FIXES)
                                              or 'none')
    return OrderedDict((k, str(v)) for k, v in env.items())


def main(argv=None) -> None:
    argparse.ArgumentParser(description=__doc__.split('\n')[0]).parse_args(
        argv)  # --help, and an unknown flag refused
    for name, value in collect_env().items():
        print(f'{name}: {value}')


if __name__ == '__main__':
    main()
