"""Counting a prompt's tokens the way its model does, for RMaxTS's 2,048-token prompt cap.

Upstream (DeepSeek-Prover-V1.5 ``_encode_length``) counts ``len(tokenizer.encode(prefix +
state comment))`` with the model's own tokenizer (special tokens included, its default). A
policy offers that through ``token_counter()``: the ``hf`` and ``vllm`` backends use the
tokenizer they generate with; ``openai`` loads the served model's tokenizer from a local
copy only (``transformers.AutoTokenizer``, ``local_files_only``: no download), named by its
``tokenizer`` option or else the model name, on first use; when that fails it says so once
on stderr and the cap counts code points. The portfolio has no model and no tokenizer: its
cap counts code points (``len``), which is what RMaxTS falls back to whenever a policy
offers no counter.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

TokenCount = Callable[[str], int]


def tokenizer_counter(tokenizer: Any) -> TokenCount:
    """``len(tokenizer.encode(text))``: upstream's count, special tokens included."""
    def count(text: str) -> int:
        return len(tokenizer.encode(text))

    return count


def policy_token_counter(policy: Any) -> TokenCount | None:
    """``policy.token_counter()`` when the policy has one, else None (code points)."""
    method = getattr(policy, "token_counter", None)
    return method() if callable(method) else None


def load_local_tokenizer(source: str, *, who: str, err: TextIO | None = None) -> Any | None:
    """The tokenizer at ``source`` (a directory or a hub id already in the local cache), or
    None, after one line on ``err`` (stderr) saying why and that code points are counted."""
    try:
        import transformers

        return transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    except Exception as exc:  # missing library, not cached, not a tokenizer: all the same here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"note: {who}: no local tokenizer for {source!r} ({first}); RMaxTS's prompt cap "
              "counts code points instead of tokens (give the tokenizer's path with the "
              "spec option tokenizer=PATH)", file=err or sys.stderr)
        return None


__all__ = ["TokenCount", "load_local_tokenizer", "policy_token_counter", "tokenizer_counter"]
