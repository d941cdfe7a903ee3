"""Records become training examples: prompt/completion text with its no-loss spans, then
token ids with labels.

Contract: the prompt is exactly what the prover sends at inference for the record's problem
(``prover.policies.prompts``: REF §3.2's V1.5 template over header + informal + statement, or a chat
format's rendered user message), so training and search see the same text. The completion is:

* continuation formats (``deepseek-v1.5``, ``deepseek-v1.5-cot``): the proof, ending in a
  newline, then the closing code fence. The prompt opens a ```` ```lean4 ```` block and the
  prover stops at the fence (REF §3.5), so a model that learns to close it learns to stop.
* chat formats (``deepseek-v2`` …): the whole file in a ```` ```lean4 ```` block, as those
  models answer (REF §10.2), recovered at inference by ``proof_from_full_file``.

With tactic states on, a record's ``annotated_proof`` stands in for its proof and the loss
follows the ``masking`` policy; a record without one (or with malformed comments, counted in
``ExampleStats``) uses the plain proof, which carries loss everywhere but the prompt.
``next-tactic`` is refused: records hold whole proofs, not (goal, tactic) pairs.

Tokenisation keeps prompt and completion apart, as inference does: the prompt is encoded on its
own (with the tokenizer's special tokens, as ``HFPolicy`` encodes prompts; none for a rendered
chat, whose template writes them), the completion without specials, then the end-of-sequence
token. So no token straddles the prompt/completion boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from prover.policies.prompts import FENCE, PromptParts, get_format
from prover.train.masking import IGNORE, Span, StateLoss, no_loss_spans, token_labels
from prover.train.records import TrainingRecord

SUPPORTED_OUTPUTS = ("continuation", "file")


@dataclass(frozen=True)
class SftExample:
    id: str  # the record's id
    prompt: str
    completion: str
    no_loss: tuple[Span, ...]  # spans of prompt + completion that carry no loss
    annotated: bool  # the completion carries tactic-state comments


@dataclass(frozen=True)
class ExampleStats:
    records: int
    annotated: int  # examples built from an annotated proof
    malformed: int  # annotated proofs refused by the masking check (plain proof used)


def training_format(name: str):
    """The prompt format ``name``, if training can build examples for it."""
    fmt = get_format(name)
    if fmt.output not in SUPPORTED_OUTPUTS:
        raise ValueError(f"prompt format {name!r} generates single tactics; training builds whole "
                         f"proofs, so use a continuation or chat format")
    return fmt


def completion_text(record: TrainingRecord, proof: str, output: str) -> str:
    """The text a model should write after the prompt for ``proof`` (module doc)."""
    body = proof if proof.endswith("\n") else proof + "\n"
    if output == "continuation":
        return body + FENCE
    return "```lean4\n" + record.header + record.statement + body + FENCE


def prompt_text(parts: PromptParts, render_chat: Callable[[Sequence[Any]], str] | None) -> str:
    if parts.messages is None:
        return parts.prompt
    if render_chat is None:
        raise ValueError("a chat prompt format needs the tokenizer's chat template to render it")
    return render_chat(parts.messages)


def sft_examples(records: Sequence[TrainingRecord], *, prompt_format: str = "deepseek-v1.5",
                 tactic_states: bool = True, state_loss: StateLoss = "after-state",
                 render_chat: Callable[[Sequence[Any]], str] | None = None
                 ) -> tuple[list[SftExample], ExampleStats]:
    """One example per record, in order (module doc)."""
    fmt = training_format(prompt_format)
    examples: list[SftExample] = []
    annotated = malformed = 0
    for record in records:
        prompt = prompt_text(fmt.build(record.problem, "", None), render_chat)
        example = None
        if tactic_states and record.annotated_proof is not None:
            completion = completion_text(record, record.annotated_proof, fmt.output)
            try:
                spans = no_loss_spans(prompt, completion, state_loss)
            except ValueError:
                malformed += 1
            else:
                example = SftExample(record.id, prompt, completion, tuple(spans), True)
                annotated += 1
        if example is None:
            completion = completion_text(record, record.proof, fmt.output)
            example = SftExample(record.id, prompt, completion, ((0, len(prompt)),), False)
        examples.append(example)
    return examples, ExampleStats(len(records), annotated, malformed)


def tokenize_example(tokenizer: Any, example: SftExample, *, max_length: int | None = None,
                     chat: bool = False) -> dict[str, list[int]] | None:
    """``{"input_ids", "labels"}`` for ``example``, cut to ``max_length`` tokens; None when
    nothing with loss is left (a prompt that fills the whole length)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("training needs a fast tokenizer (character offsets for the loss mask)")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no end-of-sequence token to end completions with")
    p = tokenizer(example.prompt, add_special_tokens=not chat, return_offsets_mapping=True)
    c = tokenizer(example.completion, add_special_tokens=False, return_offsets_mapping=True)
    start, end = len(example.prompt), len(example.prompt) + len(example.completion)
    ids = list(p["input_ids"]) + list(c["input_ids"]) + [tokenizer.eos_token_id]
    offsets = ([tuple(o) for o in p["offset_mapping"]]
               + [(start + a, start + b) for a, b in c["offset_mapping"]] + [(end, end)])
    labels = token_labels(ids, offsets, example.no_loss)
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE for label in labels[1:]):  # position 0 is never a target
        return None
    return {"input_ids": ids, "labels": labels}


def grpo_prompts(records: Sequence[TrainingRecord], *, prompt_format: str = "deepseek-v1.5"
                 ) -> list[dict[str, Any]]:
    """One RL prompt per distinct (header, statement), first record's name, in record order.

    Several proofs of one theorem make one prompt: the reward judges the statement, whichever
    proof the data held. Chat formats give a conversational prompt (a list of messages), which
    TRL renders with the tokenizer's template.
    """
    fmt = training_format(prompt_format)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for record in records:
        key = (record.header, record.statement)
        if key in seen:
            continue
        seen.add(key)
        parts = fmt.build(record.problem, "", None)
        prompt: Any = parts.prompt if parts.messages is None else \
            [{"role": m.role, "content": m.content} for m in parts.messages]
        rows.append({"prompt": prompt, "id": record.id, "name": record.name,
                     "header": record.header, "statement": record.statement,
                     "informal": record.informal or ""})
    return rows


__all__ = ["ExampleStats", "SftExample", "completion_text", "grpo_prompts", "sft_examples",
           "tokenize_example", "training_format"]
