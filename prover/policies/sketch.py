"""Sketchers: proposers of proof sketches, proofs made of ``have name : P := by sorry`` steps
and a closing step, for subgoal decomposition (``search.decompose``).

A sketcher is a ``ProofProposer`` (``prover.policies.proposer``): its proposals continue
``problem.statement`` like any proof, they just leave ``sorry`` gaps for the decomposition
to fill. Two here:

* ``LMSketcher``: a chat model asked for a sketch. Where the words come from (``REF`` =
  shared/reference/deepseek-prover.md): DeepSeek-Prover-V2 got its sketches from
  DeepSeek-V3 with a prompt that is NOT published (REF §10.3), so there is no prompt to
  copy. Style ``"deepseek-v2-cot"`` uses the V2 CoT message verbatim (REF §10.2), whose
  answers hold a ``have … := by sorry`` sketch block before the complete proof; style
  ``"decompose"`` (the default) is the V2 user message (REF §10.2) followed by an
  instruction in OUR OWN words, ``DECOMPOSE_INSTRUCTION``, asking for the §10.3 shape.
  From an answer, the last fenced ``lean4`` block that holds a ``sorry`` is the sketch (a
  block without one, a complete proof, is taken when there is no sketch).
* ``StructuralSketcher``: no model. It splits a conjunction target into one ``have`` per
  conjunct and an ``↔`` into its two directions, closed by an anonymous constructor. Our
  own rule, in ``search.structural`` (decomposition uses it without any model); re-exported
  here with the model sketchers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lean_bridge.goals import lean4_blocks
from lean_bridge.text import find_identifier
from prover.policies.policy import ChatMessage, GenerationRequest, Policy
from prover.policies.prompts import (
    FENCE,
    V2_PREAMBLE,
    chat_prompt,
    proof_from_full_file,
    sorry_file,
)
from search.problem import Problem
from search.protocols import Proposal
from search.structural import StructuralSketcher as StructuralSketcher
from search.structural import structural_sketch as structural_sketch
from search.structural import structural_steps as structural_steps

# Our wording (REF §10.3 describes the shape; the V3 prompt itself is unpublished).
DECOMPOSE_INSTRUCTION = (
    "\n\nDo not prove the theorem completely. Instead, break its proof into intermediate "
    "steps and write a Lean 4 proof sketch: state each step as `have name : statement := by "
    "sorry`, then close the theorem from those steps. Give the sketch as a single ```lean4 "
    "code block containing the whole theorem.")
SKETCH_STYLES = ("decompose", "deepseek-v2-cot")

def sketch_messages(problem: Problem, style: str = "decompose") -> tuple[ChatMessage, ...]:
    """The chat that asks for a sketch of ``problem`` (module docstring for the sources)."""
    if style == "deepseek-v2-cot":
        return chat_prompt(problem, cot=True)
    if style == "decompose":
        return (ChatMessage("user", V2_PREAMBLE + sorry_file(problem) + "\n" + FENCE
                            + DECOMPOSE_INSTRUCTION),)
    raise ValueError(f"unknown sketch style {style!r}; known: {', '.join(SKETCH_STYLES)}")


def extract_sketch(problem: Problem, answer: str) -> str | None:
    """The sketch in a model's answer, as a proof continuing ``problem.statement``: the last
    block with a ``sorry``, else the last block; None when no block holds the theorem."""
    blocks = lean4_blocks(answer)
    with_gaps = [b for b in blocks if find_identifier(b, "sorry")]
    for block in reversed(with_gaps or blocks[-1:]):
        proof = proof_from_full_file(problem, block)
        if proof is not None:
            return proof
    return None


@dataclass
class LMSketcher:
    """A chat ``Policy`` asked for sketches; a ``ProofProposer`` whose proofs have gaps."""

    policy: Policy
    style: str = "decompose"
    max_tokens: int = 8192
    top_p: float = 0.95
    dropped: int = field(default=0)

    def __post_init__(self) -> None:
        sketch_messages(Problem("probe", "", "theorem probe : True := by\n"), self.style)

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        if prefix or tactic_state is not None or state_comment:
            raise ValueError("a sketcher writes whole proofs; it takes no prefix or tactic state")
        request = GenerationRequest(messages=sketch_messages(problem, self.style), n=n,
                                    temperature=temperature, top_p=self.top_p,
                                    max_tokens=self.max_tokens, seed=seed)
        out = []
        for c in (await self.policy.generate([request]))[0]:
            sketch = extract_sketch(problem, c.text)
            if sketch is None or not sketch.strip():
                self.dropped += 1
                continue
            out.append(Proposal(sketch, c.logprob, c.tokens))
        return out


__all__ = [
    "DECOMPOSE_INSTRUCTION", "LMSketcher", "SKETCH_STYLES", "StructuralSketcher",
    "extract_sketch", "sketch_messages", "structural_sketch", "structural_steps",
]
