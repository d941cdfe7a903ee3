"""Backend spec strings: what ``--policy`` says, parsed, and the policy it builds.

Valid forms (``OPTIONS`` is ``key=value`` pairs joined by ``&``)::

    hf:PATH_OR_ID[?OPTIONS]        transformers, e.g. hf:/models/x?device=cpu&dtype=float32
    vllm:PATH_OR_ID[?OPTIONS]      vLLM in-process, e.g. vllm:deepseek-ai/DeepSeek-Prover-V1.5-RL
    openai:URL#MODEL[?OPTIONS]     OpenAI-compatible server, e.g.
                                   openai:http://127.0.0.1:8000/v1#deepseek-prover?concurrency=32
    portfolio                      the automation portfolio (no model)
    mix:SPEC,SPEC[,...]            a mixture of the forms above (not of mixes)

Rules, so that the grammar stays unambiguous without quoting:

* the kind is everything before the first ``:``; ``portfolio`` has no ``:`` at all;
* for ``hf``/``vllm`` the options start at the first ``?`` (a path containing ``?`` is not
  supported); for ``openai`` the URL ends at the first ``#`` and is taken verbatim, so it may
  carry its own query string, and the options start at the first ``?`` after the ``#``;
* ``mix`` parts are separated by ``,`` and each part may have its own options; a part cannot
  contain a comma;
* option names are checked against the backend's options (``OPTIONS`` below, the keyword
  arguments of its constructor) and values are converted to their types here, so a typo fails
  at parse time, not after a model has loaded.

Anything else raises ``ValueError`` whose message lists the valid forms. ``make_policy`` builds
the ``Policy`` for ``hf``/``vllm``/``openai``/``portfolio``; a ``mix`` is a proposer, built by
``prover.policies.proposer.make_proposer``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

VALID_FORMS = """valid backend specs:
  hf:PATH_OR_ID[?OPTIONS]      transformers model (local directory or hub id)
  vllm:PATH_OR_ID[?OPTIONS]    vLLM engine in this process (CUDA GPU, pip install "lean-prover[vllm]")
  openai:URL#MODEL[?OPTIONS]   OpenAI-compatible server, e.g. openai:http://127.0.0.1:8000/v1#deepseek-prover
  portfolio                    the automation portfolio (no model)
  mix:SPEC,SPEC[,...]          a mixture of the forms above (not nested mixes)
