"""Conformance with the real Lean REPL: every recorded transcript response parses into a typed
response, and its verdict matches a table derived by reading the files.

Table letters, one per response in order: P proved (no error, no sorry, no sorry warning; a
proof step whose proofStatus is "Completed"), I incomplete (a sorry or open goals), E error (an
error message, or a proofStatus "Error: …"), M a ``{"message": …}`` error object. The table was
derived from the raw JSON of each ``.expected.out`` file, independently of the bridge's parser.

71 pairs have recorded output (74 inputs: ``pickle_scoped_notation*.in`` and
``Mathlib/test/H20231214.in`` document known limitations and have none).
The 51 pairs of the default pin v4.9.0-rc1 have a table of their own (``VERDICTS_V49``).
"""
from __future__ import annotations

import json

import pytest

import lean_fake
from lean_bridge.outcome import Status, command_verdict, step_verdict
from lean_bridge.process import ReplProcess, ReplSpec
from lean_bridge.protocol import (
    CommandResponse,
    ProofStepResponse,
    ReplErrorResponse,
    decode_response_block,
    split_blocks,
)
from lean_bridge.tactic_mode import StepStatus, step_of

VERDICTS = {
    "Mathlib/test/20240209": "IE",
    "Mathlib/test/H20231020": "PPPP",
    "Mathlib/test/H20231110": "PP",
    "Mathlib/test/H20231115": "PII",
    "Mathlib/test/H20231115_2": "PI",
    "Mathlib/test/H20231115_3": "PE",
    "Mathlib/test/H20231215": "PP",
    "Mathlib/test/H20231215_2": "PI",
    "Mathlib/test/exact": "PIPIM",
    "Mathlib/test/file_env": "PIP",
    "Mathlib/test/induction": "PIIII",
    "Mathlib/test/line_breaks": "PI",
    "Mathlib/test/on_goal": "PII",
    "Mathlib/test/pickle": "PII",
    "Mathlib/test/pickle_2": "II",
    "Mathlib/test/placeholder_synthesis": "PEIII",
    "all_tactics": "P",
    "all_tactics-20250622": "PP",
    "app_type_mismatch": "EIIII",
    "app_type_mismatch2": "EIIIEIM",
    "assumption_proof": "IP",
    "by_cases": "IIII",
    "calc": "I",
    "def_eval": "PP",
    "dup_msg": "PPE",
    "dup_sorries": "II",
    "file": "P",
    "file2": "P",
    "file_env": "PPP",
    "have_by_sorry": "EII",
    "import_lean": "P",
    "incomplete": "EE",
    "infotree": "P",
    "infotree_theorem": "P",
    "invalid_line_break": "EE",
    "invalid_tactic": "IE",
    "line_breaks": "EIP",
    "name_generator": "IIIIIIIEE",
    "no_goal_sorry": "E",
    "no_goal_sorry_2": "E",
    "options": "PPP",
    "pickle_environment": "PPPP",
    "pickle_environment_with_imports": "PPPPP",
    "pickle_open": "PPPP",
    "pickle_open_2": "PP",
    "pickle_open_scoped": "PPIP",
    "pickle_open_scoped_2": "PI",
    "pickle_proof_state_1": "PIIIIIIP",
    "pickle_proof_state_2": "IP",
    "pickle_proof_state_env": "PIIIIIIP",
    "proof_branching": "IIIIP",
    "proof_branching2": "IIIIIIP",
    "proof_step": "IIIP",
    "proof_transitivity": "IPIP",
    "readme": "IIP",
    "root_goals": "IPP",
    "self_proof_apply_check": "EIE",
    "self_proof_check": "EIMIMIMIM",
    "self_proof_exact_check": "EIE",
    "self_proof_rw": "EIE",
    "sorry_hypotheses": "II",
    "synthesize_placeholder": "E",
    "tactic_mode_sorry": "II",
    "tactic_sorry": "I",
    "term_sorry": "I",
    "trace_simp": "PPPPIIPP",
    "unfinished_tactic_block": "E",
    "unknown_environment": "M",
    "unknown_proof_state": "IM",
    "unknown_tactic": "IM",
    "variables": "PPI",
}

