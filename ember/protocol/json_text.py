"""Reading a request body as JSON the way AWS's services read it: strict, and within bounds.

Python's json module is lenient where AWS is not: it takes `NaN`, `Infinity` and `-Infinity`
(not JSON: RFC 8259 has no such tokens), and it recurses once per nesting level, so a body
nested 100k levels deep exhausts the interpreter's stack. Both are refused here with a reason a
caller can act on.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn


class UnreadableJson(ValueError):
    """The body is not JSON Ember can read; the message says why."""


def _refuse_constant(token: str) -> NoReturn:
    raise UnreadableJson(f"Non-standard token '{token}': JSON numbers must be finite")


def load_json(body: bytes | str) -> Any:
    """The JSON document in `body`; raises UnreadableJson when it is not UTF-8 JSON or nests too deep."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except UnreadableJson:
        raise
    except UnicodeDecodeError as exc:
        raise UnreadableJson(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:
        raise UnreadableJson(str(exc)) from None
    except RecursionError:
        # The C decoder checks the interpreter's recursion limit (about 1,000 levels, less the
        # stack already in use); AWS's parsers likewise stop at about 1,000.
        raise UnreadableJson("the document nests arrays or objects too deeply (at most about 900 levels)") from None
