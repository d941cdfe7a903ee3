"""`prover train sft`: records -> prompt/completion examples -> masked labels -> SFTTrainer.

The loss mask is checked as a pure function on hand-built offsets, then through a real
tokenizer. Training runs for real on CPU: a byte-level BPE tokenizer trained on the records'
own text and a 2-layer GPT-2 with random weights (``benchmarks.tiny_generation``), built in
tmp_path, memorising four records in two optimiser steps.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

if not os.environ.get("CI"):  # in CI a missing library is an install bug: fail, don't skip
    for _name in ("torch", "transformers", "tokenizers", "trl", "peft", "datasets"):
        pytest.importorskip(_name)

from click.testing import CliRunner

from prover.cli.train import train
from prover.policies.prompts import deepseek_v15_prompt, tactic_state_comment
from prover.train.errors import TrainInputError
from prover.train.examples import sft_examples, tokenize_example
from prover.train.masking import (
    IGNORE,
    no_loss_spans,
    state_comment_spans,
    token_labels,
)
from prover.train.records import TrainingRecord, load_records
from prover.train.sft import SftOptions, sft_dataset, train_sft

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"

# (name, statement, [(tactic, state after it)]): the memorisation set.
THEOREMS = [
    ("add_one", "theorem add_one (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n",
     [("subst h", "⊢ 2 + 1 = 3"), ("norm_num", "no goals")]),
    ("lt_le", "theorem lt_le (a b : ℝ) (h : a < b) : a ≤ b := by\n",
     [("exact le_of_lt h", "no goals")]),
    ("sq_nonneg'", "theorem sq_nonneg' (x : ℝ) : 0 ≤ x ^ 2 := by\n",
     [("nlinarith [sq_nonneg x]", "no goals")]),
    ("two_goals", "theorem two_goals (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n",
     [("constructor", "case left\np q : Prop\nhp : p\nhq : q\n⊢ p\n\ncase right\np q : Prop\nhp : p\nhq : q\n⊢ q"),
      ("exact hp", "case right\np q : Prop\nhp : p\nhq : q\n⊢ q"), ("exact hq", "no goals")]),
]


def make_record(name: str, statement: str, steps: list[tuple[str, str]], *, annotated: bool = True,
                informal: str | None = None) -> dict:
    proof = "".join(f"  {tactic}\n" for tactic, _ in steps)
    notes = "".join(f"  {tactic}\n" + tactic_state_comment(state, 2) for tactic, state in steps)
    return {
        "id": hashlib.sha256((HEADER + statement + proof).encode()).hexdigest(),
        "name": name, "header": HEADER, "statement": statement, "proof": proof,
        "annotated_proof": notes if annotated else None, "informal": informal, "kind": "theorem",
        "parent": None, "lemmas": [], "source": "test", "verifier": {"lean": "v4.9.0", "prover": "0.1.0"},
        "search": "rmaxts", "policy": "fake",
    }


def write_records(directory: Path, records: list[dict], name: str = "records-000.jsonl") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return directory


@pytest.fixture(scope="module")
def records():
    return [make_record(n, s, steps, annotated=(i != 1), informal="/-- x is two -/\n" if i == 0 else None)
            for i, (n, s, steps) in enumerate(THEOREMS)]


@pytest.fixture(scope="module")
def data_dir(records, tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("sft-data"), records)


@pytest.fixture(scope="module")
def model_dir(records, tmp_path_factory):
    from benchmarks.tiny_generation import build_tiny_model

    lines = [line for r in records
             for line in (deepseek_v15_prompt(TrainingRecord.from_json(r).problem)
                          + (r["annotated_proof"] or r["proof"]) + "```").splitlines() if line.strip()]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"), lines * 4, vocab_size=400)


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


# -- the mask, as a pure function -------------------------------------------------------------

def test_token_labels_mask_prompt_and_state_comments_on_hand_built_offsets():
    prompt = "Complete:\n```lean4\nthm := by\n"
    comment = "  /- tactic state:\n    ⊢ 2 + 1 = 3\n  -/\n"
    completion = "  subst h\n" + comment + "  norm_num\n```"
    text = prompt + completion
    p, c = len(prompt), len(prompt) + len("  subst h\n")
    n = c + len(comment)
    # (id, span) per token, as a fast tokenizer would give them, spans in `text`.
    tokens = [
        (1, (0, 0)),              # BOS: zero width at the start of the prompt
        (10, (0, 9)),             # "Complete:"
        (11, (9, p)),             # rest of the prompt
        (20, (p, p + 8)),         # "  subst "
        (21, (p + 8, c)),         # "h\n"
        (30, (c, c + 5)),         # "  /- " (comment)
        (31, (c + 5, n - 1)),     # comment body
        (32, (n - 1, n + 2)),     # "\n  " straddles the comment's end: masked
        (40, (n + 2, n + 11)),    # "norm_num\n"
        (41, (n + 11, len(text))),  # closing fence
        (2, (len(text), len(text))),  # EOS appended after the text
    ]
    spans = no_loss_spans(prompt, completion, "proof")
    assert spans == [(0, p), (c, n)]
    assert text[c:n] == comment
    labels = token_labels([t for t, _ in tokens], [s for _, s in tokens], spans)
    assert labels == [IGNORE, IGNORE, IGNORE, 20, 21, IGNORE, IGNORE, IGNORE, 40, 41, 2]


def test_after_state_policy_learns_everything_after_the_first_marker():
    prompt = "P\n"
    completion = "  subst h\n" + tactic_state_comment("⊢ x", 2) + "  simp\n" + tactic_state_comment("no goals", 2)
    [(start, end)] = no_loss_spans(prompt, completion, "after-state")
    assert start == 0
    assert (prompt + completion)[:end].endswith("  subst h\n  /- tactic state:")
    assert no_loss_spans(prompt, "  simp\n", "after-state") == [(0, len(prompt))]


def test_state_comment_spans_cover_whole_comments_and_refuse_malformed_ones():
    two = tactic_state_comment("case left\n⊢ p\n\ncase right\n⊢ q", 4)
    text = "  constructor\n" + two + "    exact hp\n"
    [(a, b)] = state_comment_spans(text)
    assert text[a:b] == two  # the blank line between goals does not end the comment
    with pytest.raises(ValueError):
        state_comment_spans("  simp\n  /- tactic state:\n    ⊢ p\n")  # never closed
    # A closing `-/` at another indent (inside a goal) does not close the comment.
    with pytest.raises(ValueError):
        state_comment_spans("  /- tactic state:\n    -/\n")


def test_real_tokenizer_labels_only_the_proof(records, tokenizer):
    recs = [TrainingRecord.from_json(r) for r in records]
    examples, stats = sft_examples(recs, state_loss="proof")
    assert stats.annotated == 3 and stats.malformed == 0 and stats.records == 4
    example = examples[3]  # two_goals: three comments, one with two goals
    assert example.annotated and example.prompt == deepseek_v15_prompt(recs[3].problem)
    assert example.completion == recs[3].annotated_proof + "```"
    row = tokenize_example(tokenizer, example)
    ids, labels = row["input_ids"], row["labels"]
    assert ids[-1] == tokenizer.eos_token_id and labels[-1] == tokenizer.eos_token_id
    learned = tokenizer.decode([t for t, l in zip(ids, labels) if l != IGNORE], skip_special_tokens=True)
    masked = tokenizer.decode([t for t, l in zip(ids, labels) if l == IGNORE])
    assert "tactic state" not in learned and "⊢" not in learned
    for tactic in ("constructor", "exact hp", "exact hq", "```"):
        assert tactic in learned
    assert masked.startswith(example.prompt) and masked.count("/- tactic state:") == 3
    n_prompt = len(tokenizer(example.prompt)["input_ids"])
    assert all(l == IGNORE for l in labels[:n_prompt])
    # Without tactic states the plain proof is the completion and only the prompt is masked.
    plain, _ = sft_examples(recs, tactic_states=False)
    row = tokenize_example(tokenizer, plain[3])
    kept = [l for l in row["labels"] if l != IGNORE]
    assert len(kept) == len(row["input_ids"]) - n_prompt
    # A record without annotation falls back to its plain proof even with states on.
    assert not examples[1].annotated and examples[1].completion == recs[1].proof + "```"
    dataset = sft_dataset(examples)
    assert {"prompt", "completion", "no_loss"} <= set(dataset.column_names) and len(dataset) == 4
    assert dataset[3]["completion"] == example.completion
    assert [tuple(s) for s in dataset[3]["no_loss"]] == list(example.no_loss)


def test_malformed_annotation_falls_back_to_the_plain_proof(records):
    bad = dict(records[0], annotated_proof="  subst h\n  /- tactic state:\n    ⊢ 2 + 1 = 3\n  norm_num\n")
    examples, stats = sft_examples([TrainingRecord.from_json(bad)])
    assert stats.malformed == 1 and stats.annotated == 0
    assert examples[0].completion == bad["proof"] + "```"


def test_real_tokenizer_default_learns_states_and_proof_after_the_first_marker(records, tokenizer):
    """The reference's rule (V1.5 SFT): no loss before `/- tactic state: `, loss after it."""
    recs = [TrainingRecord.from_json(r) for r in records]
    examples, _ = sft_examples(recs)  # the default policy
    example = examples[3]
    row = tokenize_example(tokenizer, example)
    ids, labels = row["input_ids"], row["labels"]
    learned = tokenizer.decode([t for t, l in zip(ids, labels) if l != IGNORE], skip_special_tokens=True)
    masked = tokenizer.decode([t for t, l in zip(ids, labels) if l == IGNORE])
    first = example.completion.index("/- tactic state:")
    assert masked.startswith(example.prompt) and "/- tactic state:" in masked
    assert "⊢" in learned and learned.count("/- tactic state:") == 2  # the later states
    assert "exact hq" in learned and learned.rstrip().endswith("```")
    assert example.completion[:first].strip() not in learned  # what precedes the marker


