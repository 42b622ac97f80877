"""The command lines of the scripts in ``tools/`` and ``demo/`` (argument
parsing and ``main(argv)``, run in process by the tests). The top layer:
nothing else in the package imports it (``tests/test_layout.py``).

Importing it is a program's start: what the imports made (about 400,000
objects the garbage collector tracks, the stack's modules, classes and
functions) lives until the exit, and is frozen here (``gc.freeze``): the
collector no longer walks it, in a collection (a full one took 0.27 s; a
Runner's dataset build asks for one) or at the exit (about 0.7 s), and the
forked data loader workers share its memory pages, as Python's ``gc``
documentation recommends before a fork."""
import argparse
import gc
import os.path as osp
import re
from typing import Iterable, Optional, Sequence

from mmengine.config import DictAction

from stmixer_mm.apis.video_io.decoding import frame_pixel_bound
from stmixer_mm.apps.command_errors import (  # noqa: F401 (re-exported)
    command_error, config_or_exit)
from stmixer_mm.datasets.class_names import dataset_family

gc.freeze()

#: one name of a dotted ``--cfg-options`` key (a list index is a number)
_KEY_PART = re.compile(r'[\w-]+')

#: the help of every CONFIG argument (what ``load_config`` /
#: ``resolve_config`` of :mod:`stmixer_mm.apis.config_files` take)
CONFIG_HELP = ('config: a file, stmixer_mm::<folder>/<config>.py (shipped '
               'with the package) or a model name of model-index.yml')
#: what a missing data file's message adds: where the data sets are
#: described (their layout, how to make or get them)
DATA_HINT = ('; the data sets, their layout and how to make or get them: '
             'docs/en/datasets.md')

#: the files a data set reads first, by its family (``dataset_family``: a
#: subclass's are its base's): ``(key, what it is,
#: joined with data_root)`` (mmengine's BaseDataset joins ``ann_file``;
#: mmaction2's AVADataset reads the other files as given)
_AVA_FILES = (('label_file', 'AVA label map',
               False), ('ann_file', 'AVA annotation file', True),
              ('exclude_file', 'AVA excluded-timestamps file', False))
DATA_FILES = {
    'AVADataset': _AVA_FILES,
    'TubeDataset': (('ann_file', 'ACT ground-truth pickle', True), ),
}


def missing_data_file(cfg, loaders: Sequence[str]) -> Optional[str]:
    """The first data file a run would miss, named before the runner is
    built (and its hook table printed): the message the data set itself
    gives, ending with :data:`DATA_HINT`.

    Args:
        cfg (Config): The merged config.
        loaders (Sequence[str]): The dataloaders the run builds, e.g.
            ``('train_dataloader', 'val_dataloader')``.

    Returns:
        str | None: ``'<what> not found: <path>; the data sets, ...'`` for
        the first local file of :data:`DATA_FILES` that is not a file
        (wrapped data sets' inner ones included), else None.
    """
    todo = [(cfg.get(name) or {}).get('dataset') for name in loaders]
    while todo:
        dataset = todo.pop(0)
        if not isinstance(dataset, dict):
            continue
        todo += [dataset.get('dataset')] + list(dataset.get('datasets') or [])
        root = dataset.get('data_root') or ''
        for key, what, joined in DATA_FILES.get(
                dataset_family(dataset.get('type')), ()):
            path = dataset.get(key)
            if not isinstance(path, str) or not path or '://' in path:
                continue
            if joined and root and not osp.isabs(path):
                path = osp.join(root, path)
            if not osp.isfile(path):
                return f'{what} not found: {path}{DATA_HINT}'
    return None


def frame_bound_or_exit(prog: Optional[str] = None) -> None:
    """Read ``STMIXER_MAX_FRAME_PIXELS`` (:func:`~stmixer_mm.apis.video_io.
    decoding.frame_pixel_bound`) before a video command does any work; a
    bad value exits with the command's error line.

    Args:
        prog (str, optional): The command's name (``main(prog=...)``).
    """
    try:
        frame_pixel_bound()
    except ValueError as e:
        raise SystemExit(command_error(e, prog)) from None


