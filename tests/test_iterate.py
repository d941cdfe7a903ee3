"""``prover iterate``: synth → sft → synth, each round in its own directory, resumable.

End to end with real ``prover`` processes: round 0 proves with the portfolio against the fake
REPL, trains a tiny GPT-2 built here, and round 1 proves with that trained model."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fake_repl_command

from prover.drivers.iterate import IterateError, IteratePlan, iterate, merge_records

PROVER = shutil.which("prover") or "prover"
STATEMENTS = [
    ("nat_refl", "theorem nat_refl (n : ℕ) : n = n := by\n"),
    ("add_zero'", "theorem add_zero' (n : ℕ) : n + 0 = n := by\n"),
    ("two_pos", "theorem two_pos : (0 : ℕ) < 2 := by\n"),
]


def write_statements(tmp_path: Path) -> Path:
    path = tmp_path / "statements.jsonl"
    path.write_text("".join(json.dumps({"name": n, "formal_statement": s}) + "\n"
                            for n, s in STATEMENTS))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from benchmarks.tiny_generation import build_tiny_model

    lines = [s for _, s in STATEMENTS] + ["  omega", "  simp", "  norm_num", "  rfl", "```"]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), lines * 20, vocab_size=300)


def test_two_rounds_train_on_everything_found_and_the_next_round_uses_the_new_model(tmp_path, tiny_model):
    statements = write_statements(tmp_path)
    out = tmp_path / "iter"
    command = [PROVER, "iterate", str(statements), "--model", str(tiny_model), "--out", str(out),
               "--rounds", "2", "--policy", "portfolio", "--search", "sample", "--budget", "1x2",
               "--repl", shlex.join(fake_repl_command()), "--max-steps", "1",
               "--no-final-synth"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    round0 = json.loads((out / "round-0" / "round.json").read_text())
    round1 = json.loads((out / "round-1" / "round.json").read_text())
    assert round0["policy"] == "portfolio" and round0["base_model"] == str(tiny_model)
    assert round1["policy"] == f"hf:{out / 'round-0' / 'model'}"
    assert round1["base_model"] == str(out / "round-0" / "model")
    for k in (0, 1):
        assert (out / f"round-{k}" / "model" / "model.safetensors").is_file()
        manifest = json.loads((out / f"round-{k}" / "synth" / "manifest.json").read_text())
        assert manifest["kind"] == "synth" and manifest["policy"] == json.loads(
            (out / f"round-{k}" / "round.json").read_text())["policy"]
    # The portfolio proves all three in round 0; round 1 trains on them too (cumulative data).
    assert round0["records_total"] == 3
    assert round1["records_total"] >= 3
    synth1 = [json.loads(line) for line in (out / "round-1" / "synth" / "results.jsonl").read_text().splitlines()]
    assert len(synth1) == 3 and all(r["method"] == "sample" for r in synth1)
    assert not (out / "final").exists()


def test_a_rerun_skips_trained_models_and_merging_deduplicates(tmp_path):
    calls: list[list[str]] = []

    def fake_prover(args):  # stands in for the `prover` processes: what iterate asks of them
        calls.append(list(args))
        if args[0] == "synth":
            out = Path(args[args.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "records.jsonl").write_text(
                json.dumps({"id": "same", "name": "a"}) + "\n"
                + json.dumps({"id": out.parent.name, "name": "b"}) + "\n")
        else:
            model = Path(args[args.index("--out") + 1])
            model.mkdir(parents=True, exist_ok=True)
            (model / "train_manifest.json").write_text("{}")
        return 0

    plan = IteratePlan(statements=tmp_path / "s.jsonl", model="M", out=tmp_path / "o", rounds=2)
    reports = iterate(plan, run=fake_prover, say=lambda s: None)
    assert [c[:2] for c in calls] == [["synth", str(plan.statements)], ["train", "sft"],
                                      ["synth", str(plan.statements)], ["train", "sft"],
                                      ["synth", str(plan.statements)]]  # the final model's
    assert calls[4][calls[4].index("--policy") + 1] == f"hf:{tmp_path / 'o' / 'round-1' / 'model'}"
    assert calls[1][calls[1].index("--model") + 1] == "M"
    assert calls[3][calls[3].index("--model") + 1] == str(tmp_path / "o" / "round-0" / "model")
    assert calls[2][calls[2].index("--policy") + 1] == f"hf:{tmp_path / 'o' / 'round-0' / 'model'}"
    assert [(r.records_total, r.records_new) for r in reports[:2]] == [(2, 2), (3, 1)]
    assert reports[2].steps == ["synth"] and (tmp_path / "o" / "final" / "round.json").exists()
    ids = [json.loads(l)["id"] for l in (tmp_path / "o" / "round-1" / "data" / "records.jsonl").read_text().splitlines()]
    assert ids == ["same", "round-0", "round-1"]
    calls.clear()
    iterate(plan, run=fake_prover, say=lambda s: None)
    assert [c[0] for c in calls] == ["synth", "synth", "synth"]  # both models trained already


def test_a_failing_step_stops_with_its_name(tmp_path):
    plan = IteratePlan(statements=tmp_path / "s.jsonl", model="M", out=tmp_path / "o", rounds=1)
    with pytest.raises(IterateError, match="prover synth` failed"):
        iterate(plan, run=lambda args: 2, say=lambda s: None)

    def no_records(args):
        Path(args[args.index("--out") + 1]).mkdir(parents=True, exist_ok=True)
        return 0

    with pytest.raises(IterateError, match="nothing to train on"):
        iterate(plan, run=no_records, say=lambda s: None)


def test_merge_ignores_a_partial_last_line(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "records.jsonl").write_text(json.dumps({"id": "x"}) + "\n" + '{"id": "y", "na')
    assert merge_records([a], tmp_path / "t") == (1, 1)
