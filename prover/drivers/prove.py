"""``prover prove``: fill the ``sorry`` proofs of a Lean file, and write back only what Lean accepts.

The pieces, in the order a run uses them (``prover.cli.prove`` wires concrete backends in):

* ``select_targets(text, names)``: the theorems and lemmas whose proof is exactly ``sorry`` /
  ``by sorry`` (``text.find_sorry_proofs``), in file order, or only the named ones. Input that
  gives nothing to do raises ``ProveInputError`` (the CLI's exit 2).
* ``problem_for(text, target, …)``: the ``Problem`` for one target. ``header`` is the file's
  ``import``/``open`` header (``parse_file(text).header``, the REPL pool key, so every theorem
  of a file shares warm processes); ``statement`` is everything between the header and the
  target's ``:=`` (the preamble: defs, lemmas, comments, its docstring) plus `` by\\n``, with the
  earlier gaps edited: an earlier theorem proved in this run carries its new proof, an earlier
  one still unproved (any theorem/lemma/example whose proof has a ``sorry``/``admit``) is left
  out (a proof leaning on it would rest on ``sorryAx`` and be refused anyway).
* ``prove_file(…)``: one ``search.search`` per target, in file order; each found proof has
  already passed the full verdict (``search.verify``). After each theorem the progress
  sidecar (``ProgressStore``) is rewritten atomically, so an interrupted run keeps its proofs.
  An RMaxTS search also checkpoints its tree in ``FILE.prover-checkpoints/`` (one file per
  theorem, ``benchmarks.checkpoints``), so a theorem cut off mid-search resumes its tree; the
  file goes once the theorem's outcome is recorded (an unproved theorem is searched afresh by
  the next run, as before).
* ``final_check(…)``: the proofs are put into the file (``assemble``: one pass, each proof
  span replaced, so every other byte stays as it was) and the assembled file is checked once with
  ``LeanChecker.check_file``; only theorems it reports ``proved`` are kept (should one be
  dropped, the file is assembled and checked again without it).
* ``write_result(…)``: in place (``FILE.bak`` first, then a temporary file in the same
  directory and ``os.replace``) or to ``--output``; only while FILE (and the output path)
  are as they were when the run started, else ``ChangedDuringRun`` and nothing is written:
  the proofs stay in the sidecar, keyed by the problem each proves (``problem_key``), so the
  next run applies them to every theorem the edit left unchanged.

The pieces live in ``targets``, ``outcomes``, ``progress``, ``reporting`` and ``writeback``;
this module runs them and keeps every name importable from here.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from benchmarks.checkpoints import METHOD as TREE_METHOD
from benchmarks.checkpoints import TreeCheckpoints, checkpoint_options
from lean_bridge.files import atomic_write
from lean_bridge.text import Declaration, parsed
from prover.drivers.outcomes import TheoremOutcome, TheoremStatus
from prover.drivers.progress import (
    PROGRESS_FORMAT,
    PROGRESS_SUFFIX,
    ProgressStore,
    problem_key,
    sha256_of,
)
from prover.drivers.reporting import (
    PlainReporter,
    Reporter,
    RichReporter,
    diff,
    make_reporter,
    print_summary,
)
from prover.drivers.targets import (
    GAP_KINDS,
    STATEMENT_TAIL,
    TARGET_KINDS,
    HeaderRejected,
    ProveInputError,
    assemble,
    duplicate_notes,
    file_proof,
    gaps_of,
    name_list,
    problem_for,
    select_targets,
)
from prover.drivers.writeback import BACKUP_SUFFIX, ChangedDuringRun, file_state, write_result
from search import search
from search.methods import METHOD_NAMES
from search.watched import WatchedProposer

SEARCH_METHODS = METHOD_NAMES
FINAL_CHECK_ROUNDS = 3


def _tree_summary(stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("nodes", "max_depth", "expansions", "trees", "attempts", "duplicates")
    return {k: stats[k] for k in keys if k in stats and isinstance(stats[k], (int, float))}


def _why_unproved(result: Any, budget: Any) -> list[str]:
    """A short account of a search that found nothing: Lean checks that got no verdict
    first (the budget was not really searched), then its trace."""
    reasons = [f"no proof within the budget {budget}"]
    if result.crashed:
        reasons.append(f"{result.crashed} Lean check(s) crashed the REPL and got no verdict: "
                       f"{(result.crash_cause or 'the Lean REPL crashed')[:200]}")
    if result.timeouts:
        reasons.append(f"{result.timeouts} Lean check(s) timed out (see --timeout)")
    for entry in reversed(result.trace):
        if entry.get("event") == "session_open_failed":
            error = str(entry.get("error", ""))
            if error != result.crash_cause:  # said just above
                reasons.append(f"no tactic session: {error[:200]}")
            break
    statuses = [e["status"] for e in result.trace if isinstance(e.get("status"), str)]
    if statuses:
        counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
        reasons.append("candidates: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return reasons


# -- the run -------------------------------------------------------------------------------------

def check_method(method: str) -> str:
    if method not in SEARCH_METHODS:
        raise ProveInputError(f"unknown search {method!r}; choose from {', '.join(SEARCH_METHODS)}")
    return method


def prompt_format_for(method: str, prompt_format: str | None) -> str | None:
    """The prompt format for a model policy: the given one (it must suit the search: tactic
    formats for best-first, proof formats otherwise), else ``next-tactic`` for best-first and
    the proposer's default for the others."""
    from prover.policies.prompts import get_format

    if prompt_format is None:
        return "next-tactic" if method == "bestfirst" else None
    try:
        fmt = get_format(prompt_format)
    except ValueError as exc:
        raise ProveInputError(str(exc)) from None
    if (method == "bestfirst") != (fmt.output == "tactic"):
        want = "a tactic format (next-tactic)" if method == "bestfirst" else "a proof format"
        raise ProveInputError(f"--search {method} needs {want}, not --prompt-format {prompt_format}")
    return prompt_format