def test_max_length_cut_drops_examples_with_nothing_to_learn(records, tokenizer):
    examples, _ = sft_examples([TrainingRecord.from_json(records[0])], state_loss="proof")
    n_prompt = len(tokenizer(examples[0].prompt)["input_ids"])
    assert tokenize_example(tokenizer, examples[0], max_length=n_prompt) is None
    row = tokenize_example(tokenizer, examples[0], max_length=n_prompt + 3)
    assert len(row["input_ids"]) == n_prompt + 3


def test_chat_format_examples_answer_with_the_whole_file(records, tokenizer):
    from prover.policies.backends.hf import render_chat

    rec = TrainingRecord.from_json(records[0])
    with pytest.raises(ValueError, match="chat template"):
        sft_examples([rec], prompt_format="deepseek-v2")
    [example], _ = sft_examples([rec], prompt_format="deepseek-v2", state_loss="proof",
                                render_chat=lambda messages: render_chat(tokenizer, messages))
    assert example.prompt.startswith("<|user|>\n") and example.prompt.endswith("<|assistant|>\n")
    assert rec.statement.strip() in example.prompt
    assert example.completion.startswith("```lean4\n" + rec.header + rec.statement + "  subst h\n")
    assert example.completion.endswith("```") and example.annotated
    row = tokenize_example(tokenizer, example, chat=True)
    n_prompt = len(tokenizer(example.prompt, add_special_tokens=False)["input_ids"])
    assert all(l == IGNORE for l in row["labels"][:n_prompt]) and row["labels"][n_prompt] != IGNORE


