"""Best-first search over LeanDojo's ``Dojo``, for users with a traced repository.

Install with ``pip install 'lean-prover[dojo]'`` (``lean-dojo``; it needs Python < 3.13, git,
elan and a traced repository, ``shared/reference/lean-bridge.md`` §4). ``lean_dojo`` is
imported only when a Dojo session is opened.

``DojoSession`` adapts an entered ``Dojo`` to ``search.bestfirst.TacticSession``:

* ``root``: the ``TacticState`` that ``Dojo.__enter__`` gives, as an open ``TacticStep``
  (``proof_state`` is the ``TacticState`` itself; goals are its ``pp`` split at blank lines,
  so ``"\\n\\n".join(goals) == pp``, the best-first loop's dedup key).
* ``run_tactic(state, tactic)`` calls ``dojo.run_tac``: ``TacticState`` → ``"open"``;
  ``ProofFinished`` → ``"completed"``; ``LeanError`` (``TacticError`` in old versions) and
  ``ProofGivenUp`` (the proof contains ``sorry``) → ``"error"``. ``DojoCrashError`` (the Lean
  process died, ``is_out_of_memory`` on exit 137) and ``DojoTacticTimeoutError`` → ``SessionLost``:
  after a timeout the Lean process is still running the tactic and its late answer would be
  read as the answer to the next request, so the Dojo cannot be used again. The loop then
  opens a new Dojo (a full re-elaboration of the file prefix) and replays paths as needed.
  ``DojoInitError`` when opening is a configuration problem (theorem not found, ``where``
  syntax, a prelude file) and propagates.
* ``recheck(proof)`` — what makes a Dojo proof "proved":

  - with a ``LeanChecker`` (``lean=``): ``search.verify.verify``, i.e. ``problem.header +
    problem.statement + proof`` in command mode through the full trust layer (static
    integrity, statement comparison against the problem, Lean, ``#print axioms`` audit), the
    same verdict as every other search. That checker's workspace must be able to elaborate
    ``problem.header`` (the traced repository's imports), and ``problem.statement`` must be
    self-contained there (the file's earlier definitions inside it if the theorem uses them).
  - without one: ``ProofFinished`` itself, which Dojo's ``lean_dojo_repl`` gives only after its
    ``validateProof``: the proof term has the theorem's type, contains no ``sorry`` and no
    metavariables, and the kernel accepts it (``addDecl``), in the traced file's own context (so
    the statement is the file's own). On top of that the static layer runs on the assembled
    text (``scan_integrity`` and ``compare_to_reference`` against ``problem``: banned commands
    and options in the tactic text, ``sorry``/``admit``, a statement edit). NOT checked then:
    the axioms the proof depends on (no ``#print axioms``: ``native_decide``'s
    ``Lean.ofReduceBool`` or an ``axiom`` declared earlier in the file pass the kernel), and
    that the assembled text elaborates in command mode (tactic-by-tactic execution is not
    always the same as the tactic block: indentation, ``case`` focusing, error recovery).
    ``recheck`` without a checker accepts only right after a ``ProofFinished`` (it cannot judge
    text Dojo has not just finished) and says what it rested on in ``reasons``.

``Dojo`` is synchronous (``pexpect``); every call runs on one dedicated thread per session, so
the event loop keeps going. ``Dojo.__enter__`` changes the process's working directory while it
starts (``working_directory``), which other threads see: avoid relative paths meanwhile.
"""
from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from types import ModuleType
from typing import Any, AsyncIterator, Callable, Sequence

from lean_bridge.integrity import IntegrityOptions, scan_integrity
from lean_bridge.outcome import CheckResult, Status
from lean_bridge.reference import compare_to_reference
from lean_bridge.tactic_mode import StepStatus, TacticStep
from search.problem import Problem
from search.protocols import LeanChecker, TacticProposer

from .bestfirst import SearchGraph, SessionLost, bestfirst_search_with
from .budget import Budget
from .priority import DEFAULT_DEPTH_REWARD
from .result import CRASHED, TIMEOUT, SearchResult
from .verify import reference_of, verify

INSTALL_HINT = "pip install 'lean-prover[dojo]'   (or: pip install lean-dojo)"
_NAMES = ("Dojo", "TacticState", "ProofFinished", "ProofGivenUp", "DojoCrashError",
          "DojoTacticTimeoutError", "DojoInitError")
