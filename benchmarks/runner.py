"""``prover eval``: run a search on every selected benchmark problem, one result line per attempt.

A budget ``N×T`` means N independent attempts of T generations per problem (each attempt is
one ``search.search`` with budget ``1×T`` and its own seed), so pass@k over the attempts is
unbiased and a success's ``cost`` places it on the pass-rate-vs-budget curve.

Durability: every finished attempt is appended to the results file and fsync'd before the next
is written (``ResultLog``); a rerun with the same options skips every (problem, attempt) that
has a line and redoes only what is missing, so ``kill -9`` at any moment loses at most the
attempts in flight and never duplicates one. An ``rmaxts`` attempt in flight loses less: its
tree is checkpointed in ``RUN/checkpoints/`` (``benchmarks.checkpoints``) and the rerun resumes
it; the file goes once the attempt's line is written. Attempts that failed for infrastructure
reasons (status ``error``) are redone by a rerun: an exception, and also a search that found no
proof while some of its Lean checks got no verdict (the REPL crashed or answered garbage), since
its budget was not really searched. A Lean timeout of a candidate is Lean's answer about that
candidate, an honest failure: it stays ``unproved`` and is counted in the line's ``timeouts``.

Where attempts run is pluggable: anything with ``async __call__(item, attempt, timeout)``
returning a result line (``LocalAttempts`` here; Ray-hosted attempts run the same
``run_attempt`` elsewhere). The driver alone writes results. Ray-hosted attempts keep no
checkpoint: a worker may sit on another node, whose disk a retry on another worker (or the
driver's rerun) cannot read.

No candidate is checked twice across a problem's attempts either: ``LocalAttempts`` (and the
synth driver's attempts) hand every attempt of a problem one ``search.verdicts.SharedVerdicts``
(whole-proof sampling and RMaxTS; freed once the problem's attempts are done), so a candidate
an earlier attempt judged takes its verdict without a Lean call. Each line's ``lean_calls``
counts the checks its own attempt caused, ``distinct`` the distinct candidates it judged
(verdict from Lean or from an earlier attempt). Nothing is shared through a rerun (a resumed
``rmaxts`` attempt takes back its own outcomes) nor between Ray-hosted attempts, each of which
is a separate search in some worker.
"""
from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, TextIO

from benchmarks.checkpoints import (
    CHECKPOINT_DIR,
    METHOD,
    Resume,
    TreeCheckpoints,
    checkpoint_options,
)
from benchmarks.feeding import Admission, GeneratorGauge
from benchmarks.manifest import now
from benchmarks.metrics import AttemptStatus
from benchmarks.resultlog import ResultLog
from search import Budget, search
from search.methods import SearchMethod
from search.verdicts import SharedVerdicts
from search.watched import WatchedProposer


class EvalInputError(ValueError):
    """Options that select nothing sensible (the CLI's exit 2)."""

@dataclass(frozen=True)
class EvalPlan:
    """What every attempt of a run is asked to do; ``identity()`` feeds the run id."""
    benchmark: str
    split: str | None
    method: str
    budget: Budget
    policy: str
    seed: int = 0
    prompt_format: str | None = None
    variant: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    # the sampling the user set (temperature, top_p, max_tokens); empty: the model family's
    sampling: Mapping[str, Any] = field(default_factory=dict)
    problem_timeout: float | None = None  # wall-clock seconds for all attempts of a problem
    concurrency: int = 1  # problems in flight
    # more problems that may start while the generator is idle (``benchmarks.feeding``)
    prefetch: int = 1

    def identity(self) -> dict[str, Any]:
        return {"kind": "eval", "benchmark": self.benchmark, "split": self.split,
                "variant": dict(self.variant), "search": self.method, "budget": str(self.budget),
                "policy": self.policy, "prompt_format": self.prompt_format, "seed": self.seed,
                "options": dict(self.options),
                # only when set, so a default run's identity (and tree digests) stay as they were
                **({"sampling": dict(self.sampling)} if self.sampling else {})}

# -- selection -----------------------------------------------------------------------------------