def test_missing_library_says_how_to_install():
    from prover.train.errors import TrainDependencyError, require

    with pytest.raises(TrainDependencyError, match=r'pip install "lean-prover\[train\]"'):
        require("json", "no_such_training_library")


# -- records ----------------------------------------------------------------------------------

def test_load_records_reads_every_file_dedupes_ids_and_names_bad_lines(records, tmp_path):
    d = write_records(tmp_path / "d", records[:3])
    write_records(d, [records[2], records[3]], name="records-001.jsonl")  # records[2] again
    (d / "other.jsonl").write_text("not a record file\n")
    loaded = load_records(d)
    assert [r.name for r in loaded] == [n for n, _, _ in THEOREMS]
    minimal = {k: records[0][k] for k in ("id", "name", "header", "statement", "proof")}
    write_records(tmp_path / "m", [minimal])
    [r] = load_records(tmp_path / "m")
    assert r.annotated_proof is None and r.kind == "theorem" and r.lemmas == ()

    with pytest.raises(TrainInputError, match="does not exist"):
        load_records(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainInputError, match="no records"):
        load_records(tmp_path / "empty")
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "records.jsonl").write_text("\n")
    with pytest.raises(TrainInputError, match="no records in"):
        load_records(tmp_path / "blank")
    bad = write_records(tmp_path / "bad", [records[0]])
    with open(bad / "records-000.jsonl", "a") as f:
        f.write(json.dumps({**records[1], "proof": None}) + "\n")
    with pytest.raises(TrainInputError, match=r"records-000.jsonl:2: .*'proof'"):
        load_records(bad)


