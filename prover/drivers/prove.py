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
* ``final_check(…)``: the proofs are put into the file (``assemble``: one pass, each proof
  span replaced, so every other byte stays as it was) and the assembled file is checked once with
  ``LeanChecker.check_file``; only theorems it reports ``proved`` are kept (should one be
  dropped, the file is assembled and checked again without it).
* ``write_result(…)``: in place (``FILE.bak`` first, then a temporary file in the same
  directory and ``os.replace``) or to ``--output``; only while FILE (and the output path)
  are as they were when the run started, else ``ChangedDuringRun`` and nothing is written:
  the proofs stay in the sidecar, keyed by the problem each proves (``problem_key``), so the
  next run applies them to every theorem the edit left unchanged.

``search`` imports ``prover``, so it is imported inside the functions that need it.
"""
from __future__ import annotations

import bisect
import difflib
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from lean_bridge.files import atomic_write
from lean_bridge.text import (
    Declaration,
    LineIndex,
    check_fits,
    find_identifier,
    find_sorry_proofs,
    parsed,
    repeated_names,
)
from search.methods import METHOD_NAMES
from search.problem import Problem
from search.watched import WatchedProposer

PROGRESS_FORMAT = "prover-progress/1"
PROGRESS_SUFFIX = ".prover-progress.json"
BACKUP_SUFFIX = ".bak"
SEARCH_METHODS = METHOD_NAMES
TARGET_KINDS = ("theorem", "lemma")
GAP_KINDS = ("theorem", "lemma", "example")
# What a target's statement ends with: every policy continues a tactic block.
STATEMENT_TAIL = " by\n"
FINAL_CHECK_ROUNDS = 3


class ProveInputError(ValueError):
    """The file or the options give nothing sensible to do (the CLI's exit 2)."""


# -- what to prove -----------------------------------------------------------------------------

def select_targets(text: str, names: Sequence[str] = ()) -> list[Declaration]:
    """The theorems/lemmas to prove, in file order: those whose proof is ``sorry``, or only the
    named ones (each must exist and have a ``sorry`` proof). A name declared twice is Lean's
    error (it refuses each declaration after the first): only the first one can be proved,
    so a later ``sorry`` of that name is no target (``duplicate_notes`` says so)."""
    decls = parsed(text).declarations
    declared = [d for d in decls if d.kind in TARGET_KINDS and d.name]
    if not declared:
        raise ProveInputError("it has no theorem or lemma (is it Lean 4 source?)")
    first: dict[str, int] = {}  # name -> start of its first declaration, of any kind
    for d in decls:
        if d.name:
            first.setdefault(d.name, d.start)
    gaps = [d for d in find_sorry_proofs(text, kinds=TARGET_KINDS) if d.name]
    open_ = [d for d in gaps if first[d.name or ""] == d.start]
    repeats = ", ".join(dict.fromkeys(f"`{d.name}`" for d in gaps if first[d.name or ""] != d.start))
    why_not = f" (a `sorry` of {repeats} is a redeclaration, which Lean refuses)" if repeats else ""
    if names:
        known = {d.name for d in declared}
        unknown = [n for n in dict.fromkeys(names) if n not in known]
        if unknown:
            raise ProveInputError(f"no theorem named {', '.join(unknown)} (it has: "
                                  f"{name_list(d.name or '' for d in declared)})")
        with_sorry = {d.name for d in open_}
        done = [n for n in dict.fromkeys(names) if n not in with_sorry]
        if done:
            raise ProveInputError(f"{', '.join(done)} has a proof already (only `sorry` proofs "
                                  f"are replaced){why_not}")
        wanted = set(names)
        open_ = [d for d in open_ if d.name in wanted]
    if not open_:
        raise ProveInputError(f"no theorem or lemma has a `sorry` proof{why_not}: there is "
                              "nothing to prove")
    return open_


def duplicate_notes(text: str) -> list[str]:
    """One line for each theorem/lemma name that ``text`` declares more than once: which one
    ``prove`` works on (the first, if its proof is ``sorry``) and why not the others."""
    decls = [d for d in parsed(text).declarations if d.name]
    theorems = {d.name for d in decls if d.kind in TARGET_KINDS}
    index = LineIndex(text)
    repeated = repeated_names((d.name or "", index.offset_to_line_col(d.keyword_start)[0])
                              for d in decls if d.name in theorems)
    return [r.describe() + "; only the first can be proved, give the others names of their own"
            for r in repeated]


def name_list(names, shown: int = 20) -> str:
    """``names`` once each, the first ``shown`` of them: a message stays short for any file."""
    distinct = list(dict.fromkeys(names))
    more = f", … ({len(distinct) - shown} more)" if len(distinct) > shown else ""
    return ", ".join(distinct[:shown]) + more


def gaps_of(text: str) -> list[Declaration]:
    """Declarations (theorem, lemma, example) whose proof holds a ``sorry`` or ``admit``."""
    offsets = sorted(find_identifier(text, "sorry") + find_identifier(text, "admit"))
    out = []
    for d in parsed(text).declarations:
        # The first gap token at or after the proof's start, found by bisection.
        k = bisect.bisect_left(offsets, d.body_start)
        if d.kind in GAP_KINDS and k < len(offsets) and offsets[k] < d.end:
            out.append(d)
    return out


def _edit_spans(text: str, upto: int, gaps: Sequence[Declaration],
                proofs: dict[str, str]) -> str:
    """``text[:upto]`` with each gap before ``upto`` given its new proof or left out, in one
    pass over the text (the gaps are disjoint declarations)."""
    pieces, pos = [], 0
    for d in sorted((g for g in gaps if g.end <= upto), key=lambda g: g.start):
        if d.name is not None and d.name in proofs:
            pieces += [text[pos:d.body_start], proofs[d.name]]
        else:
            pieces.append(text[pos:d.start])
        pos = d.end
    pieces.append(text[pos:upto])
    return "".join(pieces)


def problem_for(text: str, target: Declaration, *, proofs: dict[str, str],
                gaps: Sequence[Declaration] | None = None, header: str | None = None) -> Problem:
    """The problem of proving ``target`` (module docstring); ``proofs`` maps the names of
    theorems already proved in this run to their new proof text (what follows ``:=``)."""
    header = parsed(text).header if header is None else header
    gaps = gaps_of(text) if gaps is None else gaps
    before = _edit_spans(text, target.body_start, [g for g in gaps if g.end <= target.start], proofs)
    return Problem(name=target.name or "", header=header,
                   statement=before[len(header):] + STATEMENT_TAIL)


def file_proof(search_proof: str) -> str:
    """What replaces ``sorry`` after the ``:=``, for a proof found for ``problem_for``'s
    statement (which ends in `` by\\n``)."""
    return (STATEMENT_TAIL + search_proof).rstrip()


def assemble(text: str, targets: Sequence[Declaration], proofs: dict[str, str]) -> str:
    """``text`` with the proof span of each proved target replaced, in one pass over it."""
    crlf = "\r\n" in text  # keep a Windows file's line endings
    pieces, pos = [], 0
    for d in sorted((t for t in targets if t.name in proofs), key=lambda t: t.start):
        proof = proofs[d.name]  # type: ignore[index]
        if crlf:
            proof = proof.replace("\r\n", "\n").replace("\n", "\r\n")
        if d.body_start < pos:
            raise ValueError("declarations overlap")
        check_fits(text, d)
        pieces += [text[pos:d.body_start], proof]
        pos = d.end
    pieces.append(text[pos:])
    return "".join(pieces)


# -- outcomes ------------------------------------------------------------------------------------

@dataclass
class TheoremOutcome:
    name: str
    status: str = "unproved"  # "proved" | "unproved"
    proof: str | None = None  # the text that follows `:=` in the file
    generations: int = 0
    lean_calls: int = 0
    seconds: float = 0.0
    method: str = ""
    cost: int | None = None
    tree: dict[str, Any] = field(default_factory=dict)
    reused: bool = False  # taken from the progress sidecar of an interrupted run
    reasons: list[str] = field(default_factory=list)
    crashed: int = 0  # Lean checks of the search that got no verdict (REPL crash, garbage)
    timeouts: int = 0  # Lean checks of the search that hit the time limit

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "proof": self.proof,
                "generations": self.generations, "lean_calls": self.lean_calls,
                "seconds": round(self.seconds, 3), "method": self.method, "cost": self.cost,
                "reused": self.reused, "tree": self.tree, "reasons": self.reasons,
                "crashed": self.crashed, "timeouts": self.timeouts}

    @classmethod
    def from_saved(cls, name: str, data: dict[str, Any]) -> "TheoremOutcome":
        return cls(name, "proved", str(data["proof"]), int(data.get("generations", 0)),
                   int(data.get("lean_calls", 0)), float(data.get("seconds", 0.0)),
                   str(data.get("method", "")), data.get("cost"), dict(data.get("tree") or {}),
                   reused=True)


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


