"""Generation throughput of a tiny, randomly initialised causal LM through ``HFPolicy`` on CPU.

No weights can be downloaded, so the model is built here: a byte-level BPE tokenizer trained
in-process on Lean lines from the shared real proofs, and a 2-layer GPT-2. The figure measures
the backend's overhead (tokenisation, padding, the generate loop, decoding), not a real model.
``build_tiny_model`` is also what ``tests/test_backend_hf.py`` uses.

    python -m benchmarks.tiny_generation [--shared DIR] [--max-tokens 128] [--batch 8]

prints one JSON object: tokens/s for a batch of unseeded requests (batched into one generate
call) and for the same requests seeded (generated one by one, see ``prover.policies.backends.hf``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks import app

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
REAL_PROOFS = "reference/real-proofs/kimina_preview_minif2f_test.jsonl"


def lean_lines(shared: Path, limit: int = 400) -> list[str]:
    """Non-blank lines of Lean from the shared real proofs (the ``code`` field)."""
    lines: list[str] = []
    with open(shared / REAL_PROOFS, encoding="utf-8") as f:
        for record in f:
            for line in json.loads(record)["code"].splitlines():
                if line.strip():
                    lines.append(line)
                    if len(lines) >= limit:
                        return lines
    return lines


def build_tiny_model(directory: Path, lines: list[str], *, vocab_size: int = 512, seed: int = 0) -> Path:
    """Train a byte-level BPE tokenizer on ``lines``, make a 2-layer GPT-2, save both."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    special = ["<|endoftext|>", "<|pad|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|pad|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=2,
        n_head=2,
        n_embd=64,
        n_positions=512,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


async def _measure(policy, requests) -> tuple[int, float]:
    start = time.perf_counter()
    results = await policy.generate(requests)
    elapsed = time.perf_counter() - start
    return sum(c.tokens for cs in results for c in cs), elapsed


async def main_async(args: argparse.Namespace) -> dict:
    import torch

    make_policy = app.part("make_policy")
    GenerationRequest = app.part("generation_request")

    lines = lean_lines(Path(args.shared))
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(Path(tmp) / "tiny", lines)
        policy = make_policy(f"hf:{path}?device=cpu&dtype=float32")
        prompts = lines[: args.batch]
        unseeded = [GenerationRequest(prompt=p, max_tokens=args.max_tokens) for p in prompts]
        seeded = [GenerationRequest(prompt=p, max_tokens=args.max_tokens, seed=i) for i, p in enumerate(prompts)]
        await policy.generate(unseeded[:1])  # warm-up: first-call allocations
        batched_tokens, batched_s = await _measure(policy, unseeded)
        seeded_tokens, seeded_s = await _measure(policy, seeded)
        vocab_size = len(policy.tokenizer)
        await policy.close()
    return {
        "model": "gpt2 n_layer=2 n_head=2 n_embd=64 (random weights)",
        "vocab_size": vocab_size,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "batch": args.batch,
        "max_tokens": args.max_tokens,
        "unseeded_batched": {
            "tokens": batched_tokens,
            "seconds": round(batched_s, 3),
            "tokens_per_s": round(batched_tokens / batched_s, 1),
        },
        "seeded_one_by_one": {
            "tokens": seeded_tokens,
            "seconds": round(seeded_s, 3),
            "tokens_per_s": round(seeded_tokens / seeded_s, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_shared = os.environ.get("PROVER_SHARED", str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--shared", default=default_shared)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