# -- training ---------------------------------------------------------------------------------

def memorisation_loss(model, tokenizer, records) -> float:
    """Mean masked cross-entropy over the memorisation set (the training objective)."""
    import torch

    examples, _ = sft_examples([TrainingRecord.from_json(r) for r in records])
    losses = []
    with torch.no_grad():
        for example in examples:
            row = tokenize_example(tokenizer, example)
            out = model(input_ids=torch.tensor([row["input_ids"]]), labels=torch.tensor([row["labels"]]))
            losses.append(out.loss.item())
    return sum(losses) / len(losses)


def test_two_sft_steps_change_weights_lower_the_loss_and_save_safetensors(
        data_dir, model_dir, tokenizer, records, tmp_path):
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    before = memorisation_loss(base, tokenizer, records)
    out = tmp_path / "out"
    messages = []
    result = train_sft(data_dir, str(model_dir), out,
                       SftOptions(max_steps=2, batch_size=4, learning_rate=1e-3, max_length=512),
                       say=messages.append, progress=False)
    assert result.steps == 2 and result.examples == 4 and result.records == 4
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    trained = AutoModelForCausalLM.from_pretrained(out)
    name = "transformer.h.0.attn.c_attn.weight"
    assert not base.state_dict()[name].equal(trained.state_dict()[name])
    after = memorisation_loss(trained, tokenizer, records)
    assert after < before - 0.05, (before, after)
    manifest = json.loads((out / "train_manifest.json").read_text())
    assert manifest["records"] == 4 and manifest["annotated_examples"] == 3
    assert manifest["base_model"] == str(model_dir) and manifest["data"] == str(data_dir.resolve())
    assert manifest["options"]["state_loss"] == "after-state" and manifest["options"]["max_steps"] == 2
    assert [h["step"] for h in manifest["loss_history"]] == [1, 2]
    assert manifest["final_loss"] == result.final_loss == manifest["loss_history"][-1]["loss"]
    assert any("4 examples" in m for m in messages)


def test_cli_sft_with_lora_writes_a_loadable_adapter(data_dir, model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    result = CliRunner().invoke(train, [
        "sft", "--data", str(data_dir), "--model", str(model_dir), "--out", str(out),
        "--max-steps", "2", "--lora", "--lr", "1e-2", "--batch-size", "4", "--max-length", "512",
        "--quiet"])
    assert result.exit_code == 0, result.output
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), out)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: it was trained
    assert json.loads((out / "train_manifest.json").read_text())["weights"] == "adapter_model.safetensors"
    # The adapter directory is a valid base for the next stage: loaded with the adapter merged.
    from prover.train.checkpoint import load_base

    merged, tok, _ = load_base(str(out))
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    name = "transformer.h.0.attn.c_attn.weight"
    assert not any("lora" in n for n in merged.state_dict())
    assert not merged.state_dict()[name].equal(base.state_dict()[name])
    assert tok.eos_token_id is not None


def test_cli_sft_bad_input_exits_2(data_dir, model_dir, tmp_path):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(train, ["sft", *args, "--out", str(tmp_path / "o"), "--max-steps", "1"])

    missing = run("--data", str(tmp_path / "nowhere"), "--model", str(model_dir))
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "empty").mkdir()
    empty = run("--data", str(tmp_path / "empty"), "--model", str(model_dir))
    assert empty.exit_code == 2 and "no records" in empty.output
    no_model = run("--data", str(data_dir), "--model", str(tmp_path / "no-such-model"))
    assert no_model.exit_code == 2 and "no-such-model" in no_model.output
    not_a_model = run("--data", str(data_dir), "--model", str(data_dir))
    assert not_a_model.exit_code == 2 and "no config.json" in not_a_model.output
    tactic = run("--data", str(data_dir), "--model", str(model_dir), "--prompt-format", "next-tactic")
    assert tactic.exit_code == 2 and "single tactics" in tactic.output
    assert not (tmp_path / "o").exists()