# -- the progress sidecar --------------------------------------------------------------------

def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def problem_key(problem: Problem) -> str:
    """What a saved proof is valid for: the sha256 of exactly what was proved, the header and
    the statement with everything before the theorem (``problem_for``)."""
    return sha256_of((problem.header + "\0" + problem.statement).encode("utf-8"))


class ProgressStore:
    """``FILE.prover-progress.json``: the proofs found so far, each with the ``problem_key`` of
    the problem it proves.

    A saved proof is reused when its theorem comes up with the same problem: the theorem and
    everything before it unchanged (the earlier theorems carrying the same new proofs). So an
    interrupted run resumes, and a run whose result was not written because FILE was edited
    meanwhile applies its proofs on the next run to every theorem the edit did not touch.
    ``sha256`` is FILE's as read by this run (said in the note when it differs from the
    sidecar's). ``enabled=False`` (a dry run) reads the sidecar but never writes or deletes it.
    """

    def __init__(self, file: Path, sha256: str, *, enabled: bool = True) -> None:
        self.path = file.with_name(file.name + PROGRESS_SUFFIX)
        self.file = file
        self.sha256 = sha256
        self.enabled = enabled
        self.proofs: dict[str, dict[str, Any]] = {}
        self.note: str | None = None  # why an existing sidecar was not used
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.note = f"ignoring unreadable {self.path.name}: {exc}"
            return
        if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
            self.note = f"ignoring {self.path.name}: not a {PROGRESS_FORMAT} file"
            return
        proofs = data.get("proofs")
        if isinstance(proofs, dict):
            self.proofs = {k: v for k, v in proofs.items() if isinstance(v, dict)
                           and isinstance(v.get("proof"), str) and isinstance(v.get("problem"), str)}
        if self.proofs:
            changed = f"{self.file.name} changed since it was written; " \
                if data.get("sha256") != self.sha256 else ""
            self.note = (f"{len(self.proofs)} proof(s) saved by an earlier run in {self.path.name}: "
                         f"{changed}each is reused where its theorem and everything before it "
                         "are unchanged")

    def saved(self, name: str, key: str) -> dict[str, Any] | None:
        """The saved proof of ``name`` if it was found for the problem ``key``."""
        entry = self.proofs.get(name)
        return entry if entry is not None and entry.get("problem") == key else None

    def record(self, outcome: TheoremOutcome, key: str) -> None:
        if outcome.status == "proved" and outcome.proof is not None:
            entry = outcome.to_json()
            for field_ in ("name", "status", "reused", "reasons"):
                entry.pop(field_, None)
            self.proofs[outcome.name] = {**entry, "problem": key}
        self.save()

    def retain(self, names: set[str]) -> None:
        """Forget the proofs of every other theorem (those the final check refused)."""
        self.proofs = {k: v for k, v in self.proofs.items() if k in names}

    def save(self, *, only_if_useful: bool = False) -> None:
        """Write the sidecar; with ``only_if_useful``, only when it holds a proof or exists."""
        if not self.enabled or (only_if_useful and not self.proofs and not self.path.exists()):
            return
        data = {"format": PROGRESS_FORMAT, "file": self.file.name, "sha256": self.sha256,
                "proofs": self.proofs}
        atomic_write(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))

    def delete(self) -> None:
        if self.enabled:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


