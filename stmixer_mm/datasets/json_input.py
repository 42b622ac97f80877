"""JSON files a user gives (annotation exports, mask files) read with one
set of errors, each naming the file: malformed JSON (line, column), JSON
nested deeper than the parser can go (``json`` raises a bare
``RecursionError`` for 100,000 nested arrays), bytes that are not UTF-8."""
import json
from typing import Any, Union


def parse_json(text: Union[str, bytes], where: str) -> Any:
    """``json.loads(text)``; a :class:`ValueError` naming ``where`` instead
    of ``JSONDecodeError``, ``RecursionError`` or ``UnicodeDecodeError``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f'{where}, line {e.lineno}, column {e.colno}: '
                         f'malformed JSON ({e.msg})') from None
    except RecursionError:
        raise ValueError(
            f'{where}: JSON nested too deeply to be read (arrays or objects '
            'inside each other thousands of levels deep)') from None
    except UnicodeDecodeError as e:
        raise ValueError(f'{where}: not UTF-8 text ({e})') from None