DOJO_ONLY = ("verified by LeanDojo's ProofFinished (validateProof: type, no sorry, no "
             "metavariables, kernel check) and the static integrity layer; no command-mode "
             "re-check and no axiom audit (no LeanChecker given)")


class LeanDojoMissing(ImportError):
    """``lean_dojo`` is not installed."""


def import_lean_dojo() -> ModuleType:
    """The ``lean_dojo`` module, or ``LeanDojoMissing`` with the install command."""
    try:
        import lean_dojo
    except ImportError as exc:
        raise LeanDojoMissing(f"best-first search over LeanDojo needs the `lean_dojo` package: "
                              f"{INSTALL_HINT}") from exc
    missing = [n for n in _NAMES if not hasattr(lean_dojo, n)]
    if missing:
        raise LeanDojoMissing(f"this lean_dojo lacks {', '.join(missing)}; "
                              f"install lean-dojo>=2.0: {INSTALL_HINT}")
    module: ModuleType = lean_dojo
    return module


def _goals(pp: str) -> tuple[str, ...]:
    return tuple(pp.split("\n\n")) if pp else ()


class DojoSession:
    """An entered ``Dojo`` and its initial state as a ``TacticSession`` (module docstring).

    Args:
        dojo: the object ``Dojo.__enter__`` returned (``run_tac(state, tactic)``).
        init_state: the ``TacticState`` it returned with it.
        api: the ``lean_dojo`` module (or an object with the same names).
        problem: the theorem as a ``Problem``: proof texts continue ``problem.statement``.
        lean: a ``LeanChecker`` for the command-mode re-check; None to rest on Dojo's verdict.
        call: runs a blocking function (``call(fn, *args)`` → awaitable); default: the running
            loop's default executor.
    """

    def __init__(self, dojo: Any, init_state: Any, *, api: Any, problem: Problem,
                 lean: LeanChecker | None = None,
                 integrity: IntegrityOptions = IntegrityOptions(),
                 call: Callable[..., Any] | None = None) -> None:
        self.dojo, self.api, self.problem, self.lean, self.integrity = dojo, api, problem, lean, integrity
        self._call = call or (lambda fn, *args: asyncio.get_running_loop().run_in_executor(None, partial(fn, *args)))
        # Typed as TacticSession's (settable) `root`, so that the session is one.
        self.root: TacticStep | None = TacticStep(StepStatus.OPEN, init_state, _goals(init_state.pp))
        self._errors = tuple(getattr(api, n) for n in ("LeanError", "TacticError") if hasattr(api, n))
        self._just_finished = False

    async def run_tactic(self, state: Any, tactic: str) -> TacticStep:
        self._just_finished = False
        api = self.api
        try:
            result = await self._call(self.dojo.run_tac, state, tactic)
        except api.DojoCrashError as exc:
            oom = " (out of memory)" if getattr(exc, "is_out_of_memory", False) else ""
            raise SessionLost(f"Dojo crashed{oom}: {exc}", CRASHED) from exc
        except api.DojoTacticTimeoutError as exc:
            raise SessionLost("Dojo tactic timeout: its Lean process is still running the "
                              "tactic, so the Dojo cannot answer reliably any more",
                              TIMEOUT) from exc
        if isinstance(result, api.TacticState):
            return TacticStep(StepStatus.OPEN, result, _goals(result.pp))
        if isinstance(result, api.ProofFinished):
            self._just_finished = True
            return TacticStep(StepStatus.COMPLETED, None, ())
        if isinstance(result, api.ProofGivenUp):
            return TacticStep(StepStatus.ERROR, None, (), error="ProofGivenUp: the proof contains `sorry`")
        if self._errors and isinstance(result, self._errors):
            return TacticStep(StepStatus.ERROR, None, (), error=str(result.error))
        return TacticStep(StepStatus.ERROR, None, (), error=f"unexpected Dojo answer: {result!r}")

    async def recheck(self, proof: str) -> CheckResult:
        finished, self._just_finished = self._just_finished, False
        if self.lean is not None:
            return await verify(self.lean, self.problem, proof)
        if not finished:
            return CheckResult(Status.ERROR, reasons=(
                "no LeanChecker, and Dojo did not just answer ProofFinished for this proof",))
        return _static_verdict(self.problem, proof, self.integrity)