def parse_cfg_options(items: Sequence[str],
                      flag: str = '--cfg-options',
                      given: Iterable = ()) -> dict:
    """The ``KEY=VALUE`` items of ``--cfg-options`` as the dict that
    ``Config.merge_from_dict`` takes (values parsed as mmengine's
    ``DictAction`` does), each item checked first.

    Args:
        items (Sequence[str]): The items, e.g. ``['train_cfg.max_epochs=2',
            'model.backbone.depth=18']``.
        flag (str): How the messages name the option (``--cfg-options``, or
            an environment variable that holds them).
        given (Iterable[str]): Keys set already (an earlier
            ``--cfg-options`` of the same command line).

    Returns:
        dict: ``{dotted key: value}``.

    Raises:
        ValueError: Naming the item: no ``=``; an empty key or a key that
            is not names joined by ``.``; no value; unbalanced brackets in
            the value; a key given twice, or with one of its parts (``a``
            and ``a.b``).
    """
    options = {}
    seen = {key: None for key in given}
    for item in items:
        where = f'{flag} {item!r}'
        key, eq, value = item.partition('=')
        if not eq:
            raise ValueError(
                f'{where}: no "=": expected KEY=VALUE, a dotted config key '
                'and its value (e.g. train_cfg.max_epochs=2)')
        if not key:
            raise ValueError(
                f'{where}: nothing before "=": expected KEY=VALUE with a '
                'non-empty dotted config key (e.g. train_cfg.max_epochs=2)')
        if not all(_KEY_PART.fullmatch(part) for part in key.split('.')):
            raise ValueError(
                f'{where}: the key {key!r} is not a dotted config key: '
                'expected names (letters, digits, _) joined by single dots, '
                'with no spaces or quotes (e.g. model.backbone.depth=18)')
        if not value:
            raise ValueError(
                f'{where}: no value after "=": expected KEY=VALUE (an empty '
                f'string is written {key}="\'\'")')
        for other, text in seen.items():
            nested = f'{other}.'.startswith(f'{key}.') or \
                f'{key}.'.startswith(f'{other}.')
            if nested:
                first = f'{text!r}' if text else f'{other}=...'
                raise ValueError(
                    f'{where}: {key} is set already by {first}; expected '
                    'each config key once' if other == key else
                    f'{where}: {other} is set too, by {first}: which of '
                    'the two wins would depend on their order; expected '
                    'only one of them')
        try:
            options[key] = DictAction._parse_iterable(value)
        except AssertionError:
            raise ValueError(f'{where}: the value {value!r} has unbalanced '
                             'brackets; expected a value, or a list as '
                             '[a,b] / (a,b)') from None
        seen[key] = item
    return options


class CfgOptionsAction(argparse.Action):
    """``--cfg-options KEY=VALUE ...``: :func:`parse_cfg_options` while the
    command line is parsed, a bad item being a usage error (exit code 2)
    that names it, before any work."""

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        try:
            options.update(
                parse_cfg_options(values, option_string or '--cfg-options',
                                  options))
        except ValueError as e:
            parser.error(str(e))
        setattr(namespace, self.dest, options)


def add_cfg_options(
    parser,
    help: str = 'override config entries, '
    'key=value (lists: key="[a,b]")'
) -> None:
    """The ``--cfg-options key=value ...`` option (:class:`CfgOptionsAction`:
    mmengine's ``DictAction``, each item checked).

    Args:
        parser (argparse.ArgumentParser): The command line to add it to.
        help (str): Its help text.
    """
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction, help=help)


def converter_parser(description: str,
                     src: str,
                     dst: str,
                     config: str,
                     config_required: bool = True) -> argparse.ArgumentParser:
    """The command line of a ``tools/model_converters/convert_*.py``:
    ``src``, ``dst`` and ``--config``, the tool's own options to follow.

    Args:
        description (str): What the tool does.
        src (str): The help text of SRC.
        dst (str): The help text of DST.
        config (str): The help text of ``--config``.
        config_required (bool): Whether ``--config`` must be given.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=src)
    parser.add_argument('dst', help=dst)
    parser.add_argument('--config', required=config_required, help=config)
    return parser


def add_trust_pickle(parser, help: str) -> None:
    """A converter's ``--trust-pickle`` (full unpickling of SRC).

    Args:
        parser (argparse.ArgumentParser): The command line to add it to.
        help (str): Its help text.
    """
    parser.add_argument('--trust-pickle', action='store_true', help=help)


def add_launcher_args(parser) -> None:
    """``--launcher`` and ``--local_rank`` of ``tools/train.py`` and
    ``tools/test.py``.

    Args:
        parser (argparse.ArgumentParser): The command line to add them to.
    """
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def merge_run_args(cfg, args) -> None:
    """Fold what ``tools/train.py`` and ``tools/test.py`` share into the
    config: ``--cfg-options`` first, then ``--launcher`` and ``--work-dir``
    (else the config's, else ``./work_dirs/<config file's name>``).

    Args:
        cfg (Config): The config, changed in place.
        args (argparse.Namespace): The tool's, with ``cfg_options``,
            ``launcher``, ``work_dir`` and ``config``.
    """
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:  # the file's name (of a model name)
        cfg.work_dir = osp.join(
            './work_dirs',
            osp.splitext(osp.basename(cfg.filename or args.config))[0])
