"""Prompt formats: how a problem becomes model input, and how model output becomes a proof.

Contract: pure functions over ``str`` and frozen dataclasses; nothing here samples, checks
or knows about search. A ``PromptFormat`` bundles one format's ``build`` (problem, proof
prefix, tactic state -> ``PromptParts``, ready for a ``GenerationRequest``), its
``extract`` (raw completion -> the part that matters), whether it is a chat format, what
its output is, and its default stop strings. ``PROMPT_FORMATS`` is the registry, by name.

Where each string comes from (``REF`` = shared/reference/deepseek-prover.md, ``PM`` =
shared/reference/prompts.md, which names each upstream file and commit):

* ``deepseek-v1.5`` / ``deepseek-v1.5-cot``: the two templates of REF §3.2 (= PM §1),
  verbatim; the tactic-state comment of REF §3.3; the cut at the first triple backtick of
  REF §3.5. Passing that fence as a stop string is REF §3.5's own [inference], adopted here.
  ``deepseek-v1.5-base`` (the Base model's 3-shot prompt) is NOT provided: PM §1 gives the
  block shape, but the shots are drawn at random from upstream's
  ``datasets/minif2f_valid_few_shot.jsonl``, which is not in shared/.
* ``deepseek-v2`` / ``deepseek-v2-cot``: the user message of REF §10.2 (= PM §2), verbatim
  (``:= by\n  sorry``, newline before the closing fence).
* ``goedel`` (Goedel-Prover-SFT, PM §5): the V1.5 CoT text as a raw completion; its
  extraction needs the closing fence, so it has no stop string (upstream has none).
* ``goedel-v2`` (Goedel-Prover-V2, PM §6): one user message, the V2 CoT text over
  ``… := by sorry`` with the fence directly after ``sorry``; last closed block, ``apply?`` /
  ``exact?`` refused.
* ``kimina`` (Kimina-Prover-Preview-Distill, PM §3): system + user message of the card.
* ``kimina-2025`` (the July 2025 Kimina-Prover release, PM §4): the demo's system + user
  message; the last closed block that holds a whole file.
* Step provers (PM §7-8), strings in ``prover.policies.step_formats``.
* ``next-tactic``: our own choice, the ``[GOAL]``/``[PROOFSTEP]`` layout that
  ReProver/LeanDojo-style tactic generators use; not from REF.

A format carries its system message in ``build``'s messages; backends send every role
(``backends/openai.py`` posts them, ``backends/hf.py`` and ``vllm.py`` render them with the
model's chat template). Sampling settings (temperature, max new tokens…) are not here:
they belong to the model-family registry (``prover.policies.families``).

Output kinds: ``"continuation"`` (text that continues ``statement + prefix``), ``"file"``
(a whole Lean file in a fenced block; the format's ``extract`` picks the block, e.g.
``extract_last_lean4_block`` of ``lean_bridge.goals`` for DeepSeek-V2, then
``proof_from_full_file`` grafts its proof onto the statement), ``"tactic"`` (one tactic;
step formats also take a ``StepContext`` and name the best-first ``priority`` rule their
authors search with). ``extract`` returns "" for no answer and for one its authors refuse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal, Protocol

from lean_bridge.goals import FENCE, extract_last_lean4_block, find_declaration
from lean_bridge.text import mask_non_code, parse_file
from prover.policies.family_prompts import (
    V2_COT_PARAGRAPH,
    V2_PREAMBLE,
    by_sorry_file,
    extract_goedel_sft,
    extract_goedel_v2,
    extract_kimina_2025,
    goedel_v2_messages,
    kimina_2025_messages,
    kimina_messages,
    problem_text,
)
from prover.policies.policy import ChatMessage, GenerationRequest
from prover.policies.step_formats import (
    INTERNLM_STOP,
    bfs_prover_prompt,
    extract_bfs_prover,
    extract_internlm2_step,
    extract_internlm25_step,
    internlm2_step_messages,
    internlm25_step_messages,
    internlm_chat_text,
)
from search.problem import Problem
from search.protocols import StepContext
from search.segments import tactic_state_comment

# REF §3.2, verbatim (the three backticks are part of the prompt).
V15_NON_COT = "Complete the following Lean 4 code:\n\n```lean4\n"
V15_COT = ("Complete the following Lean 4 code with explanatory comments preceding each line "
           "of code:\n\n```lean4\n")
ChatStyle = Literal["deepseek_v2"]
OutputKind = Literal["continuation", "file", "tactic"]
DEFAULT_INDENT = 2  # REF §6.2: the indent used when no tactic line gives one


@dataclass(frozen=True)
class PromptParts:
    """What a request needs from a format: raw ``prompt`` text, or chat ``messages``."""

    prompt: str = ""
    messages: tuple[ChatMessage, ...] | None = None

    def request(self, **sampling: object) -> GenerationRequest:
        """A ``GenerationRequest`` for these parts; ``sampling`` = n, temperature, stop, …"""
        return GenerationRequest(prompt=self.prompt, messages=self.messages, **sampling)  # type: ignore[arg-type]


class BuildPrompt(Protocol):
    """(problem, prefix, tactic_state, state_comment) -> parts. ``state_comment``, when not
    None, is the exact comment text to put after ``prefix`` ("" for none), made by the
    caller; else the format makes its own from ``tactic_state``."""

    def __call__(self, problem: Problem, prefix: str = "", tactic_state: str | None = None,
                 state_comment: str | None = None) -> PromptParts: ...


class BuildGoal(Protocol):
    """Tactic formats: (goal, where it sits) -> parts. Best-first search passes the context;
    formats that need it (step provers) raise ``ValueError`` without one."""

    def __call__(self, goal: str, context: StepContext | None = None) -> PromptParts: ...


@dataclass(frozen=True)
class PromptFormat:
    """One format. ``extract`` returns "" for no answer or a refused one. ``priority`` names
    the ``search.priority`` rule the format's authors rank best-first nodes by (tactic
    formats; the application passes it to ``bestfirst`` as its ``priority`` option)."""

    name: str
    chat: bool
    output: OutputKind
    build: BuildPrompt
    extract: Callable[[str], str]
    stop: tuple[str, ...] = ()
    build_goal: BuildGoal | None = None  # tactic formats: goal (+ context) -> parts
    priority: str = "cumulative"


# -- DeepSeek-Prover-V1.5 (completion) ------------------------------------------------------

def tactic_indent(prefix: str, default: int = DEFAULT_INDENT) -> int:
    """The indent of the tactic-state comment that follows ``prefix``.

    Upstream (REF §3.3) takes the leading spaces of the line where the earliest-starting
    tactic that finishes in the segment begins, which needs Lean's tactic positions. From
    text alone we take the last line of ``prefix`` that (a) holds code once comments are
    masked and (b) starts outside any open bracket, so the continuation lines of a
    bracketed argument list (``nlinarith [a,\\n    b]``) count as the line that opened it.
    Its leading whitespace is the indent; ``default`` (2, REF §6.2) when no line qualifies.
    Known gap: the last line of a nested ``by`` block gives the inner indent, where
    upstream would give the outer tactic's when that tactic also ends on the line.
    """
    mask = mask_non_code(prefix)
    indent, depth = None, 0
    for line in mask.split("\n"):
        if line.strip() and depth == 0:
            indent = len(line) - len(line.lstrip(" \t"))
        for c in line:
            if c in "([{⟨⦃":
                depth += 1
            elif c in ")]}⟩⦄":
                depth = max(depth - 1, 0)  # tolerate unbalanced model output
    return default if indent is None else indent


def deepseek_v15_prompt(problem: Problem, *, cot: bool = False, prefix: str = "",
                        tactic_state: str | None = None, state_comment: str | None = None
                        ) -> str:
    """REF §3.2 template + ``header + informal + statement``, then ``prefix`` and its
    tactic-state comment (REF §3.3, §6.4).

    ``state_comment`` given: that text, verbatim, right after ``prefix`` ("" for none). This
    is what RMaxTS sends: the comment it built from the segment's own indent (§6.2) and
    whose tokens it counted. Else, when ``tactic_state`` is given, a comment at
    ``tactic_indent(prefix)`` (an estimate from text alone, for callers without segments);
    a prefix that does not end in a newline then gets one before it (upstream prefixes are
    whole lines, REF §6.2). The caller still appends the completion to ``prefix``."""
    text = (V15_COT if cot else V15_NON_COT) + problem.header + (problem.informal or "") \
        + problem.statement + prefix
    if state_comment is not None:
        text += state_comment
    elif tactic_state is not None:
        if prefix and not prefix.endswith("\n"):
            text += "\n"
        text += tactic_state_comment(tactic_state, tactic_indent(prefix))
    return text


def extract_v15(text: str) -> str:
    """REF §3.5: the text before the first triple backtick (all of it when there is none)."""
    return text.split(FENCE, 1)[0]


# -- chat formats (DeepSeek-Prover-V2) and proof grafting ---------------------------------------

def sorry_file(problem: Problem) -> str:
    """REF §10.2's ``{formal_statement}``: header + docstring + statement + ``sorry`` proof,
    stripped. miniF2F statements end ``:= by\\n`` and get ``  sorry``; a statement ending
    ``:=`` (ProofNet) gets `` by\\n  sorry`` so the model sees the same shape (our choice:
    REF only shows the ``by`` case)."""
    tail = "  sorry" if problem.statement.endswith("\n") else "\n  sorry"
    if not problem.ends_with_by:
        tail = " by\n  sorry"
    return (problem.header + (problem.informal or "") + problem.statement + tail).strip()


def chat_prompt(problem: Problem, *, cot: bool, style: ChatStyle = "deepseek_v2"
                ) -> tuple[ChatMessage, ...]:
    """DeepSeek-Prover-V2's one user message: REF §10.2 (prompts.md §2) verbatim, with the
    CoT paragraph when ``cot``. The other families have their own builders below."""
    if style != "deepseek_v2":
        raise ValueError(f"unknown chat style {style!r}")
    content = V2_PREAMBLE + sorry_file(problem) + "\n" + FENCE
    if cot:
        content += V2_COT_PARAGRAPH
    return (ChatMessage("user", content),)


def _declared_name(statement: str) -> str | None:
    decls = [d for d in parse_file(statement).declarations if d.name is not None]
    return decls[-1].name if decls else None


def proof_from_full_file(problem: Problem, code: str) -> str | None:
    """The proof in a model's whole file, shaped so that ``problem.statement + proof`` is
    the intended file; None when the theorem is missing or has no ``:=`` value.

    The theorem is found by ``problem.name``, then by the name declared in
    ``problem.statement`` (ProofNet ids differ from theorem names). Its value (text after
    ``:=``, without trailing whitespace and comments) is then fitted to the statement:

    * statement ends ``:= by`` (miniF2F): the value's leading ``by`` is dropped with the
      rest of its line, so ``by\\n  nlinarith`` gives ``  nlinarith``; tactics written on
      the ``by`` line (``by simp``) move to their own line at indent 2; a term value
      (no ``by``) becomes ``  exact <term>``.
    * statement ends ``:=`` (ProofNet): the value as written, after one space.

    The proof always ends with a newline. The model's statement is NOT compared with the
    problem's: only the proof is kept and grafted onto ``problem.statement``, so a changed
    statement cannot slip through; helper lemmas the model declared before the theorem
    are lost, and such proofs will fail to check.
    """
    decl = find_declaration(code, problem.name)
    if decl is None and (declared := _declared_name(problem.statement)) is not None:
        decl = find_declaration(code, declared)
    if decl is None or decl.body_kind != ":=":
        return None
    value = decl.proof(code)
    if not value.strip():
        return None
    if not problem.ends_with_by:
        return " " + value.lstrip() + "\n"
    body = value.lstrip()
    if re.match(r"by(?![\w'!?])", body):
        rest = body[2:]
        first, _, after = rest.partition("\n")
        if first.strip():  # `by tac` on one line
            proof = "  " + rest.lstrip(" \t")
        else:
            proof = after
    else:
        proof = "  exact " + body
    proof = proof.rstrip() + "\n"
    if not problem.statement.endswith("\n"):
        proof = "\n" + proof
    return proof if proof.strip() else None


# -- next tactic ------------------------------------------------------------------------------

def next_tactic_prompt(goal: str) -> str:
    """``[GOAL]\\n{goal}\\n[PROOFSTEP]\\n``: the ReProver/LeanDojo layout (our choice)."""
    return f"[GOAL]\n{goal}\n[PROOFSTEP]\n"


def extract_tactic(text: str) -> str:
    """The first non-blank line, stripped ("" when there is none)."""
    return next((line.strip() for line in text.split("\n") if line.strip()), "")


# -- registry ---------------------------------------------------------------------------------

def _no_prefix(name: str, prefix: str, tactic_state: str | None,
               state_comment: str | None = None) -> None:
    # REF §10.2 has no format for resuming from a proof prefix; refuse rather than invent.
    if prefix or tactic_state is not None or state_comment:
        raise ValueError(f"{name} generates whole files; it takes no prefix or tactic state")


def _v15_build(cot: bool) -> BuildPrompt:
    def build(problem: Problem, prefix: str = "", tactic_state: str | None = None,
              state_comment: str | None = None) -> PromptParts:
        return PromptParts(prompt=deepseek_v15_prompt(
            problem, cot=cot, prefix=prefix, tactic_state=tactic_state,
            state_comment=state_comment))

    return build


def _v15(cot: bool) -> PromptFormat:
    name = "deepseek-v1.5-cot" if cot else "deepseek-v1.5"
    return PromptFormat(name, chat=False, output="continuation", build=_v15_build(cot),
                        extract=extract_v15, stop=(FENCE,))


def _chat(name: str, style: ChatStyle, cot: bool) -> PromptFormat:
    def build(problem: Problem, prefix: str = "", tactic_state: str | None = None,
              state_comment: str | None = None) -> PromptParts:
        _no_prefix(name, prefix, tactic_state, state_comment)
        return PromptParts(messages=chat_prompt(problem, cot=cot, style=style))

    def extract(text: str) -> str:
        return extract_last_lean4_block(text) or ""

    # No stop string: CoT answers hold several fenced blocks before the final one.
    return PromptFormat(name, chat=True, output="file", build=build, extract=extract)


def _messages_format(name: str, messages: Callable[[Problem], tuple[ChatMessage, ...]],
                     extract: Callable[[str], str], stop: tuple[str, ...] = ()
                     ) -> PromptFormat:
    """A whole-file chat format: ``messages(problem)`` in, ``extract(raw)`` = the answer's
    Lean block ("" for none or a refused one) out."""
    def build(problem: Problem, prefix: str = "", tactic_state: str | None = None,
              state_comment: str | None = None) -> PromptParts:
        _no_prefix(name, prefix, tactic_state, state_comment)
        return PromptParts(messages=messages(problem))

    return PromptFormat(name, chat=True, output="file", build=build, extract=extract, stop=stop)


def _goal_parts(goal: str, context: StepContext | None = None) -> PromptParts:
    return PromptParts(prompt=next_tactic_prompt(goal))


def _next_tactic_build(problem: Problem, prefix: str = "", tactic_state: str | None = None,
                       state_comment: str | None = None) -> PromptParts:
    if tactic_state is None:
        raise ValueError("next-tactic prompts need the goal: pass tactic_state")
    return _goal_parts(tactic_state)


def _step_format(name: str, build_goal: BuildGoal, extract: Callable[[str], str],
                 stop: tuple[str, ...], priority: str) -> PromptFormat:
    """A step prover's tactic format: ``build`` = ``build_goal`` at the root of ``problem``."""
    def build(problem: Problem, prefix: str = "", tactic_state: str | None = None,
              state_comment: str | None = None) -> PromptParts:
        if tactic_state is None:
            raise ValueError(f"{name} prompts need the goal: pass tactic_state")
        return build_goal(tactic_state, StepContext(problem))

    return PromptFormat(name, chat=False, output="tactic", build=build, extract=extract,
                        stop=stop, build_goal=build_goal, priority=priority)


