"""The no-model policy: a deterministic, goal-aware portfolio of Lean automation.

Contract: from a theorem statement or a pretty-printed goal, propose whole proofs and
single tactics, best first, without a model, a GPU or Lean. Everything is a pure function
of the text (plus an optional seed); the same input gives the same list on any machine.
Nothing here knows whether a proposal works: Lean decides. The orderings are heuristics
(our choices, not measurements), written down in ``prover.policies.closers`` so they can
be tuned. This module renders the table's tactics as proofs and reads prompts back.

Goal-awareness, in short (``prover.policies.goal_info`` reads and classifies the goal,
``prover.policies.closers`` orders the tactics):

* hypotheses and variables are read from binders (``(x y : ℝ) (h₀ : 0 < x)``) or goal
  lines (``x y : ℝ``, ``h₀ : 0 < x``, ``⊢ …``); a binder is a hypothesis when its type is
  a proposition (a relation, a connective, a known predicate, or an ``h…`` name whose type
  is not a known sort);
* the target's shape (∀/→/¬, ∧, ↔, ∃, ∨, relation) and number domain (ℕ/ℤ, ℝ/ℚ, ℂ,
  other) pick the order: ℕ/ℤ first try ``omega``/``norm_num``/``decide``/``simp``; real
  inequalities ``nlinarith``/``positivity``; equalities ``ring_nf``/``field_simp``/
  ``linarith``; divisibility and ``%`` on numerals ``norm_num``/``decide``;
* hints NAME the statement's own hypotheses and variables: ``nlinarith [sq_nonneg (a -
  b), sq_nonneg (a + b), mul_pos ha hb, h₀, h₁]``; conjunctions are split (``h₀.1``).

``PortfolioPolicy`` serves the same proposals through the ``Policy`` interface (it reads
the statement or goal back out of any prompt ``prover.policies.prompts`` builds) and through the
``ProofProposer`` / ``TacticProposer`` protocols of ``prover.policies.proposer``.
"""
from __future__ import annotations

import random
import re
from typing import Sequence

from lean_bridge.goals import THEOREM_KINDS, extract_last_lean4_block
from lean_bridge.text import mask_non_code, parse_file
from prover.policies.closers import portfolio_tactics, ranked_tactics
from prover.policies.goal_info import GoalInfo, parse_goal, parse_statement
from prover.policies.policy import Completion, GenerationRequest, apply_stop
from prover.policies.prompts import tactic_indent
from search.problem import Problem
from search.protocols import Proposal, StepContext

FIXED_HEAD = 3  # with a seed, the first few stay in place; the rest are permuted


def _proof_block(statement: str, tactic: str, indent: int = 2) -> str:
    """``tactic`` as a proof that continues ``statement`` (``:= by\\n`` or ``:=``)."""
    code = mask_non_code(statement).rstrip()
    line = " " * indent + tactic + "\n"
    if code.endswith(":="):
        return " by\n" + line
    return line if statement.endswith("\n") else "\n" + line


def portfolio_proofs(problem: Problem) -> list[str]:
    """Whole proofs continuing ``problem.statement``: ``"  tac\\n"`` after ``:= by\\n``,
    ``" by\\n  tac\\n"`` after ``:=``. Only tactics meant to close the goal."""
    info = parse_statement(problem.statement)
    return [_proof_block(problem.statement, t) for t in ranked_tactics(info, closing_only=True)]


def _continuations(statement: str, prefix: str, info: GoalInfo, indent: int | None) -> list[str]:
    """Closing tactics rendered to continue ``statement + prefix``. With no prefix they are
    whole proofs; after a prefix they are lines at ``indent`` (from the tactic-state
    comment, else ``tactic_indent(prefix)``), on a fresh line."""
    tactics = ranked_tactics(info, closing_only=True)
    body = prefix if prefix.strip() not in ("", "by") else ""
    if not body:
        return [_proof_block(statement + prefix, t, 2 if indent is None else indent)
                for t in tactics]
    lead = "" if prefix.endswith("\n") else "\n"
    pad = " " * (tactic_indent(prefix) if indent is None else indent)
    return [f"{lead}{pad}{t}\n" for t in tactics]


def _pick(items: Sequence[str], n: int, seed: int | None) -> list[tuple[str, int]]:
    """``n`` items cycling through ``items`` (with their best-first rank). A seed permutes
    everything after the first ``FIXED_HEAD`` deterministically (``random.Random(seed)``)."""
    ranked = list(enumerate(items))
    if seed is not None:
        tail = ranked[FIXED_HEAD:]
        random.Random(seed).shuffle(tail)
        ranked = ranked[:FIXED_HEAD] + tail
    if not ranked:
        return []
    return [(ranked[i % len(ranked)][1], ranked[i % len(ranked)][0]) for i in range(n)]


def _proof_texts(problem: Problem, prefix: str, tactic_state: str | None) -> list[str]:
    info = parse_goal(tactic_state) if tactic_state is not None \
        else parse_statement(problem.statement)
    return _continuations(problem.statement, prefix, info, None)


