"""The whole RMaxTS loop per expansion, with an instant policy and an instant Lean
(``prover bench-system``: ``rmaxts_loop_us_per_expansion``; issue 17 item 2).

What is timed: the real ``search.rmaxts.rmaxts_search`` (checkpoint off, 32 rollouts in
flight, probes resolved as by default, trace kept) growing one tree to about ``nodes``
nodes, so everything the search does per rollout counts: selection with virtual loss, the
prefix and its state comment, the DeepSeek-Prover-V1.5 prompt (the application's
``LMProposer`` with the ``deepseek-v1.5`` format, built by the caller's ``make_proposer``),
the verdict's truncation and segmentation (``search.segments``), the probes of states the
answer leaves ambiguous, path insertion and backup. The figure is the loop's wall time ÷
completed rollouts, the minimum over ``repeats`` runs (this VM's CPU is noisy).

The stand-ins answer at once and are kept cheap, since their time is inside the figure:

* the policy returns one of 4096 continuations made once, picked by the request's seed
  (2-9 tactic lines, some wrapped over two lines, ``have … := by`` blocks with a nested
  tactic, comments, a line that leaves the state as it was, now and then a line Lean
  refuses or a ``sorry``);
* Lean answers like the REPL at v4.33 with ``allTactics`` (transcripts in
  ``../shared/reference/lean-repl-transcripts``): every tactic run gets an entry with its
  goals BEFORE it (multi-line), its text, its positions (lines 1-based in ``header +
  statement + proof``, columns in code points) and a proof state; the first failing
  tactic gets an error at its start and ends the block (the tactics after it are not
  run); a ``sorry`` gets its sorry (goal, positions) and the ``declaration uses 'sorry'``
  warning; a proof that stops with goals open gets ``unsolved goals`` at the statement's
  ``by``. Tactic mode (the probes) runs a tactic from a proof state. A state is a 32-bit
  hash of the tactics run so far (``zlib.crc32`` chained over their whitespace-normalised
  text), printed as a goal of realistic length; no proof ever closes, so every run spends
  its whole budget and grows the same tree on any commit that behaves the same. A
  tactic's answer from a state is memoised (a prefix's tactics recur in every rollout
  through its node).

The runs alternate, baseline then ours, so that load changes on the machine reach both.

``--baseline DIR`` runs this very file again in a subprocess with ``PYTHONPATH=DIR``, so
``search``, ``lean_bridge`` and ``prover`` come from DIR's tree (a worktree of an earlier
commit): the file uses only APIs that commit has too. Our side then runs the same way, in
a subprocess on this file's own checkout. Run as a script it finds the
application's ``make_proposer`` through ``benchmarks.app``; ``prover bench-system`` passes
its own.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, cast

from lean_bridge.outcome import CheckResult, Status
from lean_bridge.pool import Worker
from lean_bridge.protocol import Message, Pos, ProofStepResponse, Sorry, Tactic, TacticRequest
from lean_bridge.tactic_mode import ProofSession
from search.budget import Budget
from search.problem import Problem
from search.rmaxts import rmaxts_search

HEADER = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
          "open BigOperators Real Nat Topology Rat\n\n")
STATEMENT = "theorem loop_bench (x y : ℝ) (h₀ : 0 < x) (h₁ : x * y = 1) : 0 < y := by\n"
PROBLEM = Problem("loop_bench", HEADER, STATEMENT)
# A DeepSeek-Prover-V1.5 model id: ``make_proposer`` gives it the ``deepseek-v1.5`` format.
SPEC = "openai:http://127.0.0.1:9/v1#deepseek-ai/DeepSeek-Prover-V1.5-RL"
CONCURRENCY = 32
# Rollouts per node of the target: a rollout adds about 4 nodes in this world (10⁴ nodes: 2,500).
ROLLOUTS_PER_NODE = 0.25
_ROOT_STATE = zlib.crc32(STATEMENT.encode())
OWN_CHECKOUT = Path(__file__).resolve().parents[1]  # the tree this file belongs to
WARM_UP_NODES = 1000
_BASE_LINE = (HEADER + STATEMENT).count("\n")  # lines before the proof's first line
_BY_COLUMN = len(STATEMENT.rstrip()) - 2  # the statement's `by`, on its last line


# -- the world: states, goals, continuations --------------------------------------------------

def _after(state: int, tactic: str) -> int:
    """The state a tactic leaves; "simp only [] at h₁" changes nothing (a no-op line)."""
    words = " ".join(tactic.split())
    if words.startswith("(") and words.endswith(")"):  # a probe's replay of a block
        words = words[1:-1].strip()
    if words == "simp only [] at h₁":
        return state
    return zlib.crc32(words.encode(), state)


@functools.lru_cache(maxsize=1 << 16)  # a prefix's states recur in every rollout through it
def _goal(state: int) -> str:
    a, b = state % 9973, state // 9973 % 997
    return (f"x y : ℝ\nh₀ : 0 < x\nh₁ : x * y = 1\nh₂ : {a} ≤ x ^ 2 + y ^ 2\n"
            f"⊢ 0 < y * {b} + x")


class _Draws:
    """Small numbers drawn from a seed by a 64-bit LCG: seeding a ``random.Random`` costs
    more than the rest of a continuation, and only the search's cost should count."""

    __slots__ = ("x",)

    def __init__(self, seed: int) -> None:
        self.x = seed * 0x9E3779B97F4A7C15 + 1

    def below(self, n: int) -> int:
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return (self.x >> 33) % n


