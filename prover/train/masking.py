"""Which parts of a training text carry loss: character spans first, then token labels.

Pure functions over ``str`` and offsets; nothing here knows a tokenizer. A ``Span`` is a
half-open character range ``[start, end)`` of the text ``prompt + completion``.

Two policies for a completion with tactic-state comments (REF =
shared/reference/deepseek-prover.md, §2.2 and §3.3):

* ``"proof"`` (default): no loss on the prompt nor on any ``/- tactic state: … -/`` comment;
  loss on the proof's own text. The model learns to write tactics *given* states, which is
  how truncate-and-resume prompts it (REF §6.4: the prompt ends with the state comment).
* ``"after-state"``: REF §2.2 as written: "all tokens after ``/- tactic state:`` count as
  the response (loss on); tokens before it are prompt (no loss)". The cut is at the first
  comment's opening marker, so the states themselves are learned too (the paper's auxiliary
  objective) and the proof text before the first comment is not. Which marker the paper cut
  at in a proof with several is not stated; the first one keeps one example per proof.

A token is excluded from the loss (label ``IGNORE``) when its characters touch an excluded
span at all: a token that straddles the edge of a comment would otherwise teach part of the
comment. A zero-width token (BOS, an appended EOS) is excluded when it sits inside or at the
start of an excluded span, so a BOS at offset 0 is prompt and an EOS after the text is not.
"""
from __future__ import annotations

import re
from typing import Literal, Sequence

Span = tuple[int, int]
StateLoss = Literal["proof", "after-state"]
STATE_LOSS_POLICIES: tuple[str, ...] = ("proof", "after-state")
IGNORE = -100  # the label torch's cross-entropy skips
STATE_MARKER = "/- tactic state:"

# REF §3.3: `{I}/- tactic state:` on its own line, goal lines, then `{I}-/` at the same indent,
# then a newline (absent only at the very end of the text). The closing line must repeat the
# opening indent, so a `-/` inside a goal (at indent I+2) cannot end the comment early.
_COMMENT = re.compile(r"(?m)^([ \t]*)/- tactic state:[ \t]*\n(?:.*\n)*?\1-/[ \t]*(?:\n|\Z)")


def state_comment_spans(text: str) -> list[Span]:
    """The spans of ``text``'s tactic-state comments, each from its indent through its newline.

    Raises ``ValueError`` when a ``/- tactic state:`` marker opens no well-formed comment (no
    closing ``-/`` line at its indent): masking a malformed comment would be guesswork.
    """
    spans = [(m.start(), m.end()) for m in _COMMENT.finditer(text)]
    markers = text.count(STATE_MARKER)
    if markers != len(spans):
        raise ValueError(f"{markers - len(spans)} of {markers} tactic-state comment(s) are not in "
                         "the `{I}/- tactic state:` … `{I}-/` format")
    return spans


def no_loss_spans(prompt: str, completion: str, policy: StateLoss = "after-state") -> list[Span]:
    """The spans of ``prompt + completion`` that carry no loss under ``policy`` (sorted)."""
    start = len(prompt)
    if policy == "proof":
        return [(0, start)] + [(start + a, start + b) for a, b in state_comment_spans(completion)]
    if policy == "after-state":
        state_comment_spans(completion)  # the same check: refuse malformed comments
        marker = completion.find(STATE_MARKER)
        end = start if marker < 0 else start + marker + len(STATE_MARKER)
        return [(0, end)]
    raise ValueError(f"unknown state-loss policy {policy!r}; known: {', '.join(STATE_LOSS_POLICIES)}")


def _excluded(token: Span, spans: Sequence[Span]) -> bool:
    s, e = token
    if s == e:
        return any(a <= s < b for a, b in spans)
    return any(s < b and a < e for a, b in spans)


def token_labels(input_ids: Sequence[int], offsets: Sequence[Span], no_loss: Sequence[Span]) -> list[int]:
    """Labels for causal-LM training: each token's id, or ``IGNORE`` where it touches ``no_loss``.

    ``offsets[i]`` is the character span of token ``i`` in the text the spans refer to (a
    fast tokenizer's ``offset_mapping``, shifted to that text).
    """
    if len(input_ids) != len(offsets):
        raise ValueError(f"{len(input_ids)} tokens but {len(offsets)} offsets")
    return [IGNORE if _excluded((int(s), int(e)), no_loss) else int(t)
            for t, (s, e) in zip(input_ids, offsets, strict=True)]


__all__ = ["IGNORE", "STATE_LOSS_POLICIES", "STATE_MARKER", "Span", "StateLoss", "no_loss_spans",
           "state_comment_spans", "token_labels"]
