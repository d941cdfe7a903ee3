"""Positions in a text: offsets <-> (line, column), the units the Lean REPL reports.

Contract: every offset is a Python ``str`` index (a Unicode code point), the unit the Lean
REPL uses for columns; lines are 1-based and split on ``\\n`` only. Standard library only.
``lean_bridge.text`` re-exports these names (most callers read them from there).
"""
from __future__ import annotations

import bisect
import re


class LineIndex:
    """Line starts of a text, for O(log n) offset <-> (line, column) conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def offset_to_line_col(self, offset: int) -> tuple[int, int]:
        """(1-based line, 0-based column); ``len(text)`` is allowed (end of file)."""
        if not 0 <= offset <= len(self.text):
            raise ValueError(f"offset {offset} outside 0..{len(self.text)}")
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1]

    def line_col_to_offset(self, line: int, column: int) -> int:
        """Inverse of ``offset_to_line_col``; the column may point at the line's end."""
        if not 1 <= line <= len(self.line_starts):
            raise ValueError(f"line {line} outside 1..{len(self.line_starts)}")
        start = self.line_starts[line - 1]
        stop = self.line_starts[line] - 1 if line < len(self.line_starts) else len(self.text)
        if not 0 <= column <= stop - start:
            raise ValueError(f"column {column} outside 0..{stop - start} on line {line}")
        return start + column


def offset_to_line_col(text: str, offset: int) -> tuple[int, int]:
    return LineIndex(text).offset_to_line_col(offset)


def line_col_to_offset(text: str, line: int, column: int) -> int:
    return LineIndex(text).line_col_to_offset(line, column)


__all__ = ["LineIndex", "line_col_to_offset", "offset_to_line_col"]