def _line(draw: _Draws) -> str:
    """One tactic of a continuation (lines end with a newline)."""
    kind, a, b = draw.below(100), draw.below(20), draw.below(20)
    if kind < 40:
        return f"  nlinarith [sq_nonneg (x - {a}), sq_nonneg (y + {b}), h₀, h₁]\n"
    if kind < 55:
        return (f"  nlinarith [sq_nonneg (x - y), sq_nonneg (x + {a}),\n"
                f"    mul_pos h₀ h₀, sq_nonneg (y - {b})]\n")
    if kind < 75:
        return f"  have h{a} : 0 < x * {b + 1} := by\n    positivity\n"
    if kind < 85:
        return f"  -- x is positive, so y = 1 / x is too (step {a})\n  field_simp [h{b}]\n"
    return "  simp only [] at h₁\n"


def continuation(seed: int) -> str:
    """What the instant model answers for a request with ``seed``."""
    draw = _Draws(seed)
    lines = [_line(draw) for _ in range(2 + draw.below(8))]
    roll = draw.below(100)
    if roll < 30:  # a line Lean refuses somewhere: the tree grows up to it
        lines.insert(draw.below(len(lines) + 1), f"  linarith [h{draw.below(20)}₉]\n")
    elif roll < 36:
        lines.append("  sorry\n")
    return "".join(lines)


@functools.lru_cache(maxsize=1)
def _answers() -> tuple[str, ...]:
    """The instant model's repertoire: ``continuation(k)`` for 4096 keys, made once (a
    request's seed picks one), so that answering costs nothing; answers repeat now and
    then, as sampled proofs do."""
    return tuple(continuation(k) for k in range(4096))


@dataclass(frozen=True)
class _Completion:
    """The fields of ``prover.policies.policy.Completion`` the proposer reads."""

    text: str
    tokens: int
    logprob: float | None = None
    finish_reason: str | None = "stop"


class InstantPolicy:
    """A policy that answers every request at once with one of ``_answers()``, picked by
    the request's seed."""

    name = "instant"

    async def generate(self, requests: Sequence[Any]) -> list[list[_Completion]]:
        out = []
        for r in requests:
            answers = _answers()
            text = answers[(r.seed or 0) % len(answers)]
            out.append([_Completion(text, len(text)) for _ in range(r.n)])
        return out

    async def close(self) -> None:
        return None


