"""``prover models``: the model-family registry (``prover.policies.families``), as a table or
JSON."""
from __future__ import annotations

import json
import sys

import click

from prover.cli.common import EXIT_OK
from prover.cli.jsonout import echo_json, json_command


def _number(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@click.command("models")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"families": [...]} (name, models, prompt_format, chat, temperature, '
                   "top_p, max_tokens, lean, mathlib, repl, self_correction, and more).")
@json_command
def models_command(as_json: bool) -> None:
    """List the model families: which model ids each covers, its prompt format, chat or raw
    completion, the published sampling (temperature / top-p / max new tokens; "-" = not
    published, the defaults 1.0 / 0.95 / 2048 apply), the Lean it was trained and evaluated
    on, and whether its authors published results with self-correction.

    `--policy hf:…`, `vllm:…` and `openai:URL#MODEL` pick the family from the model's name;
    `--prompt-format` and `--temperature` / `--top-p` / `--max-tokens` override it. `prover
    setup --for FAMILY` makes the family's Lean workspace.
    """
    from prover.policies.families import FAMILIES

    if as_json:
        echo_json(json.dumps({"families": [f.summary() for f in FAMILIES]}, indent=2,
                              ensure_ascii=False))
        sys.exit(EXIT_OK)
    header = ("family", "models", "format", "chat", "T / top-p / max", "lean", "self-corr.")
    rows = [(f.name, ", ".join(f.models), f.prompt_format, "chat" if f.chat else "raw",
             " / ".join(_number(v) for v in (f.temperature, f.top_p, f.max_tokens)), f.lean,
             "published" if f.self_correction else (f"({f.correction})" if f.correction else "-"))
            for f in FAMILIES]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo('\nself-corr.: "published" = its authors published results with self-correction; '
               "(style) = the correction turn --self-correct uses for it.")
    sys.exit(EXIT_OK)


__all__ = ["models_command"]