# The default pin's 51 pairs (``lean-repl-transcripts-v4.9``), lettered the same way from their
# raw JSON. v4.9 has no ``proofStatus``: a proof step is P only with no goals left, no error
# message and no sorries (the transcripts' README); ``endPos`` may be null.
VERDICTS_V49 = {
    "Mathlib/test/20240209": "IE",
    "Mathlib/test/H20231020": "PPPP",
    "Mathlib/test/H20231110": "PP",
    "Mathlib/test/H20231115": "PII",
    "Mathlib/test/H20231115_2": "PI",
    "Mathlib/test/H20231115_3": "PE",
    "Mathlib/test/H20231215": "PP",
    "Mathlib/test/H20231215_2": "PI",
    "Mathlib/test/exact": "PIPIM",
    "Mathlib/test/induction": "PIIII",
    "Mathlib/test/on_goal": "PII",
    "Mathlib/test/pickle": "PII",
    "Mathlib/test/pickle_2": "II",
    "all_tactics": "P",
    "by_cases": "IIII",
    "calc": "I",
    "def_eval": "PP",
    "dup_msg": "PPE",
    "dup_sorries": "II",
    "enableInitializersExecution": "P",
    "file": "P",
    "have_by_sorry": "EII",
    "incomplete": "EE",
    "infotree": "P",
    "invalid_tactic": "IE",
    "name_generator": "IIPPPPPEE",
    "no_goal_sorry": "E",
    "no_goal_sorry_2": "E",
    "options": "PPP",
    "pickle_environment": "PPPP",
    "pickle_environment_with_imports": "PPPPP",
    "pickle_open": "PPPP",
    "pickle_open_2": "PP",
    "pickle_open_scoped": "PPIP",
    "pickle_open_scoped_2": "PI",
    "pickle_proof_state_1": "PIIIIIIP",
    "pickle_proof_state_2": "IP",
    "pickle_proof_state_env": "PIIIIIIP",
    "proof_step": "IIIP",
    "readme": "IIP",
    "sorry_hypotheses": "II",
    "synthesize_placeholder": "E",
    "tactic_mode_sorry": "II",
    "tactic_sorry": "I",
    "term_sorry": "I",
    "trace_simp": "PPPPIIPP",
    "unfinished_tactic_block": "E",
    "unknown_environment": "M",
    "unknown_proof_state": "IM",
    "unknown_tactic": "IM",
    "variables": "PPI",
}

LETTER = {Status.PROVED: "P", Status.INCOMPLETE: "I", Status.ERROR: "E"}


def transcript_dir(shared):
    return shared / "reference" / "lean-repl-transcripts"


def letter(response) -> str:
    if isinstance(response, ReplErrorResponse):
        return "M"
    if isinstance(response, ProofStepResponse):
        return LETTER[step_verdict(response).status]
    return LETTER[command_verdict(response).status]


def request_blocks(text: str) -> list[dict]:
    # As the REPL (v4.22+) reads them: each line right-trimmed, the lines of a block glued.
    return [json.loads("".join(line.rstrip() for line in block.splitlines()))
            for block in text.split("\n\n") if block.strip()]


def test_every_recorded_pair_is_in_the_table(shared):
    found = sorted(
        str(p.relative_to(transcript_dir(shared)))[: -len(".expected.out")]
        for p in transcript_dir(shared).rglob("*.expected.out")
    )
    assert found == sorted(VERDICTS)
    assert len(found) == 71


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_transcript_parses_and_verdicts_match(shared, name):
    base = transcript_dir(shared) / name
    raw = (base.parent / (base.name + ".expected.out")).read_bytes()
    responses = [decode_response_block(block) for block in split_blocks(raw)]
    requests = request_blocks((base.parent / (base.name + ".in")).read_text())
    assert len(responses) == len(requests)
    assert "".join(letter(r) for r in responses) == VERDICTS[name]
    # Proof steps answer tactic requests, commands answer commands/files/pickles.
    for request, response in zip(requests, responses):
        if isinstance(response, ProofStepResponse):
            assert {"proofState", "unpickleProofStateFrom"} & set(request)
        if isinstance(response, CommandResponse):
            assert {"cmd", "path", "pickleTo", "unpickleEnvFrom"} & set(request)


def _recorded_steps(shared) -> list[tuple[str, ProofStepResponse]]:
    steps = []
    for name in sorted(VERDICTS):
        raw = (transcript_dir(shared) / (name + ".expected.out")).read_bytes()
        steps += [(name, r) for r in map(decode_response_block, split_blocks(raw))
                  if isinstance(r, ProofStepResponse)]
    return steps


