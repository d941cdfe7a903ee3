"""No candidate checked twice: a candidate identical to one already judged for the same problem
takes the earlier verdict, without a Lean call.

Identical means equal after ``normalise``: the trailing whitespace of each line and the
trailing blank lines are dropped (Lean never reads them; a sampler's answers differ there
often). Whitespace at the end of a line inside a multi-line string literal would be read, but
a proof whose verdict hangs on that is not a case worth a Lean call per sample.

``OnceEach`` is the mechanism: one computation per key, shared by everyone who asks for the
key while it runs (eight identical candidates gathered at once cost one check, not eight), and
kept once it has finished with a *final* value. What is not final is handed to the requests
that were waiting on it and then forgotten, so the next request computes it again:

* a crashed check (the REPL died or answered garbage) says nothing about the candidate, and a
  new process may well judge it;
* a timed-out check is Lean's "too slow" under the load of that moment; a retry on a quieter
  worker may succeed, and a run that treats a timeout as the candidate's verdict for good could
  lose a proof to one busy second. The retry costs at most one more time limit, and only for a
  candidate sampled again.

A computation is cancelled when the last request waiting on it is cancelled (a search that
found its proof cancels the rest), never while another request still waits for it.

``VerdictCache`` is ``search.verify.verify`` through ``OnceEach``, keyed by (problem name,
header, statement, normalised proof, ``all_tactics``); a verdict made with ``all_tactics``
answers a request without it too (the same verdict, with more detail). Its ``calls`` are the
checks really sent to Lean (a search's ``lean_calls``), ``distinct`` the distinct candidates
judged (a crashed one retried counts once), ``hits`` the requests answered without a check.
(``calls`` counts the checks Lean answered: one cancelled mid-request, when a search found its
proof and stopped what it had asked ahead, gave no verdict.)

By default one cache serves one search run (every attempt of its budget). A caller running
several searches of one problem (``prover eval`` runs each of the N attempts as its own 1×T
search) hands them one ``SharedVerdicts``: each search then sees through its own ``Seen`` view,
so its counts stay its own and exact. ``calls`` (``lean_calls``) counts only the checks that
search caused (a verdict another search already had, or has in flight, costs it none), its
``on_check`` (its ``LeanTally``) hears only those, and ``distinct`` counts the distinct
candidates it judged, whether the verdict came from Lean or from the shared store. Nothing is
persisted (an RMaxTS checkpoint keeps its own search's outcomes: ``search.rmaxts_checkpoint``).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, Hashable, TypeVar

from lean_bridge.outcome import CheckResult, Status
from search.problem import Problem
from search.protocols import LeanChecker

from .verify import verify

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Verdicts that are not kept (module docstring): no verdict, or one a retry may change.
UNSETTLED = (Status.CRASHED, Status.TIMEOUT)


def normalise(proof: str) -> str:
    """``proof`` without the trailing whitespace of its lines and without trailing blank
    lines: the form identical candidates share."""
    return "\n".join(line.rstrip() for line in proof.split("\n")).rstrip()


def settled(result: CheckResult) -> bool:
    """Whether a verdict is kept for the candidate's later copies (module docstring)."""
    return result.status not in UNSETTLED


@dataclass
class _Flight(Generic[V]):
    task: "asyncio.Task[V]"
    waiters: int = 0


class OnceEach(Generic[K, V]):
    """One computation per key, shared while it runs, kept when final (module docstring)."""

    def __init__(self) -> None:
        self._done: dict[K, V] = {}
        self._flights: dict[K, _Flight[V]] = {}
        self._started: set[K] = set()
        self._restored = 0  # keys computed before a restore and not kept (unsettled ones)
        self.computed = 0  # computations started (retries of unsettled values included)
        self.hits = 0  # requests answered by a finished value or by a computation in flight

    @property
    def distinct(self) -> int:
        """Distinct keys ever computed (across a ``restore``: an unsettled key computed
        again after it counts twice)."""
        return self._restored + len(self._started)

    def known(self, key: K) -> V | None:
        return self._done.get(key)

    def kept(self) -> dict[K, V]:
        """The final values, by key (what a checkpoint saves)."""
        return dict(self._done)

    def restore(self, kept: dict[K, V], distinct: int) -> None:
        """Start again from ``kept()`` and ``distinct`` as saved."""
        self._done = dict(kept)
        self._started = set(kept)
        self._restored = max(0, distinct - len(kept))

    def merge(self, kept: dict[K, V]) -> None:
        """Keep ``kept``'s values too (a resumed search's own, into a store it shares);
        a value already kept stays (both are final verdicts on the same candidate)."""
        for key, value in kept.items():
            self._done.setdefault(key, value)
            self._started.add(key)

    async def get(self, key: K, make: Callable[[], Awaitable[V]],
                  final: Callable[[V], bool]) -> tuple[V, bool]:
        """The value of ``key`` (kept, in flight, or ``make()`` now), and whether this
        request computed it (False: it is shared with another request)."""
        if key in self._done:
            self.hits += 1
            return self._done[key], False
        flight = self._flights.get(key)
        fresh = flight is None
        if flight is None:
            flight = _Flight(asyncio.ensure_future(self._run(key, make, final)))
            self._flights[key] = flight
            self.computed += 1
            self._started.add(key)
        else:
            self.hits += 1
        flight.waiters += 1
        try:
            # shield: one waiter's cancellation must not cancel the others' computation.
            return await asyncio.shield(flight.task), fresh
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                # Nobody else waits: stop the work (a Lean check holds a worker), forget it at
                # once (a later request starts afresh instead of joining a computation being
                # cancelled) and let it clean up before this request's cancellation goes on,
                # as it would have without the sharing.
                if self._flights.get(key) is flight:
                    del self._flights[key]
                flight.task.cancel()
                await asyncio.wait([flight.task])
            raise
        finally:
            flight.waiters -= 1

    async def _run(self, key: K, make: Callable[[], Awaitable[V]],
                   final: Callable[[V], bool]) -> V:
        try:
            value = await make()
        finally:
            # Bookkeeping inside the task, so it happens at the instant the value exists: a
            # request arriving later sees either the kept value or no flight, never a flight
            # already over.
            flight = self._flights.get(key)
            if flight is not None and flight.task is asyncio.current_task():
                del self._flights[key]
        if final(value):
            self._done[key] = value
        return value


