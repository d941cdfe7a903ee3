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
(a whole Lean file in a fenced block; recover the proof with ``extract_last_lean4_block``
of ``lean_bridge.goals``, then ``proof_from_full_file``), ``"tactic"`` (one tactic).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal, Protocol

from lean_bridge.goals import FENCE, extract_last_lean4_block, find_declaration
from lean_bridge.text import mask_non_code, parse_file
from prover.policies.policy import ChatMessage, GenerationRequest
from search.problem import Problem
from search.segments import tactic_state_comment

# REF §3.2, verbatim (the three backticks are part of the prompt).
V15_NON_COT = "Complete the following Lean 4 code:\n\n```lean4\n"
V15_COT = ("Complete the following Lean 4 code with explanatory comments preceding each line "
           "of code:\n\n```lean4\n")
# REF §10.2, verbatim.
V2_PREAMBLE = "Complete the following Lean 4 code:\n\n```lean4\n"
V2_COT_PARAGRAPH = (
    "\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
    "detailed proof plan outlining the main proof steps and strategies.\nThe plan should "
    "highlight key ideas, intermediate lemmas, and proof structures that will guide the "
    "construction of the final formal proof.")

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


@dataclass(frozen=True)
class PromptFormat:
    name: str
    chat: bool
    output: OutputKind
    build: BuildPrompt
    extract: Callable[[str], str]
    stop: tuple[str, ...] = ()
    build_goal: Callable[[str], PromptParts] | None = None  # tactic formats: goal -> parts


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


# -- chat formats (DeepSeek-Prover-V2; Kimina and Goedel stand-ins) ---------------------------

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


# -- Goedel-Prover-V2 (prompts.md §6) ------------------------------------------------------------

GOEDEL_V2_HEADER = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
                    "open BigOperators Real Nat Topology Rat\n\n")  # §6: ``extrac_code``'s head
GOEDEL_V2_REFUSED = ("apply?", "exact?")  # §6: ``replace_statement_in_proof`` refuses these


def by_sorry_file(problem: Problem) -> str:
    """Goedel-Prover-V2's ``formal_statement`` (§6): header + docstring + statement up to
    its ``:= by``, then ``:= by sorry`` on the same line.

    Upstream cuts ``lean4_code.split(":= by")[0]``, the file's FIRST ``:= by``; we cut the
    statement's own final ``:= by`` instead, which is the same text for every miniF2F
    statement and stays the theorem for a statement that holds an inner ``:= by``. A
    statement ending ``:=`` (ProofNet) gets `` by sorry`` (our choice; §6 shows ``:= by``)."""
    head = problem.statement.rstrip()
    if problem.ends_with_by:
        head = head[:-len("by")].rstrip()
    if head.endswith(":="):
        head = head[:-len(":=")].rstrip(" \t")
    return problem.header + (problem.informal or "") + head + " := by sorry"


def goedel_v2_messages(problem: Problem) -> tuple[ChatMessage, ...]:
    """§6 first round, verbatim: one user message, the DeepSeek-V2 CoT text with the
    closing fence directly after ``sorry`` (no newline before it)."""
    return (ChatMessage("user", V2_PREAMBLE + by_sorry_file(problem) + FENCE
                        + V2_COT_PARAGRAPH),)


_GOEDEL_V2_BLOCKS = (re.compile(r"```lean4\n(.*?)\n```", re.DOTALL),
                     re.compile(r"```lean4\n(.*?)```", re.DOTALL),
                     re.compile(r"```lean\n(.*?)```", re.DOTALL))


def extract_goedel_v2(text: str) -> str:
    """§6 ``DeepSeekCoTHandler.extrac_code`` + ``replace_statement_in_proof``'s guard: the
    LAST closed ```` ```lean4 ```` block (patterns tried in upstream's order: closed by
    ``\n```, then by ```, then a ```` ```lean ```` block), "" when there is none or when it
    uses ``apply?`` / ``exact?`` (refused upstream). An unclosed block is no answer, as
    upstream. Upstream prepends the default header; we return the block alone, since only
    the proof is kept and grafted onto the problem's own statement (``proof_from_full_file``)."""
    for pattern in _GOEDEL_V2_BLOCKS:
        blocks = pattern.findall(text)
        if blocks:
            block = blocks[-1]
            if any(r in block for r in GOEDEL_V2_REFUSED):
                return ""
            return block
    return ""


# -- Goedel-Prover-SFT (prompts.md §5) -------------------------------------------------------

def extract_goedel_sft(text: str) -> str:
    """§5: upstream keeps the FIRST ```` ```lean4\n…\n``` ```` block of prompt + completion,
    i.e. the block the prompt opened, closed by the first fence that starts a line. The
    completion continues the statement (which ends in a newline), so the proof is the text
    before the first ``\n```(or a fence at the very start). No closing fence: "" (upstream's
    ``"None"``, refused)."""
    cut = ("\n" + text).find("\n" + FENCE)
    return "" if cut < 0 else text[:cut]


