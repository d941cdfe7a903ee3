"""`--self-correct R` through the installed commands: `prover prove` with an OpenAI-compatible
model served by a local HTTP server started here (it records every request body) and the fake
REPL, scripted so that the first answer fails and the corrected one passes; bad values; and
what eval's run identity holds."""
from __future__ import annotations

import json
import os

import pytest
from openai_stub import choices, openai_server
from test_correction import GOLDEN_GOEDEL
from test_prove import prove, rules, write

if not os.environ.get("CI"):
    pytest.importorskip("httpx")  # in CI a missing httpx is an install bug: fail, don't skip

MODEL = "Goedel-LM/Goedel-Prover-V2-8B"
FILE = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
        "open BigOperators Real Nat Topology Rat\n\n"
        "theorem t (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n  sorry\n")
HEAD = FILE[:-len("  sorry\n")]
FIRST = f"### Plan\nUse the hint.\n\n```lean4\n{HEAD}  nlinarith [h₀, bad]\n```\n"
SECOND = f"### Analysis\n`bad` does not exist.\n\n```lean4\n{HEAD}  linarith\n```\n"
WORLD = {"rules": [{"match": "bad",
                    "messages": [{"severity": "error", "data": "unknown identifier 'bad'"}]}]}
# The published feedback (prompts.md §6), written out once in test_correction: the checked
# file is FILE with the first answer's proof; line 9 holds the error, `bad` at 17..20.
FEEDBACK = GOLDEN_GOEDEL


@pytest.fixture
def server():
    bodies: list[dict] = []

    def answer(path: str, body: dict) -> dict:
        bodies.append(body)
        messages = body.get("messages") or []
        again = any(m["role"] == "assistant" for m in messages)
        question = next((m["content"] for m in messages if m["role"] == "user"), "")
        if "theorem t (x : ℝ) (h₀ : 2 * x = 4)" in question:  # the scripted file
            text = SECOND if again else FIRST
        else:  # any other problem: its own file, a bad hint first, then linarith
            file = question.split("```lean4\n", 1)[1].split(":= by sorry```", 1)[0]
            tactic = "linarith" if again else "nlinarith [bad]"
            text = f"```lean4\n{file}:= by\n  {tactic}\n```\n"
        return choices(path, body, chat=text, text="", tokens=9)

    # a model list without a context length
    with openai_server(answer, [{"id": MODEL}]) as (url, _):
        yield url, bodies


def test_prove_corrects_the_first_answer_and_proves_on_round_one(tmp_path, server):
    url, bodies = server
    path = write(tmp_path, "t.lean", FILE)
    result = prove(path, "--policy", f"openai:{url}#{MODEL}", "--prompt-format", "goedel-v2",
                   "--self-correct", "1", "--budget", "1x2", "--json", fake=rules(tmp_path, WORLD))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [row] = report["theorems"]
    assert row["status"] == "proved" and row["round"] == 1 and row["method"] == "sample"
    assert row["generations"] == 2 and row["cost"] == 2
    assert report["config"]["self_correct"] == 1 and report["config"]["search"] == "sample"
    assert path.read_text() == HEAD + "  linarith\n"
    first, second = bodies
    assert len(first["messages"]) == 1 and first["messages"][0]["role"] == "user"
    # The second request is the multi-turn chat: the question, the failed answer, the feedback.
    assert second["messages"] == [first["messages"][0],
                                  {"role": "assistant", "content": FIRST},
                                  {"role": "user", "content": FEEDBACK}]


def test_without_self_correction_the_first_answer_is_all(tmp_path, server):
    url, bodies = server
    path = write(tmp_path, "t.lean", FILE)
    result = prove(path, "--policy", f"openai:{url}#{MODEL}", "--prompt-format", "goedel-v2",
                   "--search", "sample", "--budget", "1x2", "--json",
                   fake=rules(tmp_path, WORLD))
    assert result.returncode == 1, result.stderr
    assert all(len(b["messages"]) == 1 for b in bodies)
    assert json.loads(result.stdout)["theorems"][0]["round"] is None


