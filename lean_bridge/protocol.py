"""The Lean REPL wire protocol: typed requests and responses, and the framing rules.

Contract (leanprover-community/repl, `REPL/Main.lean` and `REPL/JSON.lean`):

* A request is one line of JSON followed by one blank line. Never a raw newline inside
  (before v4.22 it crashes the REPL, after it the tokens are glued), never an extra blank
  line (it is parsed as JSON and kills the process), never a block starting with ``#`` or
  ``--`` (the REPL skips it and sends no answer, so the client would wait forever).
* A response is a pretty-printed JSON object spread over several lines and terminated by a
  blank line. Its strings never hold a literal newline, so the first blank line ends it.
* Empty lists are omitted by the REPL: a missing key is an empty list here.

This module is pure: it knows nothing about processes. ``encode_request`` and
``parse_response`` are the only doors between Python values and bytes on the wire.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union


class ProtocolError(ValueError):
    """Bytes from the REPL that are not a response of a known shape."""


@dataclass(frozen=True)
class Pos:
    """A REPL position: ``line`` 1-based, ``column`` 0-based in Unicode code points.

    Code points are Python ``str`` indices, so ``text.splitlines()[line - 1][column]`` is the
    character at this position. Tactic-mode messages use ``Pos(0, 0)``.
    """

    line: int
    column: int

    @classmethod
    def from_json(cls, data: Any) -> "Pos | None":
        if data is None:
            return None
        return cls(int(data["line"]), int(data["column"]))

    def to_json(self) -> dict[str, int]:
        return {"line": self.line, "column": self.column}

    def shifted(self, lines: int) -> "Pos":
        """The same position in a text that has ``lines`` more lines before it."""
        return Pos(self.line + lines, self.column) if self.line > 0 else self


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class CommandRequest:
    """``{"cmd": …}``: elaborate Lean commands, on top of ``env`` or in a fresh environment."""

    cmd: str
    env: int | None = None
    all_tactics: bool = False
    root_goals: bool = False
    infotree: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cmd": self.cmd}
        if self.env is not None:
            out["env"] = self.env
        if self.all_tactics:
            out["allTactics"] = True
        if self.root_goals:
            out["rootGoals"] = True
        if self.infotree is not None:
            out["infotree"] = self.infotree
        return out


@dataclass(frozen=True)
class FileRequest:
    """``{"path": …}``: elaborate a file, relative to the REPL's working directory."""

    path: str
    env: int | None = None
    all_tactics: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.env is not None:
            out["env"] = self.env
        if self.all_tactics:
            out["allTactics"] = True
        return out


@dataclass(frozen=True)
class TacticRequest:
    """``{"tactic": …, "proofState": n}``: run one tactic (or a parenthesised sequence)."""

    tactic: str
    proof_state: int

    def to_json(self) -> dict[str, Any]:
        return {"tactic": self.tactic, "proofState": self.proof_state}


@dataclass(frozen=True)
class PickleEnvRequest:
    pickle_to: str
    env: int

    def to_json(self) -> dict[str, Any]:
        return {"pickleTo": self.pickle_to, "env": self.env}


@dataclass(frozen=True)
class UnpickleEnvRequest:
    unpickle_env_from: str

    def to_json(self) -> dict[str, Any]:
        return {"unpickleEnvFrom": self.unpickle_env_from}


@dataclass(frozen=True)
class PickleProofStateRequest:
    pickle_to: str
    proof_state: int

    def to_json(self) -> dict[str, Any]:
        return {"pickleTo": self.pickle_to, "proofState": self.proof_state}


@dataclass(frozen=True)
class UnpickleProofStateRequest:
    unpickle_proof_state_from: str
    env: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unpickleProofStateFrom": self.unpickle_proof_state_from}
        if self.env is not None:
            out["env"] = self.env
        return out


Request = Union[
    CommandRequest,
    FileRequest,
    TacticRequest,
    PickleEnvRequest,
    UnpickleEnvRequest,
    PickleProofStateRequest,
    UnpickleProofStateRequest,
]