# -- progress display ------------------------------------------------------------------------

class Reporter:
    """Progress of a run; the base class says nothing."""

    def start(self, index: int, total: int, name: str, budget_total: int) -> None: ...

    def update(self, name: str, generations: int, depth: int | None) -> None: ...

    def finish(self, outcome: TheoremOutcome) -> None: ...

    def close(self) -> None: ...


def _done_line(o: TheoremOutcome) -> str:
    if o.reused:
        return f"{o.name}: proved (reused from the progress file)"
    tree = ""
    if "nodes" in o.tree:
        tree = f", tree {o.tree['nodes']} nodes, depth {o.tree.get('max_depth', 0)}"
    return (f"{o.name}: {o.status} after {o.generations} generations, {o.lean_calls} Lean calls"
            f"{tree}, {o.seconds:.1f} s")


class PlainReporter(Reporter):
    """Plain lines on a stream (stderr when it is not a terminal); in-flight updates at most
    every ``every`` seconds."""

    def __init__(self, stream=None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self._last = 0.0
        self._started = 0.0
        self._budget = 0
        self._prefix = ""

    def _say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def start(self, index: int, total: int, name: str, budget_total: int) -> None:
        self._started = self._last = time.monotonic()
        self._budget = budget_total
        self._prefix = f"[{index}/{total}]"
        self._say(f"{self._prefix} {name}: searching (budget {budget_total} generations)")

    def update(self, name: str, generations: int, depth: int | None) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            d = f", depth {depth}" if depth is not None else ""
            self._say(f"{self._prefix} {name}: {generations}/{self._budget} generations{d}, "
                      f"{now - self._started:.0f} s")

    def finish(self, outcome: TheoremOutcome) -> None:
        self._say(f"{self._prefix} {_done_line(outcome)}")


class RichReporter(Reporter):
    """A live progress bar per theorem (budget used, best depth, elapsed) on a terminal."""

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("gen"), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=console or Console(stderr=True), transient=False)
        self.progress.start()
        self.tasks: dict[str, Any] = {}

    def start(self, index: int, total: int, name: str, budget_total: int) -> None:
        self.tasks[name] = self.progress.add_task(f"[{index}/{total}] {name}", total=budget_total,
                                                  info="")

    def update(self, name: str, generations: int, depth: int | None) -> None:
        task = self.tasks.get(name)
        if task is not None:
            self.progress.update(task, completed=generations,
                                 info="" if depth is None else f"depth {depth}")

    def finish(self, outcome: TheoremOutcome) -> None:
        task = self.tasks.get(outcome.name)
        colour = "green" if outcome.status == "proved" else "red"
        info = f"[{colour}]{outcome.status}[/]"
        if outcome.reused:
            info += " (reused)"
        elif "nodes" in outcome.tree:
            info += f" tree {outcome.tree['nodes']} nodes, depth {outcome.tree.get('max_depth', 0)}"
        if task is None:
            self.progress.console.print(_done_line(outcome))
            return
        self.progress.update(task, completed=outcome.generations, info=info)
        self.progress.stop_task(task)

    def close(self) -> None:
        self.progress.stop()