def test_tactic_mode_uses_the_step_verdict_of_every_recorded_step(shared):
    """Production's tactic-mode rule (``ProofSession.run_tactic`` → ``step_of``) agrees with
    the transcript table on every recorded proof step: completed only for P, an error for E,
    and an incomplete step is somewhere to go on from unless it left a sorry (a dead end)."""
    steps = _recorded_steps(shared)
    assert len(steps) > 40
    seen = set()
    for name, response in steps:
        step = step_of(response)
        mark = LETTER[step.verdict]
        assert mark == LETTER[step_verdict(response).status], name
        expected = {"P": StepStatus.COMPLETED, "E": StepStatus.ERROR}.get(
            mark, StepStatus.ERROR if response.sorries else StepStatus.OPEN)
        assert step.status is expected, (name, response)
        assert step.goals == tuple(response.goals) and step.proof_state == response.proof_state
        seen.add((mark, step.status))
    # Every branch of the rule is exercised by real answers.
    assert {("P", StepStatus.COMPLETED), ("E", StepStatus.ERROR), ("I", StepStatus.OPEN),
            ("I", StepStatus.ERROR)} <= seen


def test_a_kernel_rejection_in_proof_status_is_an_error_not_an_open_state(shared):
    # self_proof_exact_check: no error message, no goals, proofStatus "Error: kernel …". A rule
    # reading only messages and sorries would call it an open state with no goals.
    kernel = [r for name, r in _recorded_steps(shared) if name == "self_proof_exact_check"
              and (r.proof_status or "").startswith("Error: kernel")]
    assert kernel and not kernel[0].messages and not kernel[0].goals
    step = step_of(kernel[0])
    assert step.status is StepStatus.ERROR and step.verdict is Status.ERROR
    assert step.error is not None and step.error.startswith("Error: kernel type check failed")


def test_env_numbers_count_up_in_a_fresh_process(shared):
    raw = (transcript_dir(shared) / "pickle_environment.expected.out").read_bytes()
    envs = [decode_response_block(b).env for b in split_blocks(raw)]
    # pickleTo answers the env it pickled; unpickling appends a new one.
    assert envs == [0, 0, 1, 2]


def test_positions_are_code_points(shared):
    raw = (transcript_dir(shared) / "proof_branching.expected.out").read_bytes()
    first = decode_response_block(split_blocks(raw)[0])
    request = request_blocks((transcript_dir(shared) / "proof_branching.in").read_text())[0]
    sorry = first.sorries[0]
    line = request["cmd"].splitlines()[sorry.pos.line - 1]
    assert line[sorry.pos.column:].startswith("sorry")
    assert len(line[: sorry.pos.column].encode("utf-8")) != sorry.pos.column  # bytes would be wrong


@pytest.mark.parametrize("name", ["def_eval", "proof_branching", "app_type_mismatch2",
                                  "trace_simp", "self_proof_check", "Mathlib/test/induction"])
async def test_client_reads_real_bytes_through_a_pipe(shared, name):
    """The fake REPL replays the recorded stdout byte for byte; the client must frame it."""
    base = transcript_dir(shared) / name
    expected = [decode_response_block(b) for b in
                split_blocks((base.parent / (base.name + ".expected.out")).read_bytes())]
    requests = request_blocks((base.parent / (base.name + ".in")).read_text())
    spec = ReplSpec(lean_fake.command("--replay", str(base.parent / (base.name + ".expected.out"))))
    process = await ReplProcess(spec).start()
    try:
        got = [await process.request(r, timeout=10) for r in requests]
    finally:
        await process.close()
    assert got == expected


def v49_dir(shared):
    return shared / "reference" / "lean-repl-transcripts-v4.9"


def test_every_recorded_v49_pair_is_in_its_table(shared):
    found = sorted(str(p.relative_to(v49_dir(shared)))[: -len(".expected.out")]
                   for p in v49_dir(shared).rglob("*.expected.out"))
    assert found == sorted(VERDICTS_V49) and len(found) == 51


@pytest.mark.parametrize("name", sorted(VERDICTS_V49))
def test_v49_transcript_parses_and_verdicts_match(shared, name):
    base = v49_dir(shared) / name
    raw = (base.parent / (base.name + ".expected.out")).read_bytes()
    responses = [decode_response_block(block) for block in split_blocks(raw)]
    # No v4.9 input has a request spread over lines, so raw and glued framing agree here.
    requests = request_blocks((base.parent / (base.name + ".in")).read_text())
    assert len(responses) == len(requests)
    assert "".join(letter(r) for r in responses) == VERDICTS_V49[name]