def propose_proofs(problem: Problem, n: int, *, prefix: str = "",
                   tactic_state: str | None = None, seed: int | None = None) -> list[str]:
    """``n`` proof texts continuing ``problem.statement + prefix`` (see ``_continuations``);
    the goal is ``tactic_state`` when given, else the statement's."""
    return [t for t, _ in _pick(_proof_texts(problem, prefix, tactic_state), n, seed)]


def propose_tactics(goal: str, n: int, *, seed: int | None = None) -> list[tuple[str, float]]:
    """``n`` (tactic, score) pairs for a pretty-printed goal; score = -rank (a stand-in for
    a log-probability: higher is better, nothing more)."""
    return [(t, float(-rank)) for t, rank in _pick(portfolio_tactics(parse_goal(goal)), n, seed)]


# -- the policy -------------------------------------------------------------------------------

_NEXT_TACTIC_RE = re.compile(r"\[GOAL\]\n(.*?)\n\[PROOFSTEP\]", re.S)
_STATE_RE = re.compile(r"([ \t]*)/- tactic state:\n(.*?)\n[ \t]*-/[ \t]*\n?\s*$", re.S)


def _dedent_state(body: str, indent: int) -> str:
    cut = indent + 2
    return "\n".join(line[cut:] if line[:cut].isspace() else line.lstrip()
                     for line in body.split("\n"))


def _answers(request: GenerationRequest) -> list[str]:
    """Best-first answers to a request, read back from the formats of ``prover.policies.prompts``;
    none when the prompt holds neither a goal nor a theorem."""
    text = request.messages[-1].content if request.messages else request.prompt
    if (m := _NEXT_TACTIC_RE.search(text)) is not None:
        return portfolio_tactics(parse_goal(m.group(1)))
    code = extract_last_lean4_block(text)
    if code is None:
        return []
    if request.messages:
        return _file_answers(code)
    state, indent = None, None
    if (s := _STATE_RE.search(code)) is not None:
        indent = len(s.group(1))
        state = _dedent_state(s.group(2), indent)
        code = code[:s.start()]
    decls = [d for d in parse_file(code).declarations if d.kind in THEOREM_KINDS]
    if not decls:
        return []
    d = decls[-1]
    statement, prefix = code[:d.body_start], code[d.body_start:]
    info = parse_goal(state) if state is not None else parse_statement(code)
    # A completion model closes the block it continues: the request's stop string (V1.5's
    # fence) cuts the fence away, and formats without one (Goedel-Prover-SFT) read it.
    return [t + "```" for t in _continuations(statement, prefix, info, indent)]


def _file_answers(code: str) -> list[str]:
    """A chat prompt holds the whole file with a ``sorry`` proof; answer whole files, in a
    ``lean4`` block as chat models do."""
    decls = [d for d in parse_file(code).declarations if d.kind in THEOREM_KINDS]
    if not decls:
        return []
    head = code[:decls[-1].body_start]
    return [f"```lean4\n{head} by\n  {t}\n```"
            for t in ranked_tactics(parse_statement(code), closing_only=True)]


class PortfolioPolicy:
    """The portfolio as a ``Policy`` and as a ``ProofProposer``/``TacticProposer``.

    ``generate`` reads each request's prompt (or last chat message): a next-tactic prompt
    gives tactics; a fenced ``lean4`` block gives proofs continuing it, each closing the
    block with a fence (at the indent of a trailing ``/- tactic state: … -/`` comment, whose
    goal is then used); a chat request
    gets whole files in a ``lean4`` block, as chat models answer. ``n`` completions per
    request cycle through the best-first list (seeded permutation after the first few).
    ``logprob`` is -rank, a stand-in; ``tokens`` counts whitespace-separated words. A
    prompt it cannot read gets ``n`` empty completions. Temperature is ignored.
    """

    name = "portfolio"

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return [self._complete(r) for r in requests]

    def _complete(self, request: GenerationRequest) -> list[Completion]:
        picked = _pick(_answers(request), request.n, request.seed)
        if not picked:
            return [Completion("", 0, None, "stop") for _ in range(request.n)]
        out = []
        for text, rank in picked:
            text, _ = apply_stop(text, request.stop)
            out.append(Completion(text, len(text.split()), float(-rank), "stop"))
        return out

    async def close(self) -> None:
        return None

    async def propose_proofs(self, problem: Problem, n: int, *, prefix: str = "",
                             tactic_state: str | None = None, seed: int | None = None,
                             temperature: float = 1.0, state_comment: str | None = None
                             ) -> list[Proposal]:
        # Deterministic: nothing to sample. No prompt either, so no comment: the goal is
        # read from ``tactic_state``, and prompt tokens are code points (no tokenizer).
        del temperature, state_comment
        picked = _pick(_proof_texts(problem, prefix, tactic_state), n, seed)
        return [Proposal(t, float(-rank), len(t.split())) for t, rank in picked]

    async def propose_tactics(self, goal: str, n: int, *, seed: int | None = None,
                              context: StepContext | None = None) -> list[Proposal]:
        del context  # the goal is all the portfolio reads
        return [Proposal(t, score, len(t.split()))
                for t, score in propose_tactics(goal, n, seed=seed)]


__all__ = ["PortfolioPolicy", "portfolio_proofs", "propose_proofs", "propose_tactics"]
