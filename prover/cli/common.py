"""What every ``prover`` command shares: exit codes, error exits, reading configuration and
finding the Lean REPL, and the Lean options. The command modules of ``prover.cli`` import it;
it imports none of them."""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:  # annotations only: the commands import their heavy parts lazily
    from lean_bridge.process import ReplSpec
    from prover.config import Settings
    from search import Budget

# The one set of exit codes of every command (a contract for scripts).
EXIT_OK = 0
EXIT_NOT_PROVED = 1  # something was not checked/proved
EXIT_FAILED = EXIT_NOT_PROVED  # `train`: the run itself failed (same code, the job's own failure)
EXIT_USAGE = 2  # bad usage or input
EXIT_NO_LEAN = 3  # no Lean REPL could be started (the message says how to fix it)
EXIT_CHANGED = 4  # `prove`: FILE (or --output PATH) changed while it ran; nothing written
EXIT_INTERRUPTED = 130  # Ctrl-C


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def read_lean_file(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{path} is not UTF-8 text (byte {exc.start}): Lean files must be UTF-8", EXIT_USAGE)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", EXIT_USAGE)


def settings_from(flags: dict[str, Any]) -> Settings:
    """``load_settings(flags)``; a value no layer may give exits 2 naming where it came from."""
    from prover.config import ConfigError, load_settings

    try:
        return load_settings(flags)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def repl_spec(settings: Settings, *, auto_setup: bool = True) -> ReplSpec:
    """The REPL to talk to: --repl / PROVER_REPL / prover.toml, else the workspace's own.

    A workspace that was never built is set up here, on first use, saying what it downloads.
    """
    from lean_bridge.process import GIB, ProcessLimits, ReplSpec
    from lean_bridge.workspace import (
        Pins,
        default_workspace,
        is_built,
        read_pins,
        workspace_spec,
    )

    limits = ProcessLimits(memory_bytes=int(settings.memory_gb * GIB))
    if settings.repl:
        command = tuple(shlex.split(settings.repl))
        if not command:
            fail("--repl is empty", EXIT_USAGE)
        return ReplSpec(command, limits=limits)
    workspace = Path(settings.workspace) if settings.workspace else default_workspace()
    if not is_built(workspace) and auto_setup:
        from lean_bridge.setup import SetupError, setup_workspace

        pins = read_pins(workspace) if (workspace / "lakefile.lean").is_file() else Pins.default()
        click.echo(f"No Lean REPL is set up yet: setting up {workspace} (first use).", err=True)
        try:
            setup_workspace(workspace, pins, say=lambda s: click.echo(s, err=True),
                            write_files=not (workspace / "lakefile.lean").is_file())
        except SetupError as exc:
            fail(str(exc), EXIT_NO_LEAN)
    from lean_bridge.errors import ReplUnavailable

    try:
        return workspace_spec(workspace, limits)
    except ReplUnavailable as exc:
        fail(str(exc), EXIT_NO_LEAN)


def lean_options(func):
    """Options shared by every command that talks to Lean."""
    func = click.option("--repl", metavar="CMD",
                        help="Command that starts a Lean REPL (any program speaking its protocol). "
                             "Default: PROVER_REPL, prover.toml, else the workspace's REPL.")(func)
    func = click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
                        help="Lean workspace built by `prover setup` (default: this checkout).")(func)
    # Ranges of settings are checked by prover.config, the same way for flag, environment and
    # file: a click range here would be a second rule with another message.
    func = click.option("--timeout", type=float, metavar="S",
                        help="Wall-clock seconds per Lean request (default 60).")(func)
    return func


def state_comment_option(func):
    """``--state-comment/--no-state-comment``: the searching commands' switch for RMaxTS's
    tactic-state comment (config key ``tactic_state_comment``; default on)."""
    return click.option(
        "--state-comment/--no-state-comment", "tactic_state_comment", default=None,
        help="RMaxTS: end each prompt with the node's `/- tactic state: … -/` comment "
             "(default; config tactic_state_comment = true|false).")(func)