@pytest.mark.parametrize("args, message", [
    (("--self-correct", "-1"), "--self-correct -1: must be 0 or more"),
    (("--self-correct", "many"), "many"),
    (("--self-correct", "1", "--search", "rmaxts"), "not --search rmaxts"),
    (("--self-correct", "2", "--search", "bestfirst"), "not --search bestfirst"),
])
def test_bad_self_correct_exits_2(tmp_path, args, message):
    path = write(tmp_path, "t.lean", FILE)
    result = prove(path, *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert path.read_text() == FILE


def test_config_file_and_environment_are_checked_alike(tmp_path):
    path = write(tmp_path, "t.lean", FILE)
    (tmp_path / "prover.toml").write_text("self_correct = -3\n")
    result = prove(path, cwd=tmp_path)
    assert result.returncode == 2 and "self_correct = -3: must be 0 or more" in result.stderr
    result = prove(path, env={"PROVER_SELF_CORRECT": "-2"})
    assert result.returncode == 2 and "PROVER_SELF_CORRECT=-2: must be 0 or more" in result.stderr


@pytest.mark.parametrize("command", ["prove", "eval", "synth"])
def test_every_searching_command_takes_the_flag(command):
    from click.testing import CliRunner

    from prover.cli import cli

    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "--self-correct R" in result.output


def test_eval_identity_changes_only_when_self_correcting():
    from benchmarks.runner import EvalPlan
    from prover.cli.common import search_settings

    def identity(**flags):
        run = search_settings(repl="x", workspace=None, timeout=None, workers=None,
                              policy=None, search_method=flags.pop("search", None), budget=None,
                              seed=None, prompt_format=None, verbose=False, **flags)
        plan = EvalPlan(benchmark="minif2f", split="test", method=run.method, budget=run.budget,
                        policy=run.settings.policy, options=run.search_options())
        return plan.identity()

    before = identity(search="sample")
    assert before == identity(search="sample", self_correct=0) and before["options"] == {}
    corrected = identity(search="sample", self_correct=2)
    assert corrected["options"] == {"self_correct": 2}
    assert {k: v for k, v in corrected.items() if k != "options"} == \
        {k: v for k, v in before.items() if k != "options"}
    # Without --search, self-correction runs sample (the default search is rmaxts).
    assert identity()["search"] == "rmaxts" and identity(self_correct=1)["search"] == "sample"


def test_eval_result_lines_record_the_round():
    from types import SimpleNamespace

    from benchmarks.runner import EvalPlan, result_line
    from search import Budget
    from search.result import SearchResult

    plan = EvalPlan(benchmark="minif2f", split="test", method="sample", budget=Budget(1, 4),
                    policy="portfolio", options={"self_correct": 1})
    item = SimpleNamespace(split="test", name="p", problem=SimpleNamespace(name="p"),
                           category="c")
    proved = SearchResult("p", "  linarith\n", 2, 2, 0.1, 2, "sample", round=1)
    assert result_line(plan, item, 0, status="proved", result=proved)["round"] == 1
    missed = SearchResult("p", None, 4, 4, 0.1, None, "sample")
    assert result_line(plan, item, 0, status="unproved", result=missed)["round"] is None


def test_iterate_refuses_a_negative_self_correct_before_anything_runs(tmp_path):
    import subprocess

    from test_prove import PROVER

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    statements = write(tmp_path, "s.jsonl", '{"name": "t", "formal_statement": "theorem t : True := by\\n"}\n')
    result = subprocess.run([PROVER, "iterate", str(statements), "--model", str(model),
                             "--out", str(tmp_path / "run"), "--self-correct", "-1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "--self-correct -1: must be 0 or more" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_table_says_which_round_proved_it(tmp_path, server):
    url, _bodies = server
    path = write(tmp_path, "t.lean", FILE)
    result = prove(path, "--policy", f"openai:{url}#{MODEL}", "--prompt-format", "goedel-v2",
                   "--self-correct", "1", "--budget", "1x2", fake=rules(tmp_path, WORLD),
                   env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "proved by self-correction round 1" in result.stdout


def test_the_family_from_the_model_id_alone_corrects_in_its_format(tmp_path, server):
    url, bodies = server
    path = write(tmp_path, "t.lean", FILE)
    result = prove(path, "--policy", f"openai:{url}#{MODEL}", "--self-correct", "1",
                   "--budget", "1x2", "--json", fake=rules(tmp_path, WORLD))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"]["prompt_format"] == "goedel-v2"
    assert report["theorems"][0]["round"] == 1
    assert bodies[1]["messages"][1:] == [{"role": "assistant", "content": FIRST},
                                         {"role": "user", "content": FEEDBACK}]


def test_kimina_error_fix_turn_is_asked_without_the_presence_penalty(tmp_path, server):
    url, bodies = server
    path = write(tmp_path, "t.lean", FILE)
    result = prove(path, "--policy", f"openai:{url}#AI-MO/Kimina-Prover-Distill-8B",
                   "--prompt-format", "kimina-2025", "--self-correct", "1", "--budget", "1x2",
                   "--json", fake=rules(tmp_path, WORLD))
    assert result.returncode == 0, result.stderr
    first, second = bodies
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][3]["content"].startswith("# Error 1:\n")
    assert "Error message: \nunknown identifier 'bad'\n\n" in second["messages"][3]["content"]
    assert first.get("presence_penalty") == 0.2
    assert second.get("presence_penalty", 0) == 0


def test_eval_lines_and_run_identity_with_self_correction(shared, tmp_path, server):
    import subprocess

    from test_eval import eval_cmd, lines

    from benchmarks.manifest import read_manifest

    url, bodies = server
    out = tmp_path / "run"
    command = eval_cmd(shared, out, "--limit", "2", "--budget", "1x2", "--policy",
                       f"openai:{url}#{MODEL}", "--self-correct", "1",
                       fake=("--script", str(write(tmp_path, "w.json", json.dumps(WORLD)))))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    records = lines(out)
    assert len(records) == 2
    assert all(r["status"] == "proved" and r["round"] == 1 and r["cost"] == 2 for r in records)
    assert all(r["method"] == "sample" and r["generations"] == 2 for r in records)
    assert len(bodies) == 4 and sum(len(b["messages"]) == 3 for b in bodies) == 2
    manifest = read_manifest(out)
    assert manifest["options"] == {"self_correct": 1} and manifest["search"] == "sample"
