"""What the commands share: the one form of a command's refusal
(``stmixer-train``, ``tools/train.py`` and every other command),
``<command>: error: <message>`` on stderr, the command named as argparse
names it in its own usage errors, exit status 1 for a refused input or a
failed step, 2 for a wrong command line (argparse), 128 + N when stopped
by signal N (docs/en/useful_tools.md, "Errors and exit status"); and the
one reading of a whole-number argument (:func:`whole_number`)."""
import argparse
import os.path as osp
import re
import sys

__all__ = ['command_name', 'command_error', 'whole_number', 'WHOLE_MOST']

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


def command_error(message) -> str:
    """A command's error line.

    Args:
        message (str | BaseException): What is wrong, naming the file,
            key, argument or variable.

    Returns:
        str: ``<command>: error: <message>``; ``raise SystemExit(...)`` of
        it prints it on stderr and exits with status 1.
    """
    return f'{command_name()}: error: {message}'


def whole_number(text: str,
                 most: int = WHOLE_MOST,
                 why: str = '',
                 least: int = 1) -> int:
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

    Returns:
        int: Its value.

    Raises:
        argparse.ArgumentTypeError: ``expected a whole number >= <least>,
            got '<text>'`` or ``too large (at most <most><why>), got
            '<text>'`` (argparse names the option).
    """
    digits = text.strip()
    if not re.fullmatch(r'[0-9]+', digits) or int(digits[:20]) < least:
        raise argparse.ArgumentTypeError(
            f'expected a whole number >= {least}, got {text[:40]!r}')
    digits = digits.lstrip('0') or '0'
    if len(digits) > len(str(most)) or int(digits) > most:
        raise argparse.ArgumentTypeError(
            f'too large (at most {most}{why}), got {text[:40]!r}')
    return int(digits)