def sampling_options(func):
    """``--temperature``, ``--top-p``, ``--max-tokens``: a model policy's sampling (config keys
    of the same names). Unset, the model family's published values apply."""
    func = click.option("--max-tokens", type=int, metavar="N",
                        help="Max new tokens per generation (default: the model family's, "
                             "else 2048; cut to the served model's context).")(func)
    func = click.option("--top-p", type=float, metavar="P",
                        help="Nucleus sampling top-p (default: the model family's, else 0.95).")(func)
    func = click.option("--temperature", type=float, metavar="T",
                        help="Sampling temperature (default: the model family's, else 1.0; "
                             "see `prover models`).")(func)
    return func


def model_parts(policy: str) -> list[Any]:
    """The parts of a policy spec that are models (hf, vllm, openai)."""
    from prover.policies.backends.spec import parse_spec

    parsed = parse_spec(policy)
    return [p for p in (parsed.parts or (parsed,)) if p.kind in ("hf", "vllm", "openai")]


def family_format(policy: str, method: str) -> str | None:
    """The prompt format the model of ``policy`` gets from its family when none is given, if
    it differs from what no format means (deepseek-v1.5; next-tactic for bestfirst). None for
    no model, several models (a mix: each part picks its own) or an unknown one. A family made
    for the other kind of search (a step prover under rmaxts, a whole-proof model under
    bestfirst) keeps the default, with a warning."""
    from prover.policies.families import DEFAULT_FORMAT, family_for_model
    from prover.policies.prompts import PROMPT_FORMATS
    from prover.policies.proposer import model_id, warn_once

    parts = model_parts(policy)
    if len(parts) != 1:
        return None
    family = family_for_model(model_id(parts[0]))
    if family is None or family.prompt_format not in PROMPT_FORMATS:
        return None  # make_proposer warns
    tactics = method == "bestfirst"
    if (family.method == "tactic") != tactics:
        default = "next-tactic" if tactics else DEFAULT_FORMAT
        kind = "a tactic (step) prover" if family.method == "tactic" else "a whole-proof model"
        warn_once(f"{family.name} is {kind}; --search {method} uses the prompt format "
                  f"{default} (choose with --prompt-format)")
        return None if tactics else DEFAULT_FORMAT
    default = "next-tactic" if tactics else DEFAULT_FORMAT
    return None if family.prompt_format == default else family.prompt_format


def warn_lean_mismatch(settings: Settings) -> None:
    """Warn (stderr) when the workspace's Lean differs from the one a model's family was trained
    and evaluated on. Nothing to compare with a --repl command (its Lean is unknown here)."""
    from lean_bridge.workspace import (
        DEFAULT_LEAN,
        default_workspace,
        pins_workspace,
        workspace_lean,
    )
    from prover.policies.families import family_for_model, family_pins
    from prover.policies.proposer import model_id, warn_once

    if settings.repl:
        return
    workspace = Path(settings.workspace) if settings.workspace else default_workspace()
    lean = workspace_lean(workspace) or DEFAULT_LEAN  # an unset one is set up at the default
    for part in model_parts(settings.policy):
        family = family_for_model(model_id(part), settings.prompt_format)
        if family is None or family.lean == lean:
            continue
        try:
            where = f" (it goes to {pins_workspace(family_pins(family))}; pass it with --workspace)"
        except ValueError:
            where = ""
        warn_once(f"{family.name} was trained and evaluated on Lean {family.lean}"
                  + (f" (Mathlib {family.mathlib[:12]})" if family.mathlib else "")
                  + f", but the workspace {workspace} runs Lean {lean}: proofs may fail for "
                  f"version reasons. `prover setup --for {family.name}` makes its workspace"
                  + where + ".")


def self_correct_option(func):
    """``--self-correct R``: the searching commands' self-correction turns (config key
    ``self_correct``; default 0)."""
    return click.option(
        "--self-correct", "self_correct", type=int, default=None, metavar="R",
        help="Whole-proof sampling: after a candidate Lean refuses, up to R more turns that "
             "show the model Lean's errors in its family's published format; each turn is one "
             "generation of the budget (default 0; config self_correct). Without --search, "
             "R > 0 runs sample.")(func)


