"""The model families through the installed `prover`: `prover models [--json]` (the JSON keys
are a contract), `prover setup --for FAMILY`, the family chosen from `--policy` alone in
`prove` (the request a local HTTP server records), the sampling flags, and the warning when
the workspace's Lean is not the family's."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import fake_repl_command
from openai_stub import choices, openai_server

from prover.policies.families import FAMILIES

PROVER = shutil.which("prover")
CONTRACT = ("name", "models", "prompt_format", "chat", "temperature", "top_p", "max_tokens",
            "lean", "mathlib", "repl", "self_correction")
SORRY = "import Mathlib\n\ntheorem t (x : ℕ) : x + 0 = x := by\n  sorry\n"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`prover ARGS`, offline (nothing may start a download of Lean), no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVER_")}
    if "PROVER_SHARED" in os.environ:
        env["PROVER_SHARED"] = os.environ["PROVER_SHARED"]
    env.update(PROVER_NETWORK_PROBE=f"127.0.0.1:{closed_port()}",
               XDG_CONFIG_HOME=str((cwd or Path.cwd()) / "xdg"),
               XDG_CACHE_HOME=str((cwd or Path.cwd()) / "cache"))
    result = subprocess.run([PROVER, *args], capture_output=True, text=True, timeout=timeout,
                            cwd=cwd, env=env)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_models_json_is_the_contract():
    result = run("models", "--json")
    assert result.returncode == 0, result.stderr
    families = json.loads(result.stdout)["families"]
    assert [f["name"] for f in families] == [f.name for f in FAMILIES]
    for entry, family in zip(families, FAMILIES):
        assert set(CONTRACT) <= set(entry)
        assert entry["models"] == list(family.models) and entry["models"]
        assert entry["lean"].startswith("v4.")
        assert isinstance(entry["chat"], bool) and isinstance(entry["self_correction"], bool)
        for key in ("temperature", "top_p"):
            assert entry[key] is None or isinstance(entry[key], float)
        assert entry["max_tokens"] is None or isinstance(entry["max_tokens"], int)
    by_name = {f["name"]: f for f in families}
    assert by_name["Kimina-Prover"]["lean"] == "v4.15.0"
    assert by_name["Kimina-Prover"]["mathlib"] == "9837ca9d65d9de6fad1ef4381750ca688774e608"
    assert by_name["Goedel-Prover-V2"]["self_correction"] is True
    assert by_name["Goedel-Prover-V2"]["max_tokens"] == 32768
    # every family the issue names is listed
    for name in ("DeepSeek-Prover-V1.5", "DeepSeek-Prover-V1.5-CoT", "DeepSeek-Prover-V1.5-Base",
                 "DeepSeek-Prover-V2", "DeepSeek-Prover-V2-non-CoT", "Goedel-Prover-SFT",
                 "Goedel-Prover-V2", "Kimina-Prover-Preview-Distill", "Kimina-Prover",
                 "InternLM2-StepProver", "InternLM2.5-StepProver", "BFS-Prover"):
        assert name in by_name


def test_models_table_lists_every_family_with_its_lean():
    result = run("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for family in FAMILIES:
        row = next(line for line in lines if line.startswith(family.name + " "))
        assert family.lean in row and family.prompt_format in row
    assert "published" in next(line for line in lines if line.startswith("Goedel-Prover-V2 "))


@pytest.mark.parametrize("args, says", [
    (("setup", "--for", "nothing"), "unknown model family 'nothing'"),
    (("setup", "--for", "Kimina-Prover", "--toolchain", "v4.15.0"), "exclude each other"),
    (("models", "--bogus"), "No such option"),
])
def test_bad_setup_and_models_input_exits_2(tmp_path, args, says):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    if "nothing" in args:  # the message lists the families
        for family in FAMILIES:
            assert family.name in result.stderr


@pytest.mark.parametrize("family, plan", [
    ("Kimina-Prover", "Lean v4.15.0, Mathlib 9837ca9d65d9de6fad1ef4381750ca688774e608, "
                      "REPL 21966799da3691a0912b5a15193585bd2dd7165d"),
    ("kimina-prover-preview-distill", "Lean v4.15.0, Mathlib 9837ca9d65d9de6fad1ef4381750ca688774e608"),
    ("Goedel-Prover-V2", "Lean v4.9.0-rc1, Mathlib d1d1e4b72c6e009edd97cabe1d661b021fe8eeae, "
                         "REPL v4.9.0-rc1"),
    ("deepseek-ai/DeepSeek-Prover-V1.5-RL", "Lean v4.9.0-rc1"),  # a model id finds its family
    ("BFS-Prover", "Lean v4.10.0, Mathlib v4.10.0, REPL v4.10.0"),
])
def test_setup_for_a_family_plans_its_pins(tmp_path, family, plan):
    workspace = tmp_path / "ws"
    result = run("setup", "--for", family, "--workspace", str(workspace), cwd=tmp_path)
    assert plan in result.stdout, result.stdout + result.stderr
    assert result.returncode == 3 and "no network" in result.stderr  # offline here


def test_setup_for_kimina_defaults_to_a_workspace_of_its_own(tmp_path):
    result = run("setup", "--for", "Kimina-Prover", cwd=tmp_path)
    assert str(tmp_path / "cache" / "prover" / "workspace-v4.15.0-9837ca9d") in result.stdout


def test_unknown_prompt_format_exits_2(tmp_path):
    (tmp_path / "f.lean").write_text(SORRY)
    result = run("prove", str(tmp_path / "f.lean"), "--prompt-format", "nope", "--dry-run",
                 "--repl", shlex.join(fake_repl_command()), cwd=tmp_path)
    assert result.returncode == 2 and "unknown prompt format 'nope'" in result.stderr


@pytest.mark.parametrize("flag, value, says", [
    ("--temperature", "-1", "--temperature -1.0: must be a number >= 0"),
    ("--top-p", "0", "--top-p 0.0: must be in (0, 1]"),
    ("--top-p", "1.5", "must be in (0, 1]"),
    ("--max-tokens", "0", "--max-tokens 0: must be at least 1"),
    ("--temperature", "hot", "'hot' is not a valid float"),
])
def test_bad_sampling_flags_exit_2(tmp_path, flag, value, says):
    (tmp_path / "f.lean").write_text(SORRY)
    result = run("prove", str(tmp_path / "f.lean"), flag, value, "--dry-run",
                 "--repl", shlex.join(fake_repl_command()), cwd=tmp_path)
    assert result.returncode == 2 and says in result.stderr, result.stderr


def test_bad_sampling_in_prover_toml_exits_2_naming_the_file(tmp_path):
    (tmp_path / "f.lean").write_text(SORRY)
    (tmp_path / "prover.toml").write_text("top_p = 2.0\n")
    result = run("prove", str(tmp_path / "f.lean"), "--dry-run",
                 "--repl", shlex.join(fake_repl_command()), cwd=tmp_path)
    assert result.returncode == 2 and "prover.toml: top_p = 2.0: must be in (0, 1]" in result.stderr


# -- through prove, against a local server ---------------------------------------------------------

PROOF = "theorem t (x : ℕ) : x + 0 = x := by\n  simp"


def _answer(path: str, body: dict) -> dict:
    """A proof of SORRY's theorem in the shape each kind of model gives it."""
    if path.endswith("/chat/completions"):
        chat = f"Plan.\n```lean4\nimport Mathlib\n\n{PROOF}\n```"
        return choices(path, body, chat=chat, text="")
    if body["prompt"].endswith("<|im_start|>assistant\n"):  # InternLM2-StepProver
        return choices(path, body, chat="", text="PROOFSTEP simp")
    return choices(path, body, chat="", text="  simp\n```")