# -- the instant Lean -------------------------------------------------------------------------

_pos = functools.lru_cache(maxsize=4096)(Pos)  # positions recur: the same prefix lines


def _entry(text: str, state: int, goals: str, line: int, col: int, end_line: int,
           end_col: int) -> Tactic:
    return Tactic(text, goals, _pos(line, col), _pos(end_line, end_col), state)


@dataclass(frozen=True)
class _Run:
    """What running one tactic (a chunk of lines) from a state gives."""

    entries: tuple[Tactic, ...]
    after: int  # the state it leaves; -1: closed by `sorry`
    message: Message | None = None  # its error, or the sorry warning
    sorry: Sorry | None = None


@functools.lru_cache(maxsize=1 << 16)  # the prefix's tactics recur in every rollout through it
def _run(state: int, index: int, chunk: str) -> _Run:
    """Tactic ``chunk`` (its lines; it starts on the proof's line ``index``, 0-based) on
    ``state``."""
    lines = chunk.split("\n")
    first, last = lines[0], lines[-1]
    row, end_row = _BASE_LINE + index + 1, _BASE_LINE + index + len(lines)
    col, code = len(first) - len(first.lstrip()), first.strip()
    goals = _goal(state)
    if code == "sorry":
        return _Run((_entry("sorry", state, goals, row, col, row, col + 5),), -1,
                    Message("warning", Pos(_BASE_LINE, 8), Pos(_BASE_LINE, 18),
                            "declaration uses 'sorry'"),
                    Sorry(goals, state, Pos(row, col), Pos(row, col + 5)))
    whole = chunk.strip()
    entries = [_entry(whole, state, goals, row, col, end_row, len(last))]
    if code.endswith(":= by") and len(lines) > 1:  # the nested block's tactic
        target = code[code.index(":") + 1:-5].strip()
        entries.append(_entry(last.strip(), zlib.crc32(code.encode(), state),
                              f"x y : ℝ\nh₀ : 0 < x\nh₁ : x * y = 1\n⊢ {target}",
                              end_row, len(last) - len(last.lstrip()), end_row, len(last)))
    if "₉" in whole:
        return _Run(tuple(entries), state, Message(
            "error", Pos(row, col), Pos(row, len(first)),
            f"linarith failed to find a contradiction\ncase a\n{goals}\na✝ : 0 ≥ y\n"
            "⊢ False failed"))
    return _Run(tuple(entries), _after(state, whole))


def answer(body: str) -> CheckResult:
    """The REPL's answer to ``header + body`` with ``allTactics``, as a ``CheckResult``."""
    if not body.startswith(STATEMENT):
        message = Message("error", Pos(_BASE_LINE, 0), None, "unexpected token; expected term")
        return CheckResult(Status.ERROR, (message,), reasons=(message.data,))
    lines = body[len(STATEMENT):].split("\n")
    state = _ROOT_STATE
    tactics: list[Tactic] = []
    messages: list[Message] = []
    sorries: list[Sorry] = []
    i, count = 0, len(lines)
    while i < count:
        code = lines[i].strip()
        if not code or code.startswith("--"):
            i += 1
            continue
        if state < 0:
            text = lines[i]
            messages.append(Message("error", Pos(_BASE_LINE + i + 1, len(text) - len(text.lstrip())),
                                    Pos(_BASE_LINE + i + 1, len(text)), "no goals to be proved"))
            break
        end = i
        while lines[end].rstrip().endswith((",", ":= by")) and end + 1 < count:
            end += 1  # a tactic over several lines: an argument list, a nested block
        run = _run(state, i, "\n".join(lines[i:end + 1]))
        tactics += run.entries
        if run.sorry is not None:
            sorries.append(run.sorry)
        if run.message is not None:
            messages.append(run.message)
            if run.message.is_error:
                break
        state = run.after
        i = end + 1
    else:
        if state >= 0:
            messages.append(Message("error", Pos(_BASE_LINE, _BY_COLUMN),
                                    Pos(_BASE_LINE, _BY_COLUMN + 2),
                                    f"unsolved goals\n{_goal(state)}"))
    errors = [m for m in messages if m.is_error]
    if errors:
        first = errors[0]
        return CheckResult(Status.ERROR, tuple(messages), tuple(sorries), tuple(tactics),
                           lean_version="4.33.0-rc2",
                           reasons=(f"line {first.pos.line}, column {first.pos.column}: "
                                    f"error: {first.data.splitlines()[0]}",))
    return CheckResult(Status.INCOMPLETE, tuple(messages), tuple(sorries), tuple(tactics),
                       lean_version="4.33.0-rc2", reasons=("sorry",))