def _internlm_goal(name: str, messages: Callable[[str, StepContext], tuple[ChatMessage, ...]]
                   ) -> BuildGoal:
    def build_goal(goal: str, context: StepContext | None = None) -> PromptParts:
        if context is None:
            raise ValueError(f"{name} prompts need the declaration name: pass a StepContext")
        return PromptParts(prompt=internlm_chat_text(messages(goal, context)))

    return build_goal


def _bfs_goal(goal: str, context: StepContext | None = None) -> PromptParts:
    return PromptParts(prompt=bfs_prover_prompt(goal))


PROMPT_FORMATS: dict[str, PromptFormat] = {
    f.name: f for f in (
        _v15(cot=False),
        _v15(cot=True),
        _chat("deepseek-v2", "deepseek_v2", cot=False),
        _chat("deepseek-v2-cot", "deepseek_v2", cot=True),
        # §5: the V1.5 CoT text, raw completion; no stop string upstream, and its extraction
        # needs the closing fence, so none here (a stop string would cut the fence away).
        PromptFormat("goedel", chat=False, output="continuation", build=_v15_build(cot=True),
                     extract=extract_goedel_sft),
        # §3, §4, §6: no stop strings upstream (the models end with EOS).
        _messages_format("goedel-v2", goedel_v2_messages, extract_goedel_v2),
        # §3: Goedel-V2's KiminaCoTHandler extracts as its DeepSeek handler (last closed block,
        # apply?/exact? refused by replace_statement_in_proof).
        _messages_format("kimina", kimina_messages, extract_goedel_v2),
        _messages_format("kimina-2025", kimina_2025_messages, extract_kimina_2025),
        # No stop string: tactic models end with EOS, and `extract_tactic` keeps one line.
        PromptFormat("next-tactic", chat=False, output="tactic", build=_next_tactic_build,
                     extract=extract_tactic, build_goal=_goal_parts),
        # PM §7: candidates ranked by mean token log-prob, nodes by their sum (token-mean).
        _step_format("internlm2-step", _internlm_goal("internlm2-step", internlm2_step_messages),
                     extract_internlm2_step, (INTERNLM_STOP,), "token-mean"),
        _step_format("internlm2.5-step",
                     _internlm_goal("internlm2.5-step", internlm25_step_messages),
                     extract_internlm25_step, (INTERNLM_STOP,), "token-mean"),
        # PM §8: raw completion, no stop string upstream (EOS); length-normalised priority.
        _step_format("bfs-prover", _bfs_goal, extract_bfs_prover, (), "bfs-prover"),
    )
}


def get_format(name: str) -> PromptFormat:
    try:
        return PROMPT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown prompt format {name!r}; known: "
                         f"{', '.join(PROMPT_FORMATS)}") from None


__all__ = [
    "PROMPT_FORMATS", "V2_COT_PARAGRAPH", "V2_PREAMBLE", "BuildGoal", "BuildPrompt",
    "PromptFormat", "PromptParts", "by_sorry_file", "chat_prompt", "deepseek_v15_prompt",
    "extract_goedel_sft", "extract_goedel_v2", "extract_kimina_2025", "extract_tactic",
    "extract_v15", "get_format", "goedel_v2_messages", "kimina_2025_messages",
    "kimina_messages", "next_tactic_prompt", "problem_text", "proof_from_full_file",
    "sorry_file", "tactic_indent", "tactic_state_comment",
]
