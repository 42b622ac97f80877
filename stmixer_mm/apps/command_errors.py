"""What the commands share: the one form of a command's refusal
(``stmixer-train``, ``tools/train.py`` and every other command),
``<command>: error: <message>`` on stderr, the command named as argparse
names it in its own usage errors, exit status 1 for a refused input or a
failed step, 2 for a wrong command line (argparse), 128 + N when stopped
by signal N (docs/en/useful_tools.md, "Errors and exit status"); and the
one reading of a whole-number argument (:func:`whole_number`) and of a
CONFIG argument (:func:`config_or_exit`)."""
import argparse
import os.path as osp
import re
import sys
from typing import Optional

from stmixer_mm.apis.config_files import load_config
from stmixer_mm.utils.checks import ConfigSettingError

__all__ = [
    'command_name', 'command_error', 'whole_number', 'WHOLE_MOST',
    'config_or_exit'
]

#: the largest whole number an argument takes unless told otherwise
WHOLE_MOST = 10**18


def command_name() -> str:
    """The name a command's messages start with.

    Returns:
        str: The file name of ``sys.argv[0]``, as argparse's ``prog``:
        ``stmixer-train`` for the console command, ``train.py`` for the
        checkout's script.
    """
    return osp.basename(sys.argv[0]) if sys.argv and sys.argv[0] else \
        'stmixer'


def command_error(message, prog: Optional[str] = None) -> str:
    """A command's error line.

    Args:
        message (str | BaseException): What is wrong, naming the file,
            key, argument or variable.
        prog (str, optional): The command's name, when the command is told
            it (``main(prog=...)``); default :func:`command_name`.

    Returns:
        str: ``<command>: error: <message>``; ``raise SystemExit(...)`` of
        it prints it on stderr and exits with status 1.
    """
    return f'{prog or command_name()}: error: {message}'


def whole_number(text: str,
                 most: int = WHOLE_MOST,
                 why: str = '',
                 least: int = 1,
                 what: str = '') -> int:
    """An argparse type: a whole number in [``least``, ``most``], in ASCII
    digits (``'²'``, ``'٣'``, ``'1e3'``, ``'1_000'``, ``'+5'``, ``'2.0'``
    are none); one over ``most`` is refused as too large before it is
    converted.

    Args:
        text (str): The argument as given.
        most (int): The largest value taken. Defaults to
            :data:`WHOLE_MOST`.
        why (str): Why ``most``, for the message.
        least (int): The smallest value taken (0 or 1). Defaults to 1.
        what (str): What the number is, for the message (``' (a random
            seed)'``).

    Returns:
        int: Its value.

    Raises:
        argparse.ArgumentTypeError: ``expected a whole number >= <least>
            <what>, got '<text>'`` or ``too large (at most <most><why>), got
            '<text>'`` (argparse names the option).
    """
    digits = text.strip()
    if not re.fullmatch(r'[0-9]+', digits) or int(digits[:20]) < least:
        raise argparse.ArgumentTypeError(
            f'expected a whole number >= {least}{what}, got {text[:40]!r}')
    digits = digits.lstrip('0') or '0'
    if len(digits) > len(str(most)) or int(digits) > most:
        raise argparse.ArgumentTypeError(
            f'too large (at most {most}{why}), got {text[:40]!r}')
    return int(digits)


def config_or_exit(name: str):
    """:func:`~stmixer_mm.apis.config_files.load_config` of a command's
    CONFIG argument; an unreadable one exits with the command's error line
    (status 1) instead of a traceback.

    Args:
        name (str): A file, ``stmixer_mm::<folder>/<config>.py`` or a model
            name.

    Returns:
        Config: The config.
    """
    try:
        return load_config(name)
    except (ConfigSettingError, FileNotFoundError) as e:
        raise SystemExit(command_error(e)) from None
