"""Step-prover prompts for best-first search: a goal (and where it sits) in, one tactic out.

Strings from ``shared/reference/prompts.md`` (``PM``), which names each upstream file:

* ``internlm2-step`` (InternLM2-StepProver, PM §7): one user turn ``DECL {name}\\nGOAL {state}\\n``;
  the answer starts ``PROOFSTEP ``, which is stripped.
* ``internlm2.5-step`` (InternLM2.5-StepProver, PM §7): one user turn
  ``---\\nNAME: {name}\\n\\n---\\nPROOF_BEFORE: {tactics so far, "\\n"-joined}\\n\\n---\\nSTATE_BEFORE: {state}\\n\\n---\\nTACTIC: ``;
  the answer is the tactic.
  Both are chat prompts that upstream renders itself (``chat_template_to_prompt``) and sends
  to vLLM as raw text, stopping at ``<|im_end|>``; so do we (``internlm_chat_text``), which
  keeps the text exact whatever chat template a server would apply.
* ``bfs-prover`` (BFS-Prover V1/V2, PM §8): raw completion of ``{state}:::``, no template;
  the answer, stripped, is the tactic.

``{name}`` is LeanDojo's ``theorem.full_name``: the name the statement declares (ProofNet ids
differ from theorem names), else the problem's name. ``{state}`` is the goal text best-first
search gives (Lean's goals, blank-line-joined, as LeanDojo's ``TacticState.pp``).

Candidate filters (a refused candidate extracts to "", which the proposer drops):
BFS-Prover-V2's ``TacticGenerator.generate`` drops suggestions containing ``sorry``,
``admit`` or ``native_decide``, those with ``rcases``/``cases'``/``simpa`` and ``?_``, and a
``simpa`` with a ``_`` placeholder (`` _``, ``_ ``, ``_,``, ``,_``): ``bfs_prover_refuses``,
verbatim. InternLM's scripts filter nothing (LeanDojo counts a ``sorry`` step as giving up,
never as a proof); we refuse ``sorry``/``admit``/``native_decide`` there too
(``STEP_REFUSED``), as a step that proves nothing or bypasses the kernel is never wanted.
"""
from __future__ import annotations

from typing import Sequence

from lean_bridge.text import parse_file
from prover.policies.policy import ChatMessage
from search.protocols import StepContext

INTERNLM_STOP = "<|im_end|>"  # PM §7: stop=['<|im_end|>']
INTERNLM2_ANSWER_PREFIX = "PROOFSTEP "  # PM §7: prompt_style_internlm_chat_stepprover_extractor
BFS_PROVER_SEPARATOR = ":::"  # PM §8: tactic_state + ":::"
STEP_REFUSED = ("sorry", "admit", "native_decide")
_BFS_BUGGY = ("rcases", "cases'", "simpa")  # PM §8: only refused together with "?_"
_BFS_SIMPA_PLACEHOLDERS = (" _", "_ ", "_,", ",_")


def declaration_name(context: StepContext) -> str:
    """The theorem's name as LeanDojo's ``full_name`` gives it (module docstring)."""
    names = [d.name for d in parse_file(context.problem.statement).declarations if d.name]
    return names[-1] if names else context.problem.name


def internlm_chat_text(messages: Sequence[ChatMessage]) -> str:
    """Upstream's ``chat_template_to_prompt`` (PM §7): ``<|im_start|>{role}\\n{content}`` per
    message, ``<|im_end|>\\n`` between messages, and after a last user message
    ``<|im_end|>\\n<|im_start|>assistant\\n``."""
    out = ""
    for i, message in enumerate(messages):
        out += "<|im_start|>" + message.role + "\n" + message.content
        if i + 1 != len(messages):
            out += "<|im_end|>\n"
        elif message.role == "user":
            out += "<|im_end|>\n<|im_start|>assistant\n"
    return out


def internlm2_step_messages(goal: str, context: StepContext) -> tuple[ChatMessage, ...]:
    """PM §7, InternLM2-StepProver's ``_prompt_function``."""
    return (ChatMessage("user", f"DECL {declaration_name(context)}\nGOAL {goal}\n"),)


def internlm25_step_messages(goal: str, context: StepContext) -> tuple[ChatMessage, ...]:
    """PM §7, InternLM2.5-StepProver's ``_prompt_function`` (the ``FILE`` line is commented
    out upstream); ``PROOF_BEFORE`` is the tactics so far, ``"\\n"``-joined."""
    proof_before = "\n".join(context.tactics)
    return (ChatMessage("user", f"---\nNAME: {declaration_name(context)}\n\n"
                                f"---\nPROOF_BEFORE: {proof_before}\n\n"
                                f"---\nSTATE_BEFORE: {goal}\n\n"
                                f"---\nTACTIC: "),)


def bfs_prover_prompt(goal: str) -> str:
    """PM §8: the state, then ``:::``."""
    return goal + BFS_PROVER_SEPARATOR


def step_refuses(tactic: str) -> bool:
    return any(word in tactic for word in STEP_REFUSED)


def bfs_prover_refuses(tactic: str) -> bool:
    """PM §8, BFS-Prover-V2's suggestion filter, verbatim (substring tests)."""
    return (step_refuses(tactic)
            or (any(k in tactic for k in _BFS_BUGGY) and "?_" in tactic)
            or ("simpa" in tactic and any(p in tactic for p in _BFS_SIMPA_PLACEHOLDERS)))


def extract_internlm2_step(text: str) -> str:
    """Strip a leading ``PROOFSTEP `` (upstream's extractor), then the text (upstream strips
    each candidate); "" for a refused one."""
    if text.startswith(INTERNLM2_ANSWER_PREFIX):
        text = text[len(INTERNLM2_ANSWER_PREFIX):]
    tactic = text.strip()
    return "" if step_refuses(tactic) else tactic


def extract_internlm25_step(text: str) -> str:
    tactic = text.strip()
    return "" if step_refuses(tactic) else tactic


def extract_bfs_prover(text: str) -> str:
    """PM §8: ``x.text.strip()``, "" when BFS-Prover-V2's filter drops it."""
    tactic = text.strip()
    return "" if bfs_prover_refuses(tactic) else tactic


__all__ = [
    "BFS_PROVER_SEPARATOR", "INTERNLM2_ANSWER_PREFIX", "INTERNLM_STOP", "STEP_REFUSED",
    "bfs_prover_prompt", "bfs_prover_refuses", "declaration_name", "extract_bfs_prover",
    "extract_internlm25_step", "extract_internlm2_step", "internlm25_step_messages",
    "internlm2_step_messages", "internlm_chat_text", "step_refuses",
]
