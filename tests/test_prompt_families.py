"""Golden strings for every model family's prompt format (shared/reference/prompts.md).

Each expected string is written from prompts.md's quoted source (Python literals there, with
the upstream rule that fills them applied to a real miniF2F row read from /work/shared),
never from this implementation's output. Extraction cases follow the same sections.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pytest

from prover.policies.policy import ChatMessage, Completion, GenerationRequest
from prover.policies.prompts import PROMPT_FORMATS, get_format
from prover.policies.proposer import LMProposer
from search.problem import Problem

# prompts.md §6 (Goedel-Prover-V2 `DeepSeekCoTHandler.prover_inference`), verbatim.
V2_COT_TEXT = (
    "\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
    "detailed proof plan outlining the main proof steps and strategies.\nThe plan should "
    "highlight key ideas, intermediate lemmas, and proof structures that will guide the "
    "construction of the final formal proof.")
DEFAULT_HEAD = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
                "open BigOperators Real Nat Topology Rat\n\n")


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _problem(row: dict) -> Problem:
    return Problem(row["name"], row["header"], row["formal_statement"], row["informal_prefix"])


@pytest.fixture(scope="module")
def minif2f(shared: Path) -> list[dict]:
    return _rows(shared / "benchmarks" / "minif2f.jsonl")


@pytest.fixture(scope="module")
def row(minif2f: list[dict]) -> dict:
    return minif2f[0]


def _lean4_code(row: dict) -> str:
    """Goedel-V2's ``lean4_code`` field: header + docstring + statement (its dataset rows)."""
    return row["header"] + row["informal_prefix"] + row["formal_statement"]


@dataclass
class ScriptedPolicy:
    texts: list[str]
    name: str = "scripted"
    requests: list[GenerationRequest] = field(default_factory=list)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.requests.extend(requests)
        return [[Completion(t, tokens=len(t)) for t in self.texts[:r.n]] for r in requests]

    async def close(self) -> None:
        return None


# -- Goedel-Prover-V2 (§6) ---------------------------------------------------------------------

def goedel_v2_reference(row: dict) -> str:
    # §6: formal_statement = lean4_code.split(":= by")[0] + ":= by sorry", then the F-string.
    formal_statement = _lean4_code(row).split(":= by")[0] + ":= by sorry"
    return ("Complete the following Lean 4 code:\n\n```lean4\n" + formal_statement + "```"
            + V2_COT_TEXT)


def test_goedel_v2_first_round_is_one_user_message(row):
    fmt = get_format("goedel-v2")
    assert fmt.chat and fmt.output == "file" and fmt.stop == ()
    messages = fmt.build(_problem(row), "", None).messages
    assert messages == (ChatMessage("user", goedel_v2_reference(row)),)
    content = messages[0].content
    # the closing fence directly after `sorry`, on the theorem's own line
    assert ":= by sorry```\n\nBefore producing" in content
    assert "sorry\n```" not in content
    assert content.startswith("Complete the following Lean 4 code:\n\n```lean4\n" + DEFAULT_HEAD
                              + row["informal_prefix"] + "theorem " + row["name"])


def test_goedel_v2_message_matches_upstream_rule_on_every_minif2f_row(minif2f):
    fmt = get_format("goedel-v2")
    for r in minif2f:
        assert fmt.build(_problem(r), "", None).messages[0].content == goedel_v2_reference(r), \
            r["name"]


def test_goedel_v2_refuses_a_prefix(row):
    with pytest.raises(ValueError):
        get_format("goedel-v2").build(_problem(row), "  simp\n", None)


def test_goedel_v2_extraction_takes_the_last_closed_block():
    fmt = get_format("goedel-v2")
    answer = ("### Detailed Proof\n```lean4\ntheorem a : 1 = 1 := by\n  sorry\n```\n"
              "### Complete Lean 4 Proof\n```lean4\ntheorem a : 1 = 1 := by\n  rfl\n```\n")
    assert fmt.extract(answer) == "theorem a : 1 = 1 := by\n  rfl"
    # a final block left open is no answer: the last closed one counts (upstream regexes)
    assert fmt.extract("```lean4\nA\n```\n```lean4\nB cut off") == "A"
    # fallbacks: closed without a newline before the fence, then a ```lean block
    assert fmt.extract("```lean4\ntheorem a : True := trivial```") == "theorem a : True := trivial"
    assert fmt.extract("```lean\nexample : True := trivial\n```") == "example : True := trivial\n"
    assert fmt.extract("no code here") == ""


@pytest.mark.parametrize("tactic", ["apply?", "exact?"])
def test_goedel_v2_refuses_search_tactics(tactic):
    text = f"```lean4\ntheorem a : 1 = 1 := by\n  {tactic}\n```"
    assert get_format("goedel-v2").extract(text) == ""


def test_goedel_v2_through_the_proposer_grafts_the_proof(row):
    p = _problem(row)
    good = ("plan...\n```lean4\n" + _lean4_code(row).split(":= by")[0] + ":= by sorry\n```\n"
            "### Complete Lean 4 Proof\n```lean4\n" + DEFAULT_HEAD + row["formal_statement"]
            + "  norm_num\n  ring\n```\n")
    refused = "```lean4\n" + row["formal_statement"] + "  exact?\n```"
    policy = ScriptedPolicy([good, refused, "no block at all"])
    proposer = LMProposer(policy, get_format("goedel-v2"))
    out = asyncio.run(proposer.propose_proofs(p, 3))
    assert [o.text for o in out] == ["  norm_num\n  ring\n"]
    assert proposer.dropped == 2
    assert policy.requests[0].messages == (ChatMessage("user", goedel_v2_reference(row)),)
    assert policy.requests[0].stop == ()


def test_every_format_is_registered_under_its_name():
    for name, fmt in PROMPT_FORMATS.items():
        assert fmt.name == name
    assert "goedel-v2" in PROMPT_FORMATS