OPTIONS: key=value pairs joined by '&', e.g. hf:/models/x?device=cpu&dtype=float32"""

# Options each kind accepts in a spec, with their types. They mirror the keyword arguments of
# the backend constructors (a test checks that), and are kept here rather than read from the
# classes so that parsing a spec imports no backend.
OPTIONS: dict[str, dict[str, type]] = {
    "hf": {
        "device": str,
        "dtype": str,
        "trust_remote_code": bool,
        "seed": int,
        "max_batch_rows": int,
    },
    "vllm": {
        "tensor_parallel_size": int,
        "max_model_len": int,
        "gpu_memory_utilization": float,
        "dtype": str,
        "seed": int,
        "trust_remote_code": bool,
    },
    "openai": {
        "api_key": str,
        "concurrency": int,
        "timeout": float,
        "max_attempts": int,
        "backoff": float,
        "max_backoff": float,
        "logprobs": bool,
        "seed": int,
        "tokenizer": str,
    },
    "portfolio": {},
    "mix": {},
}

KINDS = tuple(OPTIONS)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class BackendSpec:
    """A parsed spec.

    ``target`` is the path or hub id (hf, vllm), the server URL (openai), empty (portfolio), or
    the text after ``mix:``; ``model`` is the model name after ``#`` (openai only); ``parts``
    are the parsed components of a mix; ``options`` are typed values.
    """

    kind: str
    target: str = ""
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    model: str = ""
    parts: tuple[BackendSpec, ...] = ()

    def __str__(self) -> str:
        if self.kind == "portfolio":
            return "portfolio"
        if self.kind == "mix":
            return "mix:" + ",".join(str(p) for p in self.parts)
        text = f"{self.kind}:{self.target}"
        if self.kind == "openai":
            text += f"#{self.model}"
        if self.options:
            text += "?" + "&".join(f"{k}={_render(v)}" for k, v in self.options.items())
        return text


def _render(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _error(spec: str, why: str) -> ValueError:
    return ValueError(f"bad backend spec {spec!r}: {why}\n{VALID_FORMS}")


def _coerce(spec: str, kind: str, key: str, raw: str) -> Any:
    kind_options = OPTIONS[kind]
    if key not in kind_options:
        known = ", ".join(kind_options) or "none"
        raise _error(spec, f"unknown option {key!r} for {kind} (known: {known})")
    typ = kind_options[key]
    if typ is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise _error(spec, f"option {key}={raw!r} is not a boolean (true/false)")
    try:
        return typ(raw)
    except ValueError:
        raise _error(spec, f"option {key}={raw!r} is not a valid {typ.__name__}") from None


def _parse_options(spec: str, kind: str, text: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in text.split("&"):
        key, eq, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key or not raw:
            raise _error(spec, f"option {pair!r} is not key=value")
        if key in options:
            raise _error(spec, f"option {key!r} given twice")
        options[key] = _coerce(spec, kind, key, raw)
    return options


def parse_spec(spec: str) -> BackendSpec:
    """Parse a backend spec string (see the module docstring); ``ValueError`` when malformed."""
    return _parse(spec.strip(), spec, in_mix=False)


def _parse(text: str, spec: str, *, in_mix: bool) -> BackendSpec:
    if not text:
        raise _error(spec, "empty spec")
    if text == "portfolio":
        return BackendSpec("portfolio")
    kind, colon, rest = text.partition(":")
    if not colon:
        raise _error(spec, f"no kind in {text!r}")
    if kind not in KINDS:
        raise _error(spec, f"unknown kind {kind!r}")
    if kind == "portfolio":
        raise _error(spec, "portfolio takes no target or options")
    if kind == "mix":
        if in_mix:
            raise _error(spec, "a mix cannot contain a mix")
        chunks = [c.strip() for c in rest.split(",")]
        if not rest.strip() or any(not c for c in chunks):
            raise _error(spec, "mix needs comma-separated specs, none of them empty")
        parts = tuple(_parse(c, spec, in_mix=True) for c in chunks)
        return BackendSpec("mix", rest, parts=parts)
    if kind == "openai":
        url, hash_, after = rest.partition("#")
        if not hash_:
            raise _error(spec, "openai needs URL#MODEL")
        if not url.startswith(("http://", "https://")):
            raise _error(spec, f"openai URL {url!r} must start with http:// or https://")
        model, q, opts = after.partition("?")
        if not model.strip():
            raise _error(spec, "openai needs a model name after '#'")
        options = _parse_options(spec, kind, opts) if q else {}
        return BackendSpec(kind, url, options, model=model.strip())
    target, q, opts = rest.partition("?")
    if not target.strip():
        raise _error(spec, f"{kind} needs a path or model id")
    options = _parse_options(spec, kind, opts) if q else {}
    return BackendSpec(kind, target.strip(), options)


# A Hugging Face hub id: `name` or `owner/name`, word characters, dots and dashes.
_HUB_ID = re.compile(r"^[A-Za-z0-9_][\w.-]*(/[A-Za-z0-9_][\w.-]*)?$")


def missing_model(target: str) -> str | None:
    """Why ``target`` (an ``hf:``/``vllm:`` model, a base model to train) names no model: it is
    not an existing path and cannot be a hub id either (``/models/x``, ``./out``, ``~/m``,
    ``a/b/c``). None when it exists or may be a hub id: whether that downloads is for the
    library to say, and it needs network."""
    if Path(target).expanduser().exists():
        return None
    if _HUB_ID.match(target) and ".." not in target:
        return None
    return (f"no such directory: {target} (a local model must be a directory that exists; a "
            "Hugging Face hub id such as deepseek-ai/DeepSeek-Prover-V1.5-RL is downloaded, "
            "which needs network)")


def validate_spec(spec: str) -> BackendSpec:
    """``parse_spec``, and every model the spec names must be there (``missing_model``): a
    policy is refused before Lean starts, not after minutes of loading."""
    parsed = parse_spec(spec)
    for part in parsed.parts or (parsed,):
        why = missing_model(part.target) if part.kind in ("hf", "vllm") else None
        if why is not None:
            raise ValueError(f"bad backend spec {spec!r}: {why}")
    return parsed