async def preflight(lean: Any, header: str, *, strict: bool = True) -> str | None:
    """Start one REPL on the file's header and ask its Lean version (``prover.drivers.preflight``; it
    stays warm in the pool for the searches); the version.

    Raises ``ReplUnavailable`` when no working REPL starts. A header Lean answers with an
    error raises ``HeaderRejected`` (``strict``: prove, where nothing can be done), or else
    (eval, synth: each attempt on it becomes an ``error`` line with Lean's message) the
    version is asked of a REPL with no imports. The failed header's REPL is closed by the
    pool: its environment is never reused."""
    from lean_bridge.errors import HeaderError
    from prover.drivers.preflight import start_lean

    try:
        return await start_lean(lean, header)
    except HeaderError as exc:
        if strict:
            raise HeaderRejected(f"its header does not elaborate: Lean says {exc.detail}") \
                from None
        return await start_lean(lean, "")


async def prove_file(text: str, targets: Sequence[Declaration], *, proposer: Any, lean: Any,
                     method: str, budget: Any, seed: int, store: ProgressStore | None = None,
                     reporter: Reporter | None = None,
                     options: dict[str, Any] | None = None,
                     searcher: Callable[..., Any] | None = None,
                     checkpoints: TreeCheckpoints | None = None) -> list[TheoremOutcome]:
    """Search a proof for each target in file order (module docstring); proofs saved in
    ``store`` for these theorems are reused instead of searched. ``searcher`` has the
    signature of ``search.search`` (the default), e.g. a search on a Ray actor. With
    ``checkpoints`` an ``rmaxts`` search keeps its tree there and resumes it."""
    searcher = searcher or search
    reporter = reporter or Reporter()
    header = parsed(text).header  # both computed once for all targets
    gaps = gaps_of(text)
    proofs: dict[str, str] = {}
    outcomes: list[TheoremOutcome] = []
    for index, target in enumerate(targets, start=1):
        name = target.name or ""
        reporter.start(index, len(targets), name, budget.total)
        problem = problem_for(text, target, proofs=proofs, gaps=gaps, header=header)
        key = problem_key(problem)
        saved = store.saved(name, key) if store is not None else None
        if saved is not None:
            outcome = TheoremOutcome.from_saved(name, saved)
        else:
            resume = checkpoints.prepare(name, 0, problem, budget) \
                if checkpoints is not None and method == TREE_METHOD else None
            asked = [resume.generations if resume is not None else 0]

            def on_ask(n: int, depth: int | None, _name: str = name,
                       _asked: list[int] = asked) -> None:
                _asked[0] += n
                reporter.update(_name, _asked[0], depth)

            result = await searcher(problem, method=method,
                                    proposer=WatchedProposer(proposer, on_ask), lean=lean,
                                    budget=budget, rng=random.Random(f"{seed}/{name}"),
                                    **(options or {}),
                                    **checkpoint_options(method, resume))
            outcome = TheoremOutcome(
                name, TheoremStatus.PROVED if result.proved else TheoremStatus.UNPROVED,
                file_proof(result.proof) if result.proof is not None else None,
                result.generations, result.lean_calls, result.seconds, result.method,
                result.cost, _tree_summary(result.tree_stats),
                reasons=[] if result.proved else _why_unproved(result, budget),
                crashed=result.crashed, timeouts=result.timeouts,
                distinct=getattr(result, "distinct", None),
                round=getattr(result, "round", None) if result.proved else None)
        if outcome.proof is not None:
            proofs[name] = outcome.proof
        outcomes.append(outcome)
        if store is not None:
            store.record(outcome, key)
        if checkpoints is not None:  # the outcome is recorded: its tree is not needed
            checkpoints.discard(name, 0)
        reporter.finish(outcome)
    return outcomes