@pytest.fixture
def server():
    with openai_server(_answer) as (url, rec):
        yield url, rec


def prove_with(tmp_path: Path, url: str, model: str, *args: str) -> subprocess.CompletedProcess:
    """`prover prove f.lean` (SORRY) with ``model`` served by the local server, on the fake REPL."""
    (tmp_path / "f.lean").write_text(SORRY)
    return run("prove", str(tmp_path / "f.lean"), "--policy",
               f"openai:{url}#{model}?logprobs=false", *args,
               "--repl", shlex.join(fake_repl_command()), cwd=tmp_path)


def test_prove_with_a_goedel_v2_model_id_sends_its_published_request(tmp_path, server):
    url, rec = server
    result = prove_with(tmp_path, url, "Goedel-LM/Goedel-Prover-V2-32B",
                        "--search", "sample", "--budget", "1x1", "--json")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # the family was found; its Lean is not checked (--repl)
    path, body = rec.posts[0]
    assert path == "/v1/chat/completions"
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (1.0, 0.95, 32768)
    assert body["messages"] == [{"role": "user", "content": (
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\n\n"
        "theorem t (x : ℕ) : x + 0 = x := by sorry```\n\nBefore producing the Lean 4 code to "
        "formally prove the given theorem, provide a detailed proof plan outlining the main "
        "proof steps and strategies.\nThe plan should highlight key ideas, intermediate lemmas, "
        "and proof structures that will guide the construction of the final formal proof.")}]
    report = json.loads(result.stdout)
    assert report["config"]["prompt_format"] == "goedel-v2"
    assert [t["status"] for t in report["theorems"]] == ["proved"]


def test_a_served_checkpoint_with_a_generic_name_gets_its_familys_request(tmp_path, server):
    # `vllm serve /models/ckpt-1200` names the model by its path; the directory's config.json
    # says it was fine-tuned from Goedel-Prover-V2, so the request is that family's
    url, rec = server
    ckpt = tmp_path / "models" / "ckpt-1200"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text(json.dumps(
        {"_name_or_path": "Goedel-LM/Goedel-Prover-V2-8B", "architectures": ["Qwen3ForCausalLM"]}))
    result = prove_with(tmp_path, url, str(ckpt), "--search", "sample", "--budget", "1x1",
                        "--json")
    assert result.returncode == 0, result.stderr
    assert "no model family matches" not in result.stderr
    path, body = rec.posts[0]
    assert path == "/v1/chat/completions" and body["model"] == str(ckpt)
    assert body["max_tokens"] == 32768 and body["messages"][0]["content"].startswith(
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\n\n"
        "theorem t (x : ℕ) : x + 0 = x := by sorry```\n\nBefore producing")
    assert json.loads(result.stdout)["config"]["prompt_format"] == "goedel-v2"


