"""The one form of a command's refusal (``stmixer-train``, ``tools/train.py``
and every other command): ``<command>: error: <message>`` on stderr, the
command named as argparse names it in its own usage errors; exit status 1
for a refused input or a failed step, 2 for a wrong command line (argparse),
128 + N when stopped by signal N (docs/en/useful_tools.md, "Errors and exit
status")."""
import os.path as osp
import sys

__all__ = ['command_name', 'command_error']


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