class _Worker:
    """Tactic mode on one instant REPL: a proof state id is the state itself."""

    header_env = 0

    async def request(self, request: Any, *, timeout: float | None) -> ProofStepResponse:
        assert isinstance(request, TacticRequest)
        after = _after(request.proof_state, request.tactic)
        return ProofStepResponse(after, (_goal(after),), proof_status="Incomplete: open goals remain")


class InstantLean:
    """The ``LeanChecker`` protocol, answered in-process at once (``answer``)."""

    timeout = 60.0
    integrity = None

    def __init__(self) -> None:
        self.checks = 0
        self.worker = _Worker()

    async def check(self, header: str, body: str, *, reference: Any = None,
                    all_tactics: bool = False) -> CheckResult:
        self.checks += 1
        return answer(body)

    async def check_on(self, worker: Any, body: str, *, reference: Any = None,
                       all_tactics: bool = False) -> CheckResult:
        self.checks += 1
        return answer(body)

    def proof_session(self, header: str, statement: str, reference: Any = None, *,
                      open_root: bool = True) -> "_Held":
        """The worker held for a check and its probes (the root state is never opened)."""
        return _Held(ProofSession(self, cast(Worker, self.worker), header, statement, reference))


class _Held:
    """An async context manager that only hands over its session: a generator-based one
    (``contextlib.asynccontextmanager``) costs more than the rest of the stand-in's work."""

    def __init__(self, session: ProofSession) -> None:
        self.session = session

    async def __aenter__(self) -> ProofSession:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        return None


# -- the measurement --------------------------------------------------------------------------

def loop_once(nodes: int, make_proposer: Callable[..., Any], seed: int = 0,
              checkpoint: Path | None = None) -> dict[str, Any]:
    """One tree grown by the real loop; its wall time, rollouts and size. ``checkpoint``: a
    fresh file to checkpoint to (``benchmarks.system_checkpoints``)."""
    proposer = make_proposer(SPEC, policy_for=lambda part: InstantPolicy())
    lean = InstantLean()
    budget = Budget(1, max(1, round(nodes * ROLLOUTS_PER_NODE)))
    _answers()  # the model's repertoire is made before the clock starts

    async def go() -> tuple[Any, float]:
        started = time.perf_counter()
        result = await rmaxts_search(PROBLEM, proposer=proposer, lean=cast(Any, lean),
                                     budget=budget, rng=random.Random(seed),
                                     concurrency=CONCURRENCY, checkpoint=checkpoint)
        return result, time.perf_counter() - started

    result, seconds = asyncio.run(go())
    stats = result.tree_stats
    return {"seconds": seconds, "expansions": int(stats["expansions"]),
            "nodes": int(stats["nodes"]), "lean_calls": result.lean_calls,
            "proved": result.proof is not None}


def loop_us(nodes: int, make_proposer: Callable[..., Any], repeats: int = 3) -> dict[str, Any]:
    """µs per expansion of the whole loop: the minimum (and median) over ``repeats`` runs of
    the same tree (seed 0), with the tree's size and the rollouts' Lean calls. An untimed
    run of a small tree goes first: a fresh process's first rollouts pay for warming the
    interpreter up (the baseline's runs are each a fresh process)."""
    loop_once(min(nodes, WARM_UP_NODES), make_proposer)
    return _summary([loop_once(nodes, make_proposer) for _ in range(repeats)])


