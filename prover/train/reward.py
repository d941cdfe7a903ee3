"""Lean's verdict as a reward (REF §2.3, RLPAF): 1.0 when the proof checks, else 0.0.

Contract: ``LeanReward`` is a synchronous callable in the shape TRL's ``GRPOTrainer`` calls
reward functions: ``reward(prompts=…, completions=…, header=[…], statement=[…], name=[…],
**other_columns) -> list[float]``, one reward per completion, in order. For each completion
it recovers the proof the way the prover does at inference (the prompt format's ``extract``;
a chat format's whole file through ``proof_from_full_file``), then asks the bridge for the
full verdict on ``header + statement + proof`` against the record's own statement as the
reference (static integrity, Lean, axiom audit), exactly as search verifies a candidate. The
reward is 1.0 only for ``proved``: an error, a sorry, a timeout, a crash, a rejected cheat or
an unreadable completion all give 0.0. Binary, as in the paper; no partial credit.

The bridge is asynchronous and the trainer is not, so the object owns one event loop on a
dedicated thread for its whole life: the REPL pool (and its warm, header-elaborated
processes) lives on that loop across calls, every completion of a call is checked
concurrently (up to the pool's size), and ``close()`` shuts the pool and the thread down.
``ReplUnavailable`` (no REPL can start) propagates: training cannot go on without a verifier.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, Sequence, TypeVar

from lean_bridge.checker import LeanChecker
from lean_bridge.integrity import THEOREM_KINDS
from lean_bridge.outcome import CheckResult, Status
from lean_bridge.pool import PoolConfig, ReplPool
from lean_bridge.process import ReplSpec
from lean_bridge.reference import Reference, placeholder_for
from lean_bridge.text import parse_file
from prover.policies.prompts import PromptFormat, proof_from_full_file
from prover.train.examples import training_format
from search.problem import Problem

T = TypeVar("T")


@dataclass(frozen=True)
class RewardEvent:
    """One judged completion (what ``on_result`` receives)."""

    name: str
    completion: str
    proof: str | None  # None when no proof could be read from the completion
    status: Status | None  # Lean's verdict; None when no proof could be read (no Lean call)
    reward: float
    seconds: float

    @property
    def verdict(self) -> str:
        """The status as the rewards log writes it ("unreadable" when no proof was read)."""
        return "unreadable" if self.status is None else self.status.value


@dataclass(frozen=True)
class Target:
    """What one completion must prove: the split file and its reference."""

    header: str
    statement: str
    reference: Reference


def target_for(header: str, statement: str, name: str) -> Target:
    """The reference for ``header + statement`` (search/verify.py's rule, built here since
    ``prover`` may not import ``search``). The file is split where ``parse_file`` splits it,
    as the checker does, so a record whose header carries ``def``s still compares equal; the
    theorem is ``name`` when the statement declares it, else the last theorem declared (a
    record's name may be a benchmark id, as in ProofNet)."""
    placeholder = placeholder_for(statement)
    text = header + statement + placeholder
    lean_file = parse_file(text)
    named = {d.name for d in lean_file.declarations if d.name}
    declared = [d.name for d in lean_file.declarations if d.kind in THEOREM_KINDS and d.name]
    if name in named:  # the declaration to prove, whatever its kind (ProofNet has defs)
        theorem = name
    elif declared:
        theorem = declared[-1]
    else:
        raise ValueError(f"{name}: the statement declares no theorem")
    split_header = lean_file.header
    split_statement = text[len(split_header):len(text) - len(placeholder)]
    return Target(split_header, split_statement,
                  Reference(theorem, split_header, split_statement, text))


def completion_text(completion: Any) -> str:
    """A completion's text: itself, or the last message of a conversational completion
    (TRL passes ``[{"role": "assistant", "content": …}]`` for chat prompts)."""
    if isinstance(completion, list):
        return str(completion[-1]["content"]) if completion else ""
    return str(completion)


def completion_proof(fmt: PromptFormat, problem: Problem, completion: Any) -> str | None:
    """The proof in a completion, read back as the prover reads model output."""
    text = fmt.extract(completion_text(completion))
    if fmt.output == "file":
        return proof_from_full_file(problem, text) if text.strip() else None
    return text


class LeanReward:
    """``reward(prompts, completions, header, statement, name) -> [1.0 | 0.0, …]`` (module doc).

    Args:
        spec: the REPL to start (``--repl``, or the workspace's).
        prompt_format: how completions were prompted (decides how a proof is read back).
        timeout: wall-clock seconds per Lean check.
        workers: REPL processes checking concurrently.
        on_result: called with a ``RewardEvent`` for every judged completion, on the caller's
            thread, in completion order.
    """

    __name__ = "lean_verdict"  # TRL logs rewards under their function's name

    def __init__(self, spec: ReplSpec, *, prompt_format: str = "deepseek-v1.5",
                 timeout: float = 60.0, workers: int = 1, max_requests: int = 1000,
                 header_timeout: float = 900.0,
                 on_result: Callable[[RewardEvent], None] | None = None) -> None:
        self.format = training_format(prompt_format)
        self.on_result = on_result
        self.calls = 0
        self.checks = 0
        self.proved = 0
        self._targets: dict[tuple[str, str, str], Target] = {}
        self._pool = ReplPool(spec, PoolConfig(max_processes=workers, max_requests=max_requests,
                                               header_timeout=header_timeout))
        self._lean = LeanChecker(self._pool, timeout=timeout)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lean-reward",
                                        daemon=True)
        self._thread.start()
        self._closed = False

    # -- the reward function ---------------------------------------------------------------

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), *,
                 header: Sequence[str], statement: Sequence[str], name: Sequence[str],
                 **_: Any) -> list[float]:
        if not (len(completions) == len(header) == len(statement) == len(name)):
            raise ValueError("one header, statement and name per completion")
        events = self._run(self._judge_all(list(completions), header, statement, name))
        self.calls += 1
        for event in events:
            self.checks += 1
            self.proved += event.reward == 1.0
            if self.on_result is not None:
                self.on_result(event)
        return [event.reward for event in events]

    def lean_version(self, header: str) -> str | None:
        """Start a REPL on ``header`` and ask its Lean version: a preflight that fails fast
        (``ReplUnavailable``, ``HeaderError``) before any model is loaded."""
        from prover.drivers.preflight import start_lean

        return self._run(start_lean(self._lean, header))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._pool.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> LeanReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed and not self._loop.is_running():
            coro.close()
            raise RuntimeError("the Lean reward is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _target(self, header: str, statement: str, name: str) -> Target:
        key = (header, statement, name)
        if key not in self._targets:  # parsing a statement costs more than a dict lookup
            self._targets[key] = target_for(header, statement, name)
        return self._targets[key]

    async def _judge_all(self, completions: list[Any], headers: Sequence[str],
                         statements: Sequence[str], names: Sequence[str]) -> list[RewardEvent]:
        return list(await asyncio.gather(*(
            self._judge(c, h, s, n)
            for c, h, s, n in zip(completions, headers, statements, names, strict=False))))

    async def _judge(self, completion: Any, header: str, statement: str, name: str) -> RewardEvent:
        started = time.monotonic()
        text = completion_text(completion)
        problem = Problem(name=name, header=header, statement=statement)
        proof = completion_proof(self.format, problem, completion)
        if proof is None:
            return RewardEvent(name, text, None, None, 0.0, time.monotonic() - started)
        target = self._target(header, statement, name)
        result: CheckResult = await self._lean.check(
            target.header, target.statement + proof, reference=target.reference)
        reward = 1.0 if result.status is Status.PROVED else 0.0
        return RewardEvent(name, text, proof, result.status, reward,
                           time.monotonic() - started)


__all__ = ["LeanReward", "RewardEvent", "Target", "completion_proof", "completion_text", "target_for"]