def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"I/N"`` with 0 ≤ I < N: this process takes every N-th problem starting at the I-th."""
    if spec is None:
        return None
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise EvalInputError(f"--shard must look like I/N (e.g. 0/4), got {spec!r}") from None
    if count < 1 or not 0 <= index < count:
        raise EvalInputError(f"--shard {spec}: need 0 <= I < N")
    return index, count

def select(items: Sequence[Any], *, limit: int | None = None, names: Sequence[str] = ()) -> list[Any]:
    """The problems a run covers, in benchmark order: the named ones, else the first ``limit``."""
    if names:
        known = {item.name for item in items}
        unknown = [n for n in dict.fromkeys(names) if n not in known]
        if unknown:
            raise EvalInputError(f"no problem named {', '.join(unknown)} in this benchmark/split")
        wanted = set(names)
        items = [item for item in items if item.name in wanted]
    if limit is not None:
        items = items[:limit]
    if not items:
        raise EvalInputError("the selection is empty: nothing to evaluate")
    return list(items)

def shard_of(items: Sequence[Any], shard: tuple[int, int] | None) -> list[Any]:
    if shard is None:
        return list(items)
    index, count = shard
    return [item for k, item in enumerate(items) if k % count == index]

def results_path(directory: Path, shard: tuple[int, int] | None) -> Path:
    name = "results.jsonl" if shard is None else f"results.shard-{shard[0]}-of-{shard[1]}.jsonl"
    return Path(directory) / name

def result_key(record: Mapping[str, Any]) -> tuple[str, int]:
    return record["problem"], int(record["attempt"])

def is_final(record: Mapping[str, Any]) -> bool:
    """An infrastructure error is not an outcome of the attempt: a rerun does it again."""
    return record.get("status") != AttemptStatus.ERROR

def open_log(directory: Path, shard: tuple[int, int] | None) -> ResultLog:
    return ResultLog(results_path(directory, shard), result_key, final=is_final)

# -- one attempt ---------------------------------------------------------------------------------

def attempt_seed(seed: int, name: str, attempt: int) -> str:
    return f"{seed}/{name}/{attempt}"

def result_line(plan: EvalPlan, item: Any, attempt: int, *, status: AttemptStatus | str,
                run: str = "",
                result: Any = None, generations: int = 0, seconds: float = 0.0,
                error: str | None = None) -> dict[str, Any]:
    status = AttemptStatus(status)  # an unknown status is a bug: refused here, not written
    proved = status is AttemptStatus.PROVED
    return {
        "run": run, "benchmark": plan.benchmark, "split": item.split, "problem": item.name,
        "theorem": item.problem.name, "category": item.category, "attempt": attempt,
        "attempts": plan.budget.attempts, "per_attempt": plan.budget.per_attempt,
        "status": status.value, "proved": proved,
        "proof": result.proof if proved and result is not None else None,
        "cost": result.cost if proved and result is not None else None,
        "generations": result.generations if result is not None else generations,
        "lean_calls": result.lean_calls if result is not None else 0,
        # distinct candidates judged (identical ones take one verdict); None: not counted
        "distinct": getattr(result, "distinct", None) if result is not None else None,
        "seconds": round(result.seconds if result is not None else seconds, 4),
        "method": plan.method, "seed": plan.seed, "error": error, "finished": now(),
        "timeouts": result.timeouts if result is not None else 0,
        "crashed": result.crashed if result is not None else 0,
        # sampling: the turn that gave the proof (0 = a first answer, r = the r-th correction)
        "round": getattr(result, "round", None) if proved and result is not None else None,
        **decomposition_of(result),
    }


def decomposition_of(result: Any) -> dict[str, Any]:
    """For a decomposition search: its lemmas (name, statement, solved, proof, …) and the
    unsolved ones by name and statement, as the line reports them."""
    stats = getattr(result, "tree_stats", None) or {}
    if "lemmas" not in stats:
        return {}
    return {"lemmas": list(stats["lemmas"]), "unsolved": list(stats.get("unsolved") or [])}

async def run_attempt(plan: EvalPlan, item: Any, attempt: int, *, proposer: Any, lean: Any,
                      timeout: float | None, run: str = "",
                      on_generations: Callable[[int], None] | None = None,
                      resume: Resume | None = None,
                      shared: SharedVerdicts | None = None) -> dict[str, Any]:
    """One search with budget ``1×T`` and its own seed, as a result line. A Lean REPL that
    cannot be started at all is raised (the whole run is hopeless); any other failure is an
    ``error`` line, and so is a search that found no proof while some of its Lean checks got
    no verdict (``unjudged``); a wall-clock overrun is a ``timeout`` line. ``on_generations``
    hears the generations asked so far, as they are asked (a progress display). With
    ``resume`` an ``rmaxts`` search checkpoints its tree there every ``resume.every``
    rollouts and resumes from it (``benchmarks.checkpoints``); its generations count on.
    ``shared``: the verdicts the problem's other attempts share (module docstring), used by
    the searches that judge whole candidates (``SHARING``) and ignored by the others."""
    from lean_bridge.errors import ReplUnavailable

    asked = [resume.generations if resume is not None else 0]

    def on_ask(n: int, depth: int | None) -> None:
        asked[0] += n
        if on_generations is not None:
            on_generations(asked[0])

    started = time.monotonic()
    per_attempt = Budget(1, plan.budget.per_attempt)
    try:
        result = await asyncio.wait_for(
            search(item.problem, method=plan.method, proposer=WatchedProposer(proposer, on_ask),
                   lean=lean, budget=per_attempt,
                   rng=random.Random(attempt_seed(plan.seed, item.name, attempt)),
                   **dict(plan.options),
                   **checkpoint_options(plan.method, resume),
                   **({"shared": shared} if shared is not None and plan.method in SHARING
                      else {})),
            timeout=timeout)
    except asyncio.TimeoutError:
        return result_line(plan, item, attempt, status=AttemptStatus.TIMEOUT, run=run,
                           generations=asked[0],
                           seconds=time.monotonic() - started,
                           error=f"wall-clock limit of {timeout:.0f} s reached")
    except ReplUnavailable:
        raise
    except Exception as exc:  # recorded, and redone by a rerun (``is_final``)
        return result_line(plan, item, attempt, status=AttemptStatus.ERROR, run=run,
                           generations=asked[0],
                           seconds=time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
    if not result.proved and result.crashed:
        return result_line(plan, item, attempt, status=AttemptStatus.ERROR, run=run, result=result,
                           error=unjudged(result))
    return result_line(plan, item, attempt, status=AttemptStatus.PROVED if result.proved else
                       AttemptStatus.UNPROVED,
                       run=run, result=result)


def unjudged(result: Any) -> str:
    """The ``error`` of an attempt whose search found nothing while Lean judged not all of it."""
    return (f"{result.crashed} Lean check(s) got no verdict, so the budget was not really searched: "
            f"{result.crash_cause or 'the Lean REPL crashed'}")

class Attempts(Protocol):
    """Runs one attempt somewhere and returns its result line."""

    async def __call__(self, item: Any, attempt: int, timeout: float | None) -> dict[str, Any]: ...

# Hears (problem, attempt, generations asked so far) while an attempt runs.
Watch = Callable[[str, int, int], None]


# The searches that take ``shared=``: those whose candidates are whole proofs.
SHARING = (SearchMethod.SAMPLE.value, SearchMethod.RMAXTS.value)


class ProblemVerdicts:
    """One ``SharedVerdicts`` per problem while its attempts run (module docstring): made at
    its first attempt, dropped at its last or when ``done`` says so (``run_eval`` does once a
    problem's attempts are over, a problem time limit cutting them short included), so the
    memory held is the problems in flight's, not the benchmark's."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self._by_problem: dict[str, SharedVerdicts] = {}

    def __len__(self) -> int:
        return len(self._by_problem)

    def of(self, name: str) -> SharedVerdicts:
        return self._by_problem.setdefault(name, SharedVerdicts.empty())

    def after(self, name: str, attempt: int) -> None:
        """Attempt ``attempt`` of ``name`` is over: the last one frees the problem's."""
        if attempt >= self.attempts - 1:
            self.done(name)

    def done(self, name: str) -> None:
        self._by_problem.pop(name, None)


class LocalAttempts:
    """Attempts in this process: one REPL pool and one proposer shared by all of them;
    ``watch`` hears each attempt's generations as they are asked; with ``checkpoints`` an
    ``rmaxts`` attempt's tree is checkpointed there and resumed (``run_eval`` removes it once
    the attempt's line is written); the attempts of a problem share its verdicts
    (``ProblemVerdicts``, module docstring)."""

    def __init__(self, plan: EvalPlan, *, proposer: Any, lean: Any, run: str = "",
                 watch: Watch | None = None, checkpoints: TreeCheckpoints | None = None) -> None:
        self.plan, self.proposer, self.lean, self.run = plan, proposer, lean, run
        self.watch = watch
        self.checkpoints = checkpoints
        self.verdicts = ProblemVerdicts(plan.budget.attempts)

    async def __call__(self, item: Any, attempt: int, timeout: float | None) -> dict[str, Any]:
        try:
            return await run_attempt(self.plan, item, attempt, proposer=self.proposer,
                                     lean=self.lean, timeout=timeout, run=self.run,
                                     on_generations=watching(self.watch, item, attempt),
                                     shared=self.verdicts.of(item.name),
                                     **attempt_checkpoint(self.plan, self.checkpoints, item,
                                                          attempt))
        finally:
            self.verdicts.after(item.name, attempt)

    def problem_done(self, name: str) -> None:
        self.verdicts.done(name)


def attempt_checkpoint(plan: EvalPlan, checkpoints: TreeCheckpoints | None, item: Any,
                       attempt: int) -> dict[str, Any]:
    """``run_attempt``'s checkpoint arguments for one attempt (none but for ``rmaxts``)."""
    if checkpoints is None or plan.method != METHOD:
        return {}
    budget = Budget(1, plan.budget.per_attempt)
    return {"resume": checkpoints.prepare(item.name, attempt, item.problem, budget)}


def eval_checkpoints(directory: Path, plan: EvalPlan, *,
                     say: Callable[[str], None] | None = None) -> TreeCheckpoints | None:
    """The run directory's checkpoint folder for ``plan`` (None: its method keeps no tree)."""
    if plan.method != METHOD:
        return None
    return TreeCheckpoints(Path(directory) / CHECKPOINT_DIR, plan.identity(), say=say)


def watching(watch: Watch | None, item: Any, attempt: int) -> Callable[[int], None] | None:
    """``run_attempt``'s ``on_generations`` for one attempt of ``item``."""
    if watch is None:
        return None
    return lambda n: watch(item.name, attempt, n)

# -- progress ------------------------------------------------------------------------------------

@dataclass
class Tally:
    """Running counts for the progress line: problems with all attempts done, and solved."""
    attempts: int
    problems: int
    done: dict[str, int] = field(default_factory=dict)  # problem -> attempts with a line
    solved: set[str] = field(default_factory=set)
    errors: int = 0
    timeouts: int = 0  # attempts that ran out of wall-clock time
    lean_timeouts: int = 0  # candidate checks that hit Lean's time limit, in final attempts

    def add(self, record: Mapping[str, Any]) -> None:
        if not is_final(record):
            self.errors += 1
            return
        name = record["problem"]
        self.done[name] = self.done.get(name, 0) + 1
        if record.get("proved"):
            self.solved.add(name)
        self.timeouts += record.get("status") == AttemptStatus.TIMEOUT
        self.lean_timeouts += int(record.get("timeouts") or 0)

    @property
    def finished(self) -> int:
        return sum(1 for n in self.done.values() if n >= self.attempts)

    def line(self) -> str:
        started = len(self.done)
        rate = f"{100 * len(self.solved) / started:.1f}%" if started else "–"
        extra = "".join([f", {self.timeouts} timed out" if self.timeouts else "",
                         f", {self.errors} errors" if self.errors else "",
                         f", {self.lean_timeouts} Lean timeouts" if self.lean_timeouts else ""])
        return (f"solved {len(self.solved)}/{started} ({rate}); {self.finished}/{self.problems} "
                f"problems done{extra}")


def finished_line(record: Mapping[str, Any], tally: Tally) -> str:
    """What happened to one attempt, then the running rate."""
    status = record["status"]
    what = f"proved (cost {record['cost']})" if status == AttemptStatus.PROVED else status
    if record.get("timeouts"):
        what += f" ({record['timeouts']} Lean timeouts)"
    if record.get("error") and status == AttemptStatus.ERROR:
        what += f": {record['error']}"
    return (f"{record['problem']} #{record['attempt']} {what} in {record['seconds']:.1f} s | "
            f"{tally.line()}")


class ProgressLines:
    """One plain line per finished attempt on stderr (``finished_line``); nothing while an
    attempt runs (``benchmarks.progress.LiveProgress`` shows that, on a terminal)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def start(self, problem: str, attempt: int) -> None: ...

    def generations(self, problem: str, attempt: int, n: int) -> None: ...

    def __call__(self, record: Mapping[str, Any], tally: Tally) -> None:
        self.stream.write(finished_line(record, tally) + "\n")
        self.stream.flush()

    def close(self) -> None: ...

# -- the run -------------------------------------------------------------------------------------

async def run_eval(plan: EvalPlan, items: Sequence[Any], log: ResultLog, attempts: Attempts, *,
                   on_result: Callable[[Mapping[str, Any], Tally], None] | None = None,
                   on_start: Callable[[str, int], None] | None = None,
                   run: str = "", checkpoints: TreeCheckpoints | None = None,
                   gauge: GeneratorGauge | None = None) -> Tally:
    """Run the missing attempts of ``items`` (``plan.concurrency`` problems at a time, and up
    to ``plan.prefetch`` more while ``gauge``, which watches the attempts' proposer, says the
    generator is idle: ``benchmarks.feeding``; each problem's attempts in order under
    ``plan.problem_timeout``) and append each result to ``log`` as it finishes.
    ``on_start(problem, attempt)`` hears each attempt begin. An
    attempt's tree checkpoint in ``checkpoints`` is removed once its line is written (and
    left-overs of attempts written before, by a run stopped in between, at the start)."""
    names = {item.name for item in items}
    tally = Tally(plan.budget.attempts, len(items))
    for record in log.records:
        if record["problem"] in names and is_final(record):
            tally.add(record)
    if checkpoints is not None:
        for item in items:
            for attempt in range(plan.budget.attempts):
                if (item.name, attempt) in log.done:
                    checkpoints.discard(item.name, attempt)
    gate = Admission(plan.concurrency, plan.prefetch, gauge)

    async def one_problem(item: Any) -> None:
        todo = [a for a in range(plan.budget.attempts) if (item.name, a) not in log.done]
        if not todo:
            return
        async with gate:
            try:
                await attempts_of(item, todo)
            finally:  # attempts holding per-problem state (``ProblemVerdicts``) free it
                done = getattr(attempts, "problem_done", None)
                if done is not None:
                    done(item.name)

    async def attempts_of(item: Any, todo: list[int]) -> None:
        deadline = None if plan.problem_timeout is None else time.monotonic() + plan.problem_timeout
        for attempt in todo:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left == 0.0:
                record = result_line(plan, item, attempt, status=AttemptStatus.TIMEOUT, run=run,
                                     error="the problem's wall-clock limit was used up "
                                           "by earlier attempts")
            else:
                if on_start is not None:
                    on_start(item.name, attempt)
                record = await attempts(item, attempt, left)
            record["run"] = run
            if log.append(record):
                tally.add(record)
            if checkpoints is not None:  # the line is on disk: the tree is not needed
                checkpoints.discard(item.name, attempt)
            if on_result is not None:
                on_result(record, tally)

    tasks = [asyncio.create_task(one_problem(item)) for item in items]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return tally

def pending_attempts(items: Sequence[Any], log: ResultLog, attempts: int) -> int:
    return sum(1 for item in items for a in range(attempts) if (item.name, a) not in log.done)
