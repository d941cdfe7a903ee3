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
  own rule; useful with the automation portfolio, which may close each part separately
  where it cannot close the whole.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lean_bridge.text import find_identifier, mask_non_code, normalize_statement
from prover.policies.policy import ChatMessage, GenerationRequest, Policy
from prover.policies.portfolio import parse_statement
from prover.policies.prompts import (
    FENCE,
    V2_PREAMBLE,
    chat_prompt,
    proof_from_full_file,
    sorry_file,
)
from search.problem import Problem
from search.protocols import Proposal

# Our wording (REF §10.3 describes the shape; the V3 prompt itself is unpublished).
DECOMPOSE_INSTRUCTION = (
    "\n\nDo not prove the theorem completely. Instead, break its proof into intermediate "
    "steps and write a Lean 4 proof sketch: state each step as `have name : statement := by "
    "sorry`, then close the theorem from those steps. Give the sketch as a single ```lean4 "
    "code block containing the whole theorem.")
SKETCH_STYLES = ("decompose", "deepseek-v2-cot")

_OPEN_RE = re.compile(r"```lean4?[ \t]*\r?\n")


def sketch_messages(problem: Problem, style: str = "decompose") -> tuple[ChatMessage, ...]:
    """The chat that asks for a sketch of ``problem`` (module docstring for the sources)."""
    if style == "deepseek-v2-cot":
        return chat_prompt(problem, cot=True)
    if style == "decompose":
        return (ChatMessage("user", V2_PREAMBLE + sorry_file(problem) + "\n" + FENCE
                            + DECOMPOSE_INSTRUCTION),)
    raise ValueError(f"unknown sketch style {style!r}; known: {', '.join(SKETCH_STYLES)}")


def lean4_blocks(text: str) -> list[str]:
    """Every fenced ``lean4``/``lean`` block, in order; an unclosed last one runs to the end."""
    blocks, pos = [], 0
    while (m := _OPEN_RE.search(text, pos)) is not None:
        close = text.find(FENCE, m.end())
        blocks.append(text[m.end():] if close < 0 else text[m.end():close])
        if close < 0:
            break
        pos = close + len(FENCE)
    return blocks


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
                             temperature: float = 1.0) -> list[Proposal]:
        if prefix or tactic_state is not None:
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


# -- the structural sketcher ----------------------------------------------------------------------

_OPENERS, _CLOSERS = "([{⟨⦃⟦", ")]}⟩⦄⟧"
_FUN_RE = re.compile(r"(?<![\w'.])fun(?![\w'!?])")


def _split_top(text: str, op: str) -> list[str]:
    """``text`` cut at ``op`` outside brackets and before any binder (``∀ ∃ λ fun``, whose
    body runs to the end), parts stripped."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth = max(depth - 1, 0)
        elif depth == 0 and (c in "∀∃λ" or _FUN_RE.match(text, i)):
            break
        elif depth == 0 and text.startswith(op, i):
            parts.append(text[start:i].strip())
            start = i + len(op)
    parts.append(text[start:].strip())
    return parts


def _strip_parens(text: str) -> str:
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, c in enumerate(text):
            depth += c in _OPENERS
            depth -= c in _CLOSERS
            if depth == 0 and i < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


def structural_steps(target: str) -> tuple[list[tuple[str, str]], str] | None:
    """``([(name, statement), …], closing tactic)`` for a target that splits: ``A ↔ B``
    into its two directions, ``A ∧ B ∧ …`` into its conjuncts; None otherwise. Lean's
    precedence, loosest first: ``↔``, ``→``, ``∨``, ``∧``."""
    t = _strip_parens(normalize_statement(target))
    iff = _split_top(t, "↔")
    if len(iff) == 2 and all(iff):
        a, b = iff
        steps = [("h_mp", f"{a} → {b}"), ("h_mpr", f"{b} → {a}")]
    elif len(iff) > 2 or len(_split_top(t, "→")) > 1 or len(_split_top(t, "∨")) > 1:
        return None
    else:
        parts = _split_top(t, "∧")
        if len(parts) < 2 or not all(parts):
            return None
        steps = [(f"h_part{k}", _strip_parens(p)) for k, p in enumerate(parts, start=1)]
    return steps, "exact ⟨" + ", ".join(n for n, _ in steps) + "⟩"


def structural_sketch(problem: Problem) -> str | None:
    """The structural split of ``problem`` as a sketch continuing its statement, names
    made fresh against the statement's; None when the target does not split."""
    found = structural_steps(parse_statement(problem.statement).target)
    if found is None:
        return None
    steps, close = found
    words = set(re.findall(r"[\w'.]+", mask_non_code(problem.statement)))
    renames = {}
    for name, _ in steps:
        fresh = name
        while fresh in words:
            fresh += "'"
        renames[name] = fresh
    for old, new in renames.items():
        close = re.sub(rf"(?<![\w']){re.escape(old)}(?![\w'])", new, close)
    body = "".join(f"  have {renames[n]} : {s} := by sorry\n" for n, s in steps) + f"  {close}\n"
    code = mask_non_code(problem.statement).rstrip()
    if code.endswith(":="):
        return " by\n" + body
    return body if problem.statement.endswith("\n") else "\n" + body


class StructuralSketcher:
    """``structural_sketch`` as a ``ProofProposer``: at most one sketch, whatever ``n``."""

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0) -> list[Proposal]:
        del seed, temperature  # deterministic
        if prefix or tactic_state is not None or n < 1:
            return []
        sketch = structural_sketch(problem)
        return [] if sketch is None else [Proposal(sketch, None, len(sketch.split()))]


__all__ = [
    "DECOMPOSE_INSTRUCTION", "LMSketcher", "SKETCH_STYLES", "StructuralSketcher",
    "extract_sketch", "lean4_blocks", "sketch_messages", "structural_sketch", "structural_steps",
]