def make_reporter(quiet: bool = False) -> Reporter:
    if quiet:
        return Reporter()
    if sys.stderr.isatty():
        return RichReporter()
    return PlainReporter(sys.stderr)


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


async def preflight(lean: Any, header: str) -> str | None:
    """Start one REPL on the file's header and ask its Lean version (``prover.drivers.preflight``; it
    stays warm in the pool for the searches); the version.

    Raises ``ReplUnavailable`` when no working REPL starts, ``ProveInputError`` when the
    header does not elaborate."""
    from lean_bridge.errors import HeaderError
    from prover.drivers.preflight import start_lean

    try:
        return await start_lean(lean, header)
    except HeaderError as exc:
        raise ProveInputError(f"its header does not elaborate: {exc.detail}") from None


async def prove_file(text: str, targets: Sequence[Declaration], *, proposer: Any, lean: Any,
                     method: str, budget: Any, seed: int, store: ProgressStore | None = None,
                     reporter: Reporter | None = None,
                     options: dict[str, Any] | None = None,
                     searcher: Callable[..., Any] | None = None) -> list[TheoremOutcome]:
    """Search a proof for each target in file order (module docstring); proofs saved in
    ``store`` for these theorems are reused instead of searched. ``searcher`` has the
    signature of ``search.search`` (the default), e.g. a search on a Ray actor."""
    from search import search

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
            asked = [0]

            def on_ask(n: int, depth: int | None, _name: str = name) -> None:
                asked[0] += n
                reporter.update(_name, asked[0], depth)

            result = await searcher(problem, method=method,
                                    proposer=WatchedProposer(proposer, on_ask), lean=lean,
                                    budget=budget, rng=random.Random(f"{seed}/{name}"),
                                    **(options or {}))
            outcome = TheoremOutcome(
                name, "proved" if result.proved else "unproved",
                file_proof(result.proof) if result.proof is not None else None,
                result.generations, result.lean_calls, result.seconds, result.method,
                result.cost, _tree_summary(result.tree_stats),
                reasons=[] if result.proved else _why_unproved(result, budget),
                crashed=result.crashed, timeouts=result.timeouts)
        if outcome.proof is not None:
            proofs[name] = outcome.proof
        outcomes.append(outcome)
        if store is not None:
            store.record(outcome, key)
        reporter.finish(outcome)
    return outcomes


