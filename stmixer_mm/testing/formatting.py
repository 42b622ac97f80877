"""yapf once per statement: the suite's stand-in for the yapf call of
mmengine's ``Config.pretty_text`` (tests/conftest.py). A Runner's config
text differs from the last run's in a few top-level statements (the work
folder, the data paths); yapf takes 0.3-2 s for the whole text on one core
and formats each top-level statement on its own."""
import ast
from typing import Callable, Tuple


def format_per_statement(format_code: Callable) -> Callable:
    """A ``FormatCode`` that formats each top-level statement of the source
    once per process (``format_code`` on that statement alone) and joins the
    results; a source with anything between its statements (a comment, a
    blank line) or that does not parse is formatted whole.

    Args:
        format_code (Callable): yapf's ``FormatCode(source,
            style_config=None, **kwargs) -> (text, changed)``.

    Returns:
        Callable: the same signature and result as ``format_code``.
    """
    cache = dict()

    def formatted(source: str,
                  style_config=None,
                  **kwargs) -> Tuple[str, bool]:
        lines = source.splitlines(keepends=True)
        try:
            body = ast.parse(source).body
        except SyntaxError:
            body = []
        starts = [node.lineno - 1 for node in body]
        ends = [node.end_lineno for node in body]
        # each statement starts where the last one ended, the last ends
        # the source
        if not body or starts != [0] + ends[:-1] or ends[-1] != len(lines):
            return format_code(source, style_config=style_config, **kwargs)
        style = repr(style_config), repr(sorted(kwargs.items()))
        pieces = []
        for start, end in zip(starts, ends):
            piece = ''.join(lines[start:end])
            if (piece, style) not in cache:
                cache[piece, style] = format_code(
                    piece, style_config=style_config, **kwargs)[0]
            pieces.append(cache[piece, style])
        text = ''.join(pieces)
        return text, text != source

    return formatted