def test_sampling_flags_and_prover_toml_reach_the_request(tmp_path, server):
    url, rec = server
    (tmp_path / "prover.toml").write_text("temperature = 0.25\nmax_tokens = 100\n")
    result = prove_with(tmp_path, url, "AI-MO/Kimina-Prover-Preview-Distill-7B",
                        "--search", "sample", "--budget", "1x1", "--dry-run", "--top-p", "0.5",
                        "--max-tokens", "300")
    assert result.returncode == 0, result.stderr
    body = rec.posts[0][1]
    # the flag beats the file, the file beats the family (0.6 / 0.95 / 8096)
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.25, 0.5, 300)
    assert body["messages"][0] == {"role": "system",
                                   "content": "You are an expert in mathematics and Lean 4."}


def test_an_unknown_model_warns_listing_the_formats(tmp_path, server):
    url, rec = server
    result = prove_with(tmp_path, url, "my-model", "--search", "sample", "--budget", "1x1",
                        "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("no model family matches 'my-model'") == 1
    assert "deepseek-v1.5-cot" in result.stderr and "kimina-2025" in result.stderr
    assert rec.posts[0][0] == "/v1/completions"


@pytest.mark.parametrize("command", ["prove", "eval", "synth"])
def test_a_workspace_on_another_lean_is_warned_about(tmp_path, command, shared):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "lean-toolchain").write_text("leanprover/lean4:v4.9.0-rc1\n")
    (tmp_path / "f.lean").write_text(SORRY)
    data = shared / "benchmarks" / "minif2f.jsonl"
    target = {"prove": (str(tmp_path / "f.lean"), "--dry-run"),
              "eval": ("minif2f", "--data", str(data), "--limit", "1", "--out", str(tmp_path / "o")),
              "synth": (str(data), "--limit", "1", "--out", str(tmp_path / "o"))}[command]
    result = run(command, *target, "--policy", "openai:http://127.0.0.1:9/v1#AI-MO/Kimina-Prover-Distill-8B",
                 "--search", "sample", "--workspace", str(workspace), cwd=tmp_path)
    assert ("Kimina-Prover was trained and evaluated on Lean v4.15.0 (Mathlib 9837ca9d65d9), but "
            f"the workspace {workspace} runs Lean v4.9.0-rc1") in result.stderr, result.stderr
    assert "prover setup --for Kimina-Prover" in result.stderr
    assert result.returncode == 3  # then it cannot set the workspace up offline


def test_no_lean_warning_when_the_workspace_matches(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "lean-toolchain").write_text("leanprover/lean4:v4.15.0\n")
    (tmp_path / "f.lean").write_text(SORRY)
    result = run("prove", str(tmp_path / "f.lean"), "--dry-run", "--policy",
                 "openai:http://127.0.0.1:9/v1#AI-MO/Kimina-Prover-Distill-8B", "--search",
                 "sample", "--workspace", str(workspace), cwd=tmp_path)
    assert "trained and evaluated on" not in result.stderr
    assert result.returncode == 3


def test_bestfirst_with_a_step_prover_id_uses_its_format(tmp_path, server):
    url, rec = server
    result = prove_with(tmp_path, url, "internlm/internlm2-step-prover",
                        "--search", "bestfirst", "--budget", "1x4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"]["prompt_format"] == "internlm2-step"
    assert [t["status"] for t in report["theorems"]] == ["proved"]
    path, body = rec.posts[0]
    assert path == "/v1/completions"
    assert body["prompt"].startswith("<|im_start|>user\nDECL t\nGOAL ")
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.7, 256, ["<|im_end|>"])


def test_a_step_prover_under_a_whole_proof_search_keeps_the_default_with_a_warning(tmp_path, server):
    url, rec = server
    result = prove_with(tmp_path, url, "internlm/internlm2-step-prover",
                        "--search", "sample", "--budget", "1x1", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "InternLM2-StepProver is a tactic (step) prover; --search sample uses the prompt " \
           "format deepseek-v1.5" in result.stderr
    assert rec.posts[0][1]["prompt"].startswith("Complete the following Lean 4 code:")


def test_setup_for_wins_over_a_workspace_pinned_otherwise(tmp_path):
    from lean_bridge.workspace import write_workspace
    from prover.policies.families import family_pins, get_family

    workspace = tmp_path / "ws"
    write_workspace(workspace, family_pins(get_family("Kimina-Prover")))
    plain = run("setup", "--workspace", str(workspace), cwd=tmp_path)
    assert "Lean v4.15.0" in plain.stdout  # plain setup keeps what the workspace states
    result = run("setup", "--for", "Goedel-Prover-V2", "--workspace", str(workspace), cwd=tmp_path)
    assert "Lean v4.9.0-rc1, Mathlib d1d1e4b72c6e009edd97cabe1d661b021fe8eeae" in result.stdout
    assert result.returncode == 3
