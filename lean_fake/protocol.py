"""The request side of the wire protocol: a block of text becomes (kind, request), or the
REPL's uncaught exception (`Fatal`)."""
from __future__ import annotations

import json

from lean_fake.reader import ASCII_WS


class Fatal(Exception):
    """An exception the REPL does not catch: it reaches `main` and kills the process."""


def _nat(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _str(v) -> bool:
    return isinstance(v, str)


def _bool(v) -> bool:
    return isinstance(v, bool)


_CMD_OPTS = [("env", _nat, False), ("allTactics", _bool, False), ("rootGoals", _bool, False),
             ("infotree", _str, False)]
# (kind, [(field, type check, required)]) in the order `parse` in REPL/Main.lean tries them.
SHAPES = [
    ("proofStep", [("tactic", _str, True), ("proofState", _nat, True)]),
    ("pickleEnvironment", [("pickleTo", _str, True), ("env", _nat, True)]),
    ("unpickleEnvironment", [("unpickleEnvFrom", _str, True)]),
    ("pickleProofState", [("pickleTo", _str, True), ("proofState", _nat, True)]),
    ("unpickleProofState", [("unpickleProofStateFrom", _str, True), ("env", _nat, False)]),
    ("command", [("cmd", _str, True)] + _CMD_OPTS),
    ("file", [("path", _str, True)] + _CMD_OPTS),
]


def classify(obj):
    """Return (kind, request) or raise Fatal with the REPL's message. Missing and null fields
    are the same thing to Lean's derived FromJson (`getObjValD` gives null)."""
    last_error = "object expected"
    for kind, fields in SHAPES:
        ok = isinstance(obj, dict)
        for name, check, required in fields:
            if not ok:
                break
            value = obj.get(name)
            if value is None:
                if required:
                    ok, last_error = False, f"property not found: {name}"
            elif not check(value):
                ok, last_error = False, f"{name}: unexpected value {json.dumps(value)}"
        if ok:
            return kind, obj
    raise Fatal("Could not parse as a valid JSON command:\n" + last_error)


def parse_query(query: str):
    try:
        obj = json.loads(query, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        offset = len(query[:e.pos].encode("utf-8"))  # Lean reports a byte offset
        if e.msg == "Expecting value" and not query[e.pos:].strip(ASCII_WS):
            msg = "unexpected end of input"
        elif e.msg == "Extra data":
            msg = "expected end of input"
        elif e.msg.startswith("Invalid control character"):
            msg = "unexpected character in string"  # a raw line break inside a string
        else:
            msg = e.msg[:1].lower() + e.msg[1:]
        raise Fatal(f"Could not parse JSON:\noffset {offset}: {msg}") from None
    except (ValueError, RecursionError) as e:
        raise Fatal(f"Could not parse JSON:\n{e}") from None
    return classify(obj)


def _reject_constant(name):
    raise ValueError(f"unexpected character in {name}")