def encode_request(request: Request | dict[str, Any]) -> bytes:
    """The exact bytes to write for one request: one JSON line and one blank line.

    ``ensure_ascii=False`` matters: Lean before lean4#8080 decoded ``\\uD835\\uDCE4``
    surrogate escapes (what Python emits for 𝓤) into NUL characters.
    """
    payload = request if isinstance(request, dict) else request.to_json()
    if not isinstance(payload, dict) or not payload:
        raise ValueError("a REPL request must be a non-empty JSON object")
    line = json.dumps(payload, ensure_ascii=False, separators=(", ", ": "))
    # json.dumps escapes control characters, so the line cannot contain a raw newline, and an
    # object always starts with "{", never with "#" or "--"; both are asserted because either
    # slip would kill or silently stall the REPL.
    assert "\n" not in line and line.startswith("{")
    return (line + "\n\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Responses


@dataclass(frozen=True)
class Message:
    severity: str  # "trace" | "info" | "warning" | "error"
    pos: Pos
    end_pos: Pos | None
    data: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Message":
        pos = Pos.from_json(data.get("pos")) or Pos(0, 0)
        return cls(str(data["severity"]), pos, Pos.from_json(data.get("endPos")), str(data["data"]))

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "pos": self.pos.to_json(),
            "endPos": self.end_pos.to_json() if self.end_pos else None,
            "data": self.data,
        }

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class Sorry:
    """A ``sorry`` the REPL saw; tactic-mode sorries have no position."""

    goal: str
    proof_state: int | None
    pos: Pos | None = None
    end_pos: Pos | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Sorry":
        ps = data.get("proofState")
        return cls(
            goal=str(data["goal"]),
            proof_state=None if ps is None else int(ps),
            pos=Pos.from_json(data.get("pos")),
            end_pos=Pos.from_json(data.get("endPos")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"goal": self.goal, "proofState": self.proof_state}
        if self.pos:
            out["pos"] = self.pos.to_json()
        if self.end_pos:
            out["endPos"] = self.end_pos.to_json()
        return out


@dataclass(frozen=True)
class Tactic:
    """One entry of ``allTactics``: ``goals`` is the state *before* the tactic."""

    tactic: str
    goals: str
    pos: Pos
    end_pos: Pos
    proof_state: int | None
    used_constants: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Tactic":
        ps = data.get("proofState")
        return cls(
            tactic=str(data["tactic"]),
            goals=str(data["goals"]),
            pos=Pos.from_json(data["pos"]) or Pos(0, 0),
            end_pos=Pos.from_json(data["endPos"]) or Pos(0, 0),
            proof_state=None if ps is None else int(ps),
            used_constants=tuple(data.get("usedConstants") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tactic": self.tactic,
            "goals": self.goals,
            "pos": self.pos.to_json(),
            "endPos": self.end_pos.to_json(),
            "proofState": self.proof_state,
            "usedConstants": list(self.used_constants),
        }


@dataclass(frozen=True)
class CommandResponse:
    env: int
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    tactics: tuple[Tactic, ...] = ()
    infotree: Any = None

    @property
    def errors(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.is_error)


@dataclass(frozen=True)
class ProofStepResponse:
    proof_state: int
    goals: tuple[str, ...]
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    traces: tuple[str, ...] = ()
    # Absent before REPL v4.19 (upstream PR #63); None then, and callers must decide
    # completion without it (see outcome.tactic_finished).
    proof_status: str | None = None

    @property
    def errors(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.is_error)


@dataclass(frozen=True)
class ReplErrorResponse:
    """``{"message": …}``: the REPL refused the request (unknown env, a tactic that threw)."""

    message: str


Response = Union[CommandResponse, ProofStepResponse, ReplErrorResponse]

_COMMAND_KEYS = {"env", "messages", "sorries", "tactics", "infotree"}
_PROOF_STEP_KEYS = {"proofState", "goals", "messages", "sorries", "traces", "proofStatus"}


def parse_response(data: Any) -> Response:
    """Classify a decoded response by its keys (the REPL sends no type tag).

    Raises ProtocolError for anything that is not one of the three documented shapes, so an
    unknown shape is loud rather than silently read as "no errors".
    """
    if not isinstance(data, dict):
        raise ProtocolError(f"response is not a JSON object: {data!r:.200}")
    keys = set(data)
    try:
        if keys == {"message"}:
            return ReplErrorResponse(str(data["message"]))
        if "proofState" in keys and "goals" in keys and keys <= _PROOF_STEP_KEYS:
            return ProofStepResponse(
                proof_state=int(data["proofState"]),
                goals=tuple(str(g) for g in data["goals"]),
                messages=tuple(Message.from_json(m) for m in data.get("messages") or ()),
                sorries=tuple(Sorry.from_json(s) for s in data.get("sorries") or ()),
                traces=tuple(str(t) for t in data.get("traces") or ()),
                proof_status=data.get("proofStatus"),
            )
        if "env" in keys and keys <= _COMMAND_KEYS:
            return CommandResponse(
                env=int(data["env"]),
                messages=tuple(Message.from_json(m) for m in data.get("messages") or ()),
                sorries=tuple(Sorry.from_json(s) for s in data.get("sorries") or ()),
                tactics=tuple(Tactic.from_json(t) for t in data.get("tactics") or ()),
                infotree=data.get("infotree"),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed response ({exc!r}): {json.dumps(data)[:300]}") from exc
    raise ProtocolError(f"unknown response shape with keys {sorted(keys)}")


def decode_response_block(lines: list[bytes]) -> Response:
    """Decode the lines of one response block (without its terminating blank line)."""
    try:
        text = b"".join(lines).decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        preview = b"".join(lines)[:300].decode("utf-8", "replace")
        raise ProtocolError(f"REPL wrote something that is not JSON: {preview!r}") from exc
    return parse_response(data)


def is_block_end(line: bytes) -> bool:
    """A line that ends a response block: blank after stripping (the REPL prints ``"\\n\\n"``)."""
    return not line.strip()


def split_blocks(raw: bytes) -> list[list[bytes]]:
    """Split a captured stdout into response blocks, for replaying recorded transcripts."""
    blocks: list[list[bytes]] = []
    current: list[bytes] = []
    for line in raw.splitlines(keepends=True):
        if is_block_end(line):
            if current:
                blocks.append(current)
            current = []
        else:
            current.append(line)
    if current:
        blocks.append(current)
    return blocks