# The methods that sample whole proofs, where self-correction applies (decompose samples
# its lemmas' proofs).
SELF_CORRECTING_METHODS = ("sample", "decompose")


@dataclass(frozen=True)
class SearchSettings:
    """What a searching command (prove, eval, synth) runs with, resolved once: every setting
    (flag > ``PROVER_*`` > ``prover.toml`` > default), the search method, its budget parsed
    and the prompt format the method needs."""

    settings: Settings
    method: str
    budget: Budget
    prompt_format: str | None

    def search_options(self) -> dict[str, Any]:
        """The method's keyword options that settings decide. Only a non-default value is
        passed, so a default run's options (and an eval run's identity) stay as they were."""
        options: dict[str, Any] = {}
        if self.method == "rmaxts" and not self.settings.tactic_state_comment:
            options["tactic_state_comment"] = False
        if self.method in SELF_CORRECTING_METHODS and self.settings.self_correct:
            options["self_correct"] = self.settings.self_correct
        if self.method == "bestfirst" and self.prompt_format is not None:
            from prover.policies.prompts import get_format

            # the node priority the step format's authors search with (search.priority)
            priority = get_format(self.prompt_format).priority
            if priority != "cumulative":
                options["priority"] = priority
        return options

    def sampling(self) -> dict[str, Any]:
        """The sampling the user set (flag, ``PROVER_*``, ``prover.toml``), for an eval run's
        identity: another temperature, top_p or max_tokens is another experiment."""
        return {k: v for k in ("temperature", "top_p", "max_tokens")
                if (v := getattr(self.settings, k)) is not None}


def search_settings(*, repl: str | None, workspace: Path | None, timeout: float | None,
                    workers: int | None, policy: str | None, search_method: str | None,
                    budget: str | None, seed: int | None, prompt_format: str | None,
                    verbose: bool, tactic_state_comment: bool | None = None,
                    temperature: float | None = None, top_p: float | None = None,
                    max_tokens: int | None = None, self_correct: int | None = None
                    ) -> SearchSettings:
    """The settings of a searching command from its flags (None: not given), the environment
    and config files; exits 2 unless the search method, budget, prompt format and policy spec
    make sense together. Without a prompt format, a model's family chooses it
    (``family_format``); a workspace whose Lean is not the family's is warned about.
    Self-correction (``self_correct`` > 0) needs whole-proof sampling: with no search method
    given anywhere it selects ``sample``, with another method it exits 2."""
    from prover.drivers import prove as pv
    from prover.policies.backends.spec import parse_spec
    from search import Budget

    settings = settings_from({
        "repl": repl, "workspace": str(workspace) if workspace else None, "timeout": timeout,
        "workers": workers, "policy": policy, "search": search_method, "budget": budget,
        "seed": seed, "prompt_format": prompt_format,
        "tactic_state_comment": tactic_state_comment, "temperature": temperature,
        "top_p": top_p, "max_tokens": max_tokens, "self_correct": self_correct})
    from prover.config import DEFAULT

    if settings.self_correct and settings.sources.get("search", DEFAULT) == DEFAULT:
        # Self-correction is a whole-proof sampling feature: no method given means sample.
        settings = replace(settings, search="sample",
                           sources={**settings.sources, "search": "implied by self_correct"})
    if verbose:
        click.echo("effective configuration:", err=True)
        for line in settings.describe():
            click.echo(f"  {line}", err=True)
    method_name = settings.search
    if settings.self_correct and method_name not in SELF_CORRECTING_METHODS:
        from prover.config import where

        fail(f"{where('self_correct', settings.self_correct, settings.sources['self_correct'])}: "
             f"self-correction works with whole-proof sampling (--search sample or decompose), "
             f"not --search {method_name}", EXIT_USAGE)
    try:
        method = pv.check_method(method_name)
        plan_budget = Budget.parse(settings.budget)
        parse_spec(settings.policy)
        fmt = pv.prompt_format_for(
            method, settings.prompt_format or family_format(settings.policy, method))
    except ValueError as exc:  # ProveInputError included
        fail(str(exc), EXIT_USAGE)
    warn_lean_mismatch(settings)
    return SearchSettings(settings, method, plan_budget, fmt)