class Seen(Generic[K, V]):
    """One search's view of a ``OnceEach`` that other searches may share: the store's values
    and flights are common, the counts are this search's (module docstring). ``distinct``:
    the distinct keys this search asked for (each asked key is computed or found); ``hits``:
    its requests answered without a computation of its own."""

    def __init__(self, once: OnceEach[K, V] | None = None) -> None:
        self.once: OnceEach[K, V] = once if once is not None else OnceEach()
        self._keys: set[K] = set()
        self._restored = 0  # keys asked before a restore and not kept (unsettled ones)
        self.hits = 0

    @property
    def distinct(self) -> int:
        return self._restored + len(self._keys)

    def known(self, key: K) -> V | None:
        return self.once.known(key)

    def asked(self, key: K) -> bool:
        """Whether this search asked for ``key`` before."""
        return key in self._keys

    def note(self, key: K) -> None:
        """``key`` was answered by this search without ``get`` (a hit all the same)."""
        self._keys.add(key)
        self.hits += 1

    def kept(self) -> dict[K, V]:
        """The final values of the keys this search asked for (what its checkpoint saves)."""
        values = ((key, self.once.known(key)) for key in self._keys)
        return {key: value for key, value in values if value is not None}

    def restore(self, kept: dict[K, V], distinct: int) -> None:
        """Start again from ``kept()`` and ``distinct`` as saved: the values go back into the
        store (beside any another search put there), the counts are this search's again."""
        self.once.merge(kept)
        self._keys = set(kept)
        self._restored = max(0, distinct - len(kept))

    async def get(self, key: K, make: Callable[[], Awaitable[V]],
                  final: Callable[[V], bool]) -> tuple[V, bool]:
        """``OnceEach.get`` through the shared store."""
        self._keys.add(key)
        value, fresh = await self.once.get(key, make, final)
        if not fresh:
            self.hits += 1
        return value, fresh


CheckKey = tuple[str, str, str, str, bool]  # problem, header, statement, proof, all_tactics


@dataclass
class SharedVerdicts:
    """What several searches of one problem share (module docstring): whole-proof verdicts
    (``VerdictCache``, and RMaxTS's root-goal check) and RMaxTS's rollout outcomes (keyed by
    the normalised candidate alone, so one ``SharedVerdicts`` serves one problem). The
    outcomes are ``search.rollouts.RolloutOutcome``; typed loosely here because that module
    sits beside this one and imports from it."""

    checks: OnceEach[CheckKey, CheckResult]
    outcomes: OnceEach[str, Any]

    @classmethod
    def empty(cls) -> "SharedVerdicts":
        return cls(OnceEach(), OnceEach())


class VerdictCache:
    """``search.verify.verify`` with each distinct candidate of a problem checked once (module
    docstring). ``on_check`` hears each verdict that came from Lean, once per real check (a
    search's ``LeanTally.check``), never a reused one. ``shared``: a store other searches of
    the problem use too (``SharedVerdicts.checks``); the counts stay this cache's own."""

    def __init__(self, lean: LeanChecker,
                 on_check: Callable[[CheckResult], object] | None = None, *,
                 shared: OnceEach[CheckKey, CheckResult] | None = None) -> None:
        self.lean = lean
        self.on_check = on_check
        self._once: Seen[CheckKey, CheckResult] = Seen(shared)
        self._answered = 0

    @property
    def calls(self) -> int:
        """Checks Lean answered (a check cancelled before its answer, when a search found
        its proof, is not counted: it gave no verdict)."""
        return self._answered

    @property
    def distinct(self) -> int:
        """Distinct candidates judged."""
        return self._once.distinct

    @property
    def hits(self) -> int:
        """Requests answered without a check of their own."""
        return self._once.hits

    async def verify(self, problem: Problem, proof: str, *,
                     all_tactics: bool = False) -> CheckResult:
        """The verdict on ``header + statement + proof``, as ``search.verify.verify``."""
        text = normalise(proof)
        key = (problem.name, problem.header, problem.statement, text, all_tactics)
        if not all_tactics:  # a verdict with the tactics answers one without them
            strong = key[:4] + (True,)
            stronger = self._once.known(strong)
            if stronger is not None:
                self._once.note(strong)
                return stronger

        async def check() -> CheckResult:
            result = await verify(self.lean, problem, proof, all_tactics=all_tactics)
            self._answered += 1
            if self.on_check is not None:
                self.on_check(result)
            return result

        return (await self._once.get(key, check, settled))[0]


__all__ = ["CheckKey", "OnceEach", "Seen", "SharedVerdicts", "UNSETTLED", "VerdictCache",
           "normalise", "settled"]
