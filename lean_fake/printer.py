"""Lean's ``Json.pretty``, rebuilt: every answer of the fake is printed with these line breaks."""
from __future__ import annotations

import json

# ---------------------------------------------------------------------------------------------
# Lean's `Json.pretty`: Json.render builds a `Format`; Format.pretty lays it out at width 80.
# Rebuilt here so responses have the real line breaks: a client that splits on blank lines or
# reads line by line sees the same bytes it would see from Lean.
# ---------------------------------------------------------------------------------------------

_LINE = object()  # Format.line: a space when its group is flattened, else newline + indent


def _lean_escape(s: str) -> str:
    # Lean escapes only ", \, \n, \r and the other control characters (as \u00XX, lower hex);
    # everything else, non-ASCII included, is written raw.
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\ufffd")  # a Lean String cannot hold a lone surrogate
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _to_format(value: object) -> object:
    """Json.render: objects and arrays are `bracket` groups, each key/value pair its own group."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return _lean_escape(value)
    if isinstance(value, (list, tuple)):
        items: list[object] = [_to_format(v) for v in value]
        open_, close = "[", "]"
    elif isinstance(value, dict):
        # Lean stores object fields in an RBMap and renders them with a fold that prepends, so
        # they come out in reverse-lexicographic key order.
        items = [("group", [_lean_escape(k), ":", _LINE, _to_format(value[k])])
                 for k in sorted(value, reverse=True)]
        open_, close = "{", "}"
    else:
        raise TypeError(f"not JSON: {value!r}")
    body: list[object] = [open_]
    for i, item in enumerate(items):
        if i:
            body += [",", _LINE]
        body.append(item)
    body.append(close)
    return ("group", ("nest", 1, body))


def _space(fmt, flatten: bool, width: int):
    """spaceUptoLine: (found_line, space) of `fmt` up to its first line break."""
    if isinstance(fmt, str):
        return False, len(fmt)
    if fmt is _LINE:
        return (False, 1) if flatten else (True, 0)
    if isinstance(fmt, list):
        return _space_seq(((f, flatten) for f in fmt), width)
    if fmt[0] == "nest":
        return _space(fmt[2], flatten, width)
    return _space(fmt[1], True, width)  # a group inside is measured flattened


def _space_seq(pairs, width: int):
    """`merge` over a sequence: stop at the first line break or once the width is exceeded."""
    found, space = False, 0
    for fmt, flatten in pairs:
        if found or space > width:
            break
        found, extra = _space(fmt, flatten, width - space)
        space += extra
    return found, space


def _pending(groups):
    # Items still to print, top of the stack first (each group's items are stored reversed).
    for flatten, items in reversed(groups):
        for fmt, _indent in reversed(items):
            yield fmt, flatten


def lean_pretty(value, width: int = 80) -> str:
    """Lay out `value` exactly like Lean's `Json.pretty` (Format.be / pushGroup)."""
    out: list[str] = []
    col = 0
    groups: list[list] = [[False, [(_to_format(value), 0)]]]  # [flatten, items]; items[-1] is next
    while groups:
        group = groups[-1]
        if not group[1]:
            groups.pop()
            continue
        fmt, indent = group[1].pop()
        if isinstance(fmt, str):
            out.append(fmt)
            col += len(fmt)  # Lean counts columns in characters (code points)
        elif fmt is _LINE:
            if group[0]:
                out.append(" ")
                col += 1
            else:
                out.append("\n" + " " * indent)
                col = indent
        elif isinstance(fmt, list):
            group[1].extend((f, indent) for f in reversed(fmt))
        elif fmt[0] == "nest":
            group[1].append((fmt[2], indent + fmt[1]))
        elif group[0]:
            group[1].append((fmt[1], indent))  # flatten (group f) = flatten f
        else:
            # pushGroup: flatten the new group if it, plus what follows up to the next line
            # break of the enclosing groups, fits in the rest of the line.
            avail = max(width - col, 0)
            new = [True, [(fmt[1], indent)]]
            found, space = _space_seq(_pending([new]), avail)
            if not (found or space > avail):
                _found, more = _space_seq(_pending(groups), avail - space)
                space += more
            new[0] = space <= avail
            groups.append(new)
    return "".join(out)
