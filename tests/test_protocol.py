"""Framing and typed requests/responses, without any process."""
from __future__ import annotations

import json

import pytest

from lean_bridge.protocol import (
    CommandRequest,
    CommandResponse,
    Pos,
    ProofStepResponse,
    ProtocolError,
    ReplErrorResponse,
    TacticRequest,
    decode_response_block,
    encode_request,
    parse_response,
    split_blocks,
)


def test_request_is_one_line_then_one_blank_line():
    raw = encode_request(CommandRequest(cmd="theorem t : 1 = 1 := by\n  rfl", env=3, all_tactics=True))
    assert raw.endswith(b"\n\n") and raw.count(b"\n") == 2
    assert json.loads(raw) == {"cmd": "theorem t : 1 = 1 := by\n  rfl", "env": 3, "allTactics": True}


def test_non_ascii_is_sent_raw_not_as_surrogate_escapes():
    raw = encode_request(CommandRequest(cmd="theorem t (x : 𝓤) : x = x := rfl"))
    assert "𝓤".encode() in raw and b"\\ud835" not in raw.lower()


def test_keys_are_camel_case_and_optional_keys_are_omitted():
    assert json.loads(encode_request(CommandRequest(cmd="x"))) == {"cmd": "x"}
    assert json.loads(encode_request(TacticRequest("simp", 4))) == {"tactic": "simp", "proofState": 4}


def test_empty_request_is_refused():
    with pytest.raises(ValueError):
        encode_request({})


def test_missing_lists_are_empty():
    response = parse_response({"env": 2})
    assert response == CommandResponse(env=2)
    assert response.messages == () and response.sorries == () and response.tactics == ()


def test_classification_by_keys():
    assert isinstance(parse_response({"message": "Unknown environment."}), ReplErrorResponse)
    step = parse_response({"proofState": 1, "goals": ["⊢ Nat"]})
    assert isinstance(step, ProofStepResponse) and step.proof_status is None
    assert parse_response({"proofState": 2, "goals": [], "proofStatus": "Completed"}).proof_status == "Completed"


@pytest.mark.parametrize("bad", [[], {"weird": 1}, {"env": "x"}, {"env": 0, "unexpected": []},
                                 {"proofState": 1, "goals": [], "cmd": "x"}])
def test_unknown_shapes_are_loud(bad):
    with pytest.raises(ProtocolError):
        parse_response(bad)


def test_blocks_split_on_blank_lines_and_garbage_is_a_protocol_error():
    raw = b'{"env": 0}\n\n{"messages":\n [],\n "env": 1}\n\n'
    blocks = split_blocks(raw)
    assert [decode_response_block(b).env for b in blocks] == [0, 1]
    with pytest.raises(ProtocolError):
        decode_response_block([b"PANIC at something\n"])


def test_positions_shift_but_tactic_mode_zero_positions_stay():
    assert Pos(3, 4).shifted(7) == Pos(10, 4)
    assert Pos(0, 0).shifted(7) == Pos(0, 0)
