"""`prover train grpo`: TRL's GRPOTrainer with Lean's verdict (through the bridge) as reward.

The fake REPL stands in for Lean, scripted so that its verdict is known in advance: a proof
that uses ``omega`` gets an error, and so does an empty one (``:= by`` followed by nothing);
anything else is accepted. The policy is a 1-layer GPT-2 with random weights over a word-level
vocabulary of whole tactic lines (prompt text is unknown to it and reads as ``<unk>``), so every
sampled completion is a short, well-formed tactic list and the group rewards are mixed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex

import pytest

if not os.environ.get("CI"):  # in CI a missing library is an install bug: fail, don't skip
    for _name in ("torch", "transformers", "tokenizers", "trl", "peft", "datasets"):
        pytest.importorskip(_name)

from click.testing import CliRunner
from conftest import fake_repl_command, process_alive

from lean_bridge.errors import ReplUnavailable
from lean_bridge.process import ReplSpec
from prover.cli.train import train
from prover.train.examples import grpo_prompts
from prover.train.grpo import GrpoOptions, train_grpo
from prover.train.records import load_records
from prover.train.reward import LeanReward, target_for

HEADER = "import Mathlib\n\n"
ADD = "theorem add_one (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n"
LE = "theorem lt_le (a b : ℝ) (h : a < b) : a ≤ b := by\n"
TACTICS = ["  simp\n", "  omega\n", "  linarith\n", "  norm_num\n", "  positivity\n", "  nlinarith\n"]
# The fake's verdict: an error for `omega`, and for an empty proof (the statement's `:= by`
# right before the blank line the checker puts ahead of its `#print axioms` audit).
RULES = ("--error-on", "omega", "--error-on", r":= by\n\n#print")


def record(name: str, statement: str, proof: str) -> dict:
    return {"id": hashlib.sha256((HEADER + statement + proof).encode()).hexdigest(), "name": name,
            "header": HEADER, "statement": statement, "proof": proof, "annotated_proof": None,
            "informal": None, "kind": "theorem", "parent": None, "lemmas": [], "source": "test",
            "verifier": {"lean": "v4.9.0-rc1", "prover": "0.1.0"}, "search": "rmaxts", "policy": "fake"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("grpo-data")
    rows = [record("add_one", ADD, "  simp\n"), record("lt_le", LE, "  linarith\n"),
            record("add_one", ADD, "  norm_num\n")]  # a second proof of the same statement
    (d / "records.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                     encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<eos>": 0, "<pad>": 1, "<unk>": 2}
    for tactic in TACTICS:
        vocab[tactic] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[^\n]*\n|[^\n]+"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                        unk_token="<unk>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=256,
                                       vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=0,
                                       pad_token_id=1))
    d = tmp_path_factory.mktemp("tiny-words")
    model.save_pretrained(d)
    tokenizer.save_pretrained(d)
    return d


def spec(*extra: str) -> ReplSpec:
    return ReplSpec(fake_repl_command(*RULES, *extra))


def verdicts(reward: LeanReward, completions, statement: str = ADD, name: str = "add_one"):
    n = len(completions)
    return reward(prompts=["p"] * n, completions=completions, header=[HEADER] * n,
                  statement=[statement] * n, name=[name] * n)


# -- the reward alone -------------------------------------------------------------------------

def test_reward_is_the_verdict_of_the_repl(tmp_path):
    pid_file = tmp_path / "pid"
    events = []
    reward = LeanReward(spec("--pid-file", str(pid_file)), on_result=events.append, workers=2)
    completions = [
        "  simp\n",                      # accepted
        "  omega\n",                     # the fake's error
        "  simp\n```\n  omega junk",     # cut at the fence (REF §3.5): accepted
        "  sorry\n",                     # incomplete
        "",                              # an empty proof: error
        "  exact?\n",                    # accepted by the fake, rejected by the integrity layer
        "  norm_num\n  linarith\n",      # accepted
    ]
    assert verdicts(reward, completions) == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert [e.status for e in events] == ["proved", "error", "proved", "incomplete", "error",
                                          "rejected", "proved"]
    assert events[2].proof == "  simp\n" and events[2].completion == completions[2]
    # A benchmark id as the record's name: the theorem the statement declares is the reference.
    assert verdicts(reward, ["  simp\n", "  omega\n"], name="minif2f/7") == [1.0, 0.0]
    assert verdicts(reward, ["  linarith\n"], statement=LE, name="lt_le") == [1.0]
    assert (reward.checks, reward.proved, reward.calls) == (10, 5, 3)
    pid = int(pid_file.read_text())
    assert process_alive(pid)
    thread = reward._thread
    reward.close()
    assert not thread.is_alive() and not process_alive(pid)
    with pytest.raises(RuntimeError):
        verdicts(reward, ["  simp\n"])
    reward.close()  # closing twice is harmless


def test_chat_format_reward_reads_the_last_lean_block():
    with LeanReward(spec(), prompt_format="deepseek-v2") as reward:
        file = "```lean4\n" + HEADER + ADD + "  simp\n```"
        bad = "```lean4\n" + HEADER + ADD + "  omega\n```"
        conversational = [{"role": "assistant", "content": "plan\n" + file}]
        assert verdicts(reward, [file, bad, conversational, "no code here"]) == [1.0, 0.0, 1.0, 0.0]


def test_target_splits_the_file_as_the_checker_does():
    statement = "def f (n : ℕ) : ℕ := n + 1\n\n" + ADD
    target = target_for(HEADER, statement, "not-a-lean-name")
    assert target.reference.name == "add_one"
    assert target.header == HEADER and target.statement == statement
    # A record of a def target (ProofNet) names the def: it is the declaration judged.
    assert target_for(HEADER, "def g : ℕ := by\n", "g").reference.name == "g"
    with pytest.raises(ValueError):
        target_for(HEADER, "def g : ℕ := by\n", "h")  # neither the name nor a theorem


def test_no_repl_raises_before_anything_is_checked(tmp_path, data_dir):
    with LeanReward(ReplSpec((str(tmp_path / "no-such-repl"),))) as reward:
        with pytest.raises(ReplUnavailable):
            reward.lean_version(HEADER)
    # The CLI: exit 3, before loading the model (a hub id that would need network: a local
    # directory that does not exist is refused first, as bad input).
    result = CliRunner().invoke(train, [
        "grpo", "--data", str(data_dir), "--model", "no-org/no-model",
        "--out", str(tmp_path / "out"), "--repl", str(tmp_path / "no-such-repl")])
    assert result.exit_code == 3, result.output


def test_grpo_prompts_one_per_statement(data_dir):
    rows = grpo_prompts(load_records(data_dir))
    assert [r["name"] for r in rows] == ["add_one", "lt_le"]
    assert rows[0]["prompt"].endswith("```lean4\n" + HEADER + ADD)


# -- training ---------------------------------------------------------------------------------

def completion_logprob(model, tokenizer, prompt: str, completion: str) -> float:
    import torch

    p = tokenizer(prompt)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    with torch.no_grad():
        logprobs = model(ids).logits[0, :-1].log_softmax(-1)
    targets = ids[0, len(p):]
    return logprobs[len(p) - 1:].gather(1, targets[:, None]).sum().item()


def mean(xs):
    return sum(xs) / len(xs)


def test_two_grpo_steps_follow_the_lean_reward(data_dir, model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    events = []
    out = tmp_path / "out"
    result = train_grpo(
        data_dir, str(model_dir), out, spec(),
        GrpoOptions(max_steps=2, num_generations=4, prompts_per_step=2, max_completion_length=3,
                    learning_rate=1e-2, seed=0),
        say=lambda s: None, progress=False, on_result=events.append)
    assert result.steps == 2 and result.prompts == 2
    assert result.checks == len(events) == 2 * 2 * 4
    # The reward is the fake REPL's verdict, nothing else.
    for e in events:
        expected = 0.0 if ("omega" in e.completion or not e.completion.strip()) else 1.0
        assert e.reward == expected and (e.status == "proved") == (expected == 1.0), e
    assert {e.reward for e in events} == {0.0, 1.0}
    assert result.proved == sum(e.reward for e in events)

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    before = AutoModelForCausalLM.from_pretrained(model_dir)
    after = AutoModelForCausalLM.from_pretrained(out)
    name = "transformer.h.0.mlp.c_fc.weight"
    assert not before.state_dict()[name].equal(after.state_dict()[name])
    # GRPO's loss is ~0 by construction (advantages sum to zero in each group), so "the loss
    # goes down" is read as what the update is for: the policy's log-likelihood of the
    # completions Lean accepted rises, and its margin over the rejected ones widens. The margin
    # is the robust figure (it is the advantage-weighted objective the step ascends); the rise
    # of the accepted ones alone is smaller when most of a group is accepted (seeds 1-4 of
    # this setup: +0.05 to +0.6 nats; seed 0: +0.9), so it is asserted without a threshold.
    prompts = {r["name"]: r["prompt"] for r in grpo_prompts(load_records(data_dir))}
    scored = [(e.reward, completion_logprob(before, tokenizer, prompts[e.name], e.completion),
               completion_logprob(after, tokenizer, prompts[e.name], e.completion))
              for e in events if e.completion]
    good_before = mean([b for r, b, _ in scored if r == 1.0])
    good_after = mean([a for r, _, a in scored if r == 1.0])
    bad_before = mean([b for r, b, _ in scored if r == 0.0])
    bad_after = mean([a for r, _, a in scored if r == 0.0])
    assert good_after > good_before, (good_before, good_after)
    assert good_after - bad_after > good_before - bad_before, scored

    lines = (out / "rewards.jsonl").read_text().splitlines()
    assert [json.loads(x)["reward"] for x in lines] == [e.reward for e in events]
    manifest = json.loads((out / "train_manifest.json").read_text())
    assert manifest["kind"] == "grpo" and manifest["checks"] == 16
    assert manifest["proved"] == result.proved and manifest["options"]["beta"] == 0.02
    assert manifest["lean_version"] == "4.9.0-rc1" and (out / "model.safetensors").is_file()


def test_cli_grpo_runs_with_the_repl_given(data_dir, model_dir, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(train, [
        "grpo", "--data", str(data_dir), "--model", str(model_dir), "--out", str(out),
        "--max-steps", "1", "-G", "2", "--max-completion-length", "2", "--quiet",
        "--repl", shlex.join(fake_repl_command(*RULES))])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file()
    assert len((out / "rewards.jsonl").read_text().splitlines()) == 2
