"""Whole-proof prompts of the Goedel-Prover and Kimina-Prover families (and DeepSeek-V2's
message text they share), with their extraction rules: pure functions over ``str``.

``shared/reference/prompts.md`` (``PM``) quotes each upstream string and names its file and
commit; ``prover.policies.prompts`` registers these as formats ``goedel``, ``goedel-v2``,
``kimina`` and ``kimina-2025``. An extractor returns the answer's Lean block ("" when there
is none or the authors refuse it); the proof is then grafted onto the problem's own
statement (``prompts.proof_from_full_file``), so a changed statement never slips through.
"""
from __future__ import annotations

import re

from lean_bridge.goals import FENCE
from lean_bridge.text import parsed, scan
from prover.policies.policy import ChatMessage
from search.problem import Problem

# DeepSeek-Prover-V2's user message (REF §10.2 = PM §2; Goedel-V2 reuses it), verbatim.
V2_PREAMBLE = "Complete the following Lean 4 code:\n\n```lean4\n"
V2_COT_PARAGRAPH = (
    "\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
    "detailed proof plan outlining the main proof steps and strategies.\nThe plan should "
    "highlight key ideas, intermediate lemmas, and proof structures that will guide the "
    "construction of the final formal proof.")


# -- Goedel-Prover-V2 (PM §6) -------------------------------------------------------------------

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
    closing fence directly after ``sorry`` (no newline before it). This is the evaluation
    pipeline's text (``src/inference.py``: ``… := by sorry```); the README quick start keeps
    ``:= by\n  sorry`` before the same fence, which we do not follow."""
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


def statement_docstring(problem: Problem) -> str | None:
    """The doc comment of the statement's own declaration (its last one), or None. ``prove``
    hands a theorem over this way: its docstring is part of ``statement`` (with everything
    else between the header and the theorem) and ``informal`` is unset."""
    declarations = parsed(problem.statement).declarations
    if not declarations:
        return None
    target = declarations[-1]
    # A doc comment comes before the attributes and modifiers, so it lies in this span.
    head = problem.statement[target.start:target.keyword_start]
    docs = [span for span in scan(head) if span.kind == "doc_comment"]
    return head[docs[0].start:docs[0].end] if docs else None


def problem_text(problem: Problem) -> str:
    """§3's ``problem``: the natural-language text, i.e. the docstring's content, whether the
    docstring is given apart (``informal``) or inside the statement. Without a docstring,
    Goedel-V2's ``KiminaCoTHandler`` fallback: the statement code up to ``:= by`` without
    ``import``/``set_option``/``open`` and blank lines."""
    docstring = problem.informal or statement_docstring(problem)
    if docstring:
        text = docstring.strip()
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


__all__ = [
    "GOEDEL_V2_HEADER", "GOEDEL_V2_REFUSED", "KIMINA_2025_PROOF_WORDS", "KIMINA_2025_SYSTEM",
    "KIMINA_SYSTEM", "V2_COT_PARAGRAPH", "V2_PREAMBLE", "by_sorry_file", "extract_goedel_sft",
    "extract_goedel_v2", "extract_kimina_2025", "goedel_v2_messages", "kimina_2025_messages",
    "kimina_messages", "problem_text", "statement_docstring",
]