async def final_check(lean: Any, text: str, targets: Sequence[Declaration],
                      outcomes: Sequence[TheoremOutcome]) -> str:
    """Assemble the file with the proofs found and check it with ``check_file``; a theorem it
    does not report ``proved`` is set back to ``unproved`` (its ``sorry`` stays). Returns the
    text to write."""
    by_name = {o.name: o for o in outcomes}
    for _ in range(FINAL_CHECK_ROUNDS):
        proofs = {o.name: o.proof for o in outcomes if o.status == "proved" and o.proof is not None}
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
                o.status, o.proof = "unproved", None
                why = "; ".join(result.reasons) if result is not None and result.reasons else \
                    (result.status.value if result is not None else "not checked")
                o.reasons.append(f"refused by the check of the whole file: {why}")
                dropped = True
        if not dropped:
            return new_text
    proofs = {o.name: o.proof for o in outcomes if o.status == "proved" and o.proof is not None}
    return assemble(text, targets, proofs)  # pragma: no cover - needs three rounds of refusals


# -- writing -------------------------------------------------------------------------------------

class ChangedDuringRun(Exception):
    """A file the result depends on changed between the start of the run and the write."""

    def __init__(self, path: Path, before: str | None, after: str | None) -> None:
        def state(sha: str | None) -> str:
            return "absent" if sha is None else f"sha256 {sha[:12]}…"

        super().__init__(f"{path} changed while prove ran ({state(before)} at the start, "
                         f"{state(after)} now)")
        self.path = path


def file_state(path: Path) -> str | None:
    """The sha256 of ``path``'s bytes; None when there is no such file."""
    try:
        return sha256_of(path.read_bytes())
    except FileNotFoundError:
        return None


def _unchanged(path: Path, before: str | None) -> None:
    after = file_state(path)
    if after != before:
        raise ChangedDuringRun(path, before, after)


def write_result(file: Path, original: bytes, new_text: str, *, output: Path | None,
                 output_before: str | None = None) -> Path | None:
    """Write ``new_text``: to ``output`` (FILE untouched), or in place with ``FILE.bak`` kept.
    Nothing is written in place when nothing changed. Returns the path written, if any.

    Just before writing, FILE must still be ``original`` (and ``output`` still in the state
    ``output_before``, its sha256 at the start, None when it did not exist): an edit made while
    the run went on is never overwritten, nor is the result of an older text written anywhere.
    Otherwise ``ChangedDuringRun`` and nothing is written. The backup is ``original`` itself,
    so a ``.bak`` only ever holds what the user had."""
    data = new_text.encode("utf-8")
    to_output = output is not None and not _same_file(output, file)
    if not to_output and data == original:
        return None
    _unchanged(file, sha256_of(original))
    if to_output:
        assert output is not None
        _unchanged(output, output_before)
        atomic_write(output, data, mode_from=file)
        return output
    atomic_write(file.with_name(file.name + BACKUP_SUFFIX), original, mode_from=file)
    atomic_write(file, data, mode_from=file)
    return file


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def diff(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=path, tofile=path + " (proved)"))


def _note(row: dict[str, Any]) -> str:
    """A result row's first reason, and its Lean checks that crashed or timed out: a search
    that Lean did not fully judge must not read as an ordinary "no proof"."""
    parts = [row["reasons"][0][:80]] if row.get("reasons") else []
    if row.get("crashed"):
        parts.append(f"{row['crashed']} Lean check(s) crashed")
    if row.get("timeouts"):
        parts.append(f"{row['timeouts']} Lean check(s) timed out")
    return "; ".join(parts)


def print_summary(report: dict[str, Any], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['file']}  ({report['config'].get('search')}, "
                        f"budget {report['config'].get('budget')})")
    for column in ("theorem", "status", "generations", "Lean calls", "seconds", "note"):
        table.add_column(column)
    for row in report["theorems"]:
        colour = "green" if row["status"] == "proved" else "red"
        note = "reused" if row.get("reused") else _note(row)
        table.add_row(row["name"], f"[{colour}]{row['status']}[/]", str(row["generations"]),
                      str(row["lean_calls"]), f"{row['seconds']:.2f}", note)
    (console or Console()).print(table)


__all__ = [
    "ChangedDuringRun", "GAP_KINDS", "PROGRESS_FORMAT", "PROGRESS_SUFFIX", "PlainReporter",
    "ProgressStore", "file_state", "problem_key",
    "ProveInputError", "Reporter", "RichReporter", "SEARCH_METHODS", "TheoremOutcome",
    "assemble", "atomic_write", "check_method", "diff", "duplicate_notes", "file_proof",
    "final_check", "gaps_of",
    "make_reporter", "name_list", "preflight", "print_summary", "problem_for", "prompt_format_for",
    "prove_file", "select_targets", "sha256_of", "write_result",
]