# -- Kimina-Prover (prompts.md §3, §4) -----------------------------------------------------------

KIMINA_SYSTEM = "You are an expert in mathematics and Lean 4."  # §3
KIMINA_2025_SYSTEM = ("You are an expert programmer and mathematician who helps formalizing "
                      "mathematical problems in Lean 4.")  # §4
KIMINA_2025_PROOF_WORDS = ("theorem", "by", ":=", "import")  # §4 ``extract_proof_from_text``


def _statement_by(problem: Problem) -> str:
    """The statement ending ``:= by\n`` (§3's shape); a ProofNet ``:=`` gets `` by\n``."""
    statement = problem.statement
    if not problem.ends_with_by:
        statement = statement.rstrip() + " by\n"
    return statement if statement.endswith("\n") else statement + "\n"


def problem_text(problem: Problem) -> str:
    """§3's ``problem``: the natural-language text, i.e. the docstring's content. Without a
    docstring, Goedel-V2's ``KiminaCoTHandler`` fallback: the statement code up to ``:= by``
    without ``import``/``set_option``/``open`` and blank lines."""
    if problem.informal:
        text = problem.informal.strip()
        text = text[len("/--"):] if text.startswith("/--") else text
        text = text[:-len("-/")] if text.endswith("-/") else text
        return text.strip()
    code = (problem.header + problem.statement).split(":= by")[0] + ":= by"
    return "\n".join(line for line in code.splitlines()
                     if not (line.startswith(("import", "set_option", "open"))
                             or line.strip() == ""))


def kimina_messages(problem: Problem) -> tuple[ChatMessage, ...]:
    """§3 (Kimina-Prover-Preview-Distill card quick start), verbatim: the system message,
    then ``Think about …\n# Problem:{problem}\n# Formal statement:\n```lean4\n{formal}\n```\n``
    where ``formal`` = header + docstring + statement ending ``:= by\n`` (no ``sorry``), so
    a blank line precedes the closing fence, as on the card."""
    formal = problem.header + (problem.informal or "") + _statement_by(problem)
    user = ("Think about and solve the following problem step by step in Lean 4."
            f"\n# Problem:{problem_text(problem)}"
            f"\n# Formal statement:\n```lean4\n{formal}\n```\n")
    return (ChatMessage("system", KIMINA_SYSTEM), ChatMessage("user", user))


def kimina_2025_messages(problem: Problem) -> tuple[ChatMessage, ...]:
    """§4 (the July 2025 demo, ``error_fix.py``), verbatim: its system message, then
    ``Think about and solve the following problems step by step in Lean 4.\n\n`` + the
    whole Lean file ending ``:= by sorry`` (no fence)."""
    user = ("Think about and solve the following problems step by step in Lean 4."
            "\n\n" + by_sorry_file(problem))
    return (ChatMessage("system", KIMINA_2025_SYSTEM), ChatMessage("user", user))


_CLOSED_LEAN4_BLOCK = re.compile(r"```lean4\n(.*?)\n```", re.DOTALL)


def extract_kimina_2025(text: str) -> str:
    """§4 ``extract_proof_from_text``: scanning the closed ```` ```lean4 ```` blocks from the
    last, the first one that holds all of ``theorem``, ``by``, ``:=`` and ``import``; ""
    when none does (upstream: ``"No proof found in the output."``, which fails to check)."""
    for block in reversed(_CLOSED_LEAN4_BLOCK.findall(text)):
        if all(word in block for word in KIMINA_2025_PROOF_WORDS):
            return block
    return ""


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


def _goal_parts(goal: str) -> PromptParts:
    return PromptParts(prompt=next_tactic_prompt(goal))


def _next_tactic_build(problem: Problem, prefix: str = "", tactic_state: str | None = None,
                       state_comment: str | None = None) -> PromptParts:
    if tactic_state is None:
        raise ValueError("next-tactic prompts need the goal: pass tactic_state")
    return _goal_parts(tactic_state)


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
    )
}


def get_format(name: str) -> PromptFormat:
    try:
        return PROMPT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown prompt format {name!r}; known: "
                         f"{', '.join(PROMPT_FORMATS)}") from None


__all__ = [
    "PROMPT_FORMATS", "BuildPrompt", "PromptFormat", "PromptParts", "chat_prompt", "deepseek_v15_prompt",
    "by_sorry_file", "extract_goedel_v2", "extract_tactic", "extract_v15", "get_format",
    "extract_goedel_sft", "extract_kimina_2025", "goedel_v2_messages", "kimina_2025_messages",
    "kimina_messages", "problem_text",
    "next_tactic_prompt", "proof_from_full_file", "sorry_file", "tactic_indent",
    "tactic_state_comment",
]