def _static_verdict(problem: Problem, proof: str, options: IntegrityOptions) -> CheckResult:
    """The Lean-free layers of the trust chain on ``header + statement + proof``."""
    ref = reference_of(problem)
    text = problem.file_with(proof)
    findings = [f for f in scan_integrity(text, reference=ref.text, options=options) if f.blocking]
    findings += [f for f in compare_to_reference(text, ref) if f.blocking]
    if findings:
        status = Status.INCOMPLETE if all(f.code == "sorry" for f in findings) else Status.REJECTED
        return CheckResult(status, reasons=tuple(f"{f.code}: {f.message}" for f in findings))
    return CheckResult(Status.PROVED, reasons=(DOJO_ONLY,))


@asynccontextmanager
async def dojo_session(theorem: Any, *, problem: Problem, lean: LeanChecker | None = None,
                       timeout: int = 600, additional_imports: Sequence[str] = (),
                       integrity: IntegrityOptions = IntegrityOptions(),
                       api: Any = None) -> AsyncIterator[DojoSession]:
    """Enter ``Dojo(theorem, timeout=…)`` on a dedicated thread and yield a ``DojoSession``.

    ``api`` defaults to the imported ``lean_dojo`` (``LeanDojoMissing`` when absent); tests
    pass a stand-in. A crash or timeout while starting is ``SessionLost``; ``DojoInitError``
    propagates.
    """
    api = api if api is not None else import_lean_dojo()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dojo")
    loop = asyncio.get_running_loop()

    def call(fn: Callable[..., Any], *args: Any) -> Any:
        return loop.run_in_executor(executor, partial(fn, *args))

    kwargs: dict[str, Any] = {"timeout": timeout}
    if additional_imports:
        kwargs["additional_imports"] = list(additional_imports)
    try:
        manager = api.Dojo(theorem, **kwargs)
        try:
            dojo, init_state = await call(manager.__enter__)
        except (api.DojoCrashError, api.DojoTacticTimeoutError) as exc:
            status = TIMEOUT if isinstance(exc, api.DojoTacticTimeoutError) else CRASHED
            raise SessionLost(f"Dojo could not start: {exc!r}", status) from exc
        try:
            yield DojoSession(dojo, init_state, api=api, problem=problem, lean=lean,
                              integrity=integrity, call=call)
        finally:
            await call(manager.__exit__, None, None, None)
    finally:
        executor.shutdown(wait=False)


async def dojo_bestfirst_search(problem: Problem, theorem: Any, *, proposer: TacticProposer,
                                budget: Budget, rng: random.Random,
                                lean: LeanChecker | None = None, width: int = 8,
                                max_depth: int = 32, max_expansions: int | None = None,
                                restarts: int = 2, timeout: int = 600,
                                additional_imports: Sequence[str] = (),
                                graphs: list[SearchGraph] | None = None,
                                api: Any = None, priority: str = "cumulative",
                                depth_reward: float = DEFAULT_DEPTH_REWARD) -> SearchResult:
    """``search.bestfirst`` over a LeanDojo ``Theorem`` (``lean_dojo.Theorem(repo, file, name)``).

    ``problem`` is the same theorem as text: ``statement`` as written in the traced file (up
    to ``:=`` / ``:= by``), ``header`` its imports; proofs continue it. ``tree_stats`` gains
    ``verified_by``: ``"lean_checker"`` or ``"dojo+static"``.
    """
    result = await bestfirst_search_with(
        problem,
        lambda: dojo_session(theorem, problem=problem, lean=lean, timeout=timeout,
                             additional_imports=additional_imports, api=api),
        proposer=proposer, budget=budget, rng=rng, width=width, max_depth=max_depth,
        max_expansions=max_expansions, restarts=restarts, graphs=graphs, method="bestfirst-dojo",
        priority=priority, depth_reward=depth_reward)
    result.tree_stats["verified_by"] = "lean_checker" if lean is not None else "dojo+static"
    return result


__all__ = ["DOJO_ONLY", "DojoSession", "INSTALL_HINT", "LeanDojoMissing", "dojo_bestfirst_search",
           "dojo_session", "import_lean_dojo"]