def _summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    per = sorted(r["seconds"] / r["expansions"] * 1e6 for r in runs)
    first = runs[0]
    return {"us_per_expansion": per[0], "us_median": per[len(per) // 2],
            "nodes": first["nodes"], "expansions": first["expansions"],
            "lean_calls": first["lean_calls"], "proved": first["proved"],
            "runs": [dict(r) for r in runs]}


def check_baseline(tree: str | Path) -> Path:
    """``tree`` resolved; ``RuntimeError`` when it is not a checkout of this project."""
    root = Path(tree).resolve()
    if not (root / "search" / "rmaxts.py").is_file():
        raise RuntimeError(f"{root} is not a checkout of this project (no search/rmaxts.py)")
    return root


def checkout_us(tree: str | Path, nodes: int, repeats: int = 3) -> dict[str, Any]:
    """``loop_us`` on the checkout at ``tree``: this file in a fresh subprocess whose imports
    resolve there (``PYTHONPATH=tree``; the script's own folder is ``sys.path[0]``, not the
    repository). Raises ``RuntimeError`` with the child's stderr when it fails."""
    root = check_baseline(tree)
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--json", "--nodes", str(nodes),
         "--repeats", str(repeats)],
        cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the loop run in {root} failed (exit {done.returncode}):\n"
                           f"{done.stderr.strip()}")
    return cast(dict[str, Any], json.loads(done.stdout))


def figures(nodes: int, make_proposer: Callable[..., Any], *, repeats: int = 5,
            baseline: str | Path | None = None) -> dict[str, Any]:
    """The report keys: ours, and with ``baseline`` the baseline's and the ratio.

    With a baseline both sides run alike, each run in a fresh subprocess (``checkout_us``;
    ours on the checkout this file is in): a process that has run other benchmarks has a
    bigger heap, and the garbage collector's passes over it would count against one side
    only. The runs alternate (baseline, ours, baseline, ours, …) so that load changes on
    the machine reach both; each side's figure is its minimum."""
    ours_runs: list[dict[str, Any]] = []
    base_runs: list[dict[str, Any]] = []
    if baseline is None:
        ours_runs = loop_us(nodes, make_proposer, repeats)["runs"]
    else:
        for _ in range(repeats):
            base_runs += checkout_us(baseline, nodes, 1)["runs"]
            ours_runs += checkout_us(OWN_CHECKOUT, nodes, 1)["runs"]
    ours = _summary(ours_runs)
    out: dict[str, Any] = {
        "rmaxts_loop_us_per_expansion": ours["us_per_expansion"],
        "rmaxts_loop_us_median": ours["us_median"],
        "rmaxts_loop_nodes": ours["nodes"],
        "rmaxts_loop_expansions": ours["expansions"],
    }
    if baseline is not None:
        base = _summary(base_runs)
        out["rmaxts_loop_baseline_us_per_expansion"] = base["us_per_expansion"]
        out["rmaxts_loop_baseline_nodes"] = base["nodes"]
        out["rmaxts_loop_ratio"] = ours["us_per_expansion"] / base["us_per_expansion"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=10_000, help="grow the tree to about this")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", metavar="DIR", help="also run DIR's tree, report the ratio")
    parser.add_argument("--json", action="store_true", help="print loop_us's figures as JSON")
    args = parser.parse_args(argv)
    if args.nodes < 10 or args.repeats < 1:
        parser.error("--nodes must be at least 10 and --repeats at least 1")
    from benchmarks import app

    make_proposer = app.part("make_proposer")
    try:
        if args.json and args.baseline is None:
            print(json.dumps(loop_us(args.nodes, make_proposer, args.repeats)))
        else:
            print(json.dumps(figures(args.nodes, make_proposer, repeats=args.repeats,
                                     baseline=args.baseline), indent=2))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