async def final_check(lean: Any, text: str, targets: Sequence[Declaration],
                      outcomes: Sequence[TheoremOutcome]) -> str:
    """Assemble the file with the proofs found and check it with ``check_file``; a theorem it
    does not report ``proved`` is set back to ``unproved`` (its ``sorry`` stays). Returns the
    text to write."""
    by_name = {o.name: o for o in outcomes}
    for _ in range(FINAL_CHECK_ROUNDS):
        proofs = {o.name: o.proof for o in outcomes
                  if o.status is TheoremStatus.PROVED and o.proof is not None}
        if not proofs:
            return text
        new_text = assemble(text, targets, proofs)
        checks = await lean.check_file(new_text, list(proofs))
        verdicts: dict[str, Any] = {}
        for c in checks:  # rows in file order: a target is the first declaration of its name
            verdicts.setdefault(c.name, c.result)
        dropped = False
        for name in proofs:
            result = verdicts.get(name)
            if result is None or not result.proved:
                o = by_name[name]
                o.status, o.proof = TheoremStatus.UNPROVED, None
                why = "; ".join(result.reasons) if result is not None and result.reasons else \
                    (result.status.value if result is not None else "not checked")
                o.reasons.append(f"refused by the check of the whole file: {why}")
                dropped = True
        if not dropped:
            return new_text
    proofs = {o.name: o.proof for o in outcomes
                  if o.status is TheoremStatus.PROVED and o.proof is not None}
    return assemble(text, targets, proofs)  # pragma: no cover - needs three rounds of refusals


__all__ = [
    "BACKUP_SUFFIX", "ChangedDuringRun", "GAP_KINDS", "PROGRESS_FORMAT", "PROGRESS_SUFFIX",
    "HeaderRejected", "PlainReporter", "ProgressStore", "ProveInputError", "Reporter", "RichReporter",
    "SEARCH_METHODS", "STATEMENT_TAIL", "TARGET_KINDS", "TheoremOutcome", "TheoremStatus",
    "assemble", "atomic_write", "check_method", "diff", "duplicate_notes", "file_proof",
    "file_state", "final_check", "gaps_of", "make_reporter", "name_list", "preflight",
    "print_summary", "problem_for", "problem_key", "prompt_format_for", "prove_file",
    "select_targets", "sha256_of", "write_result",
]
