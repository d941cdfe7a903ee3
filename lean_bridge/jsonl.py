"""Reading JSON Lines: the one line parser behind benchmark files, reference statements and
synth inputs. Lines end at ``\\n`` only: JSON text may hold U+2028 and friends unescaped, which
``str.splitlines`` would break at."""
from __future__ import annotations

import json
from typing import Any


def jsonl_objects(text: str, source: str, *, error: type[Exception] = ValueError,
                  invalid: str = "not valid JSON", chain: bool = False
                  ) -> list[tuple[str, dict[str, Any]]]:
    """(``source:line``, object) for each non-blank line of ``text``.

    A line that is not JSON, or not an object, raises ``error`` naming the line; ``invalid``
    is the words for the first case (callers keep their own messages), ``chain`` keeps the
    ``JSONDecodeError`` as the cause."""
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: {invalid} ({exc.msg}, column {exc.colno})") from (exc if chain else None)
        if not isinstance(obj, dict):
            raise error(f"{where}: expected a JSON object, got {type(obj).__name__}")
        out.append((where, obj))
    return out


__all__ = ["jsonl_objects"]
