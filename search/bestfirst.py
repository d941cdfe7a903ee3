"""Best-first tactic search: a priority queue of tactic states ordered by cumulative log-probability.

One attempt (of an ``N×T`` budget) opens a tactic session on the problem (the root proof
state of ``statement`` with a ``sorry`` proof), then repeats until T tactics have been asked
of the proposer, the queue is empty, or ``max_expansions`` is reached:

1. pop the node with the highest priority key (ties: first inserted first);
2. ask the proposer for ``width`` tactics for its goals (Lean's goal list, ``"\\n\\n"``-joined),
   with a ``StepContext`` (the problem and the tactics from the root to the node) for
   step-prover prompts that show the declaration name and the proof so far;
3. run them, best edge score first, on the node's proof state:
   ``error`` → dropped; ``open`` → a new node unless its goal text was seen before in this
   attempt (a duplicate, counted, no node); ``open`` with no goals (``proofStatus`` says
   incomplete although nothing is left, e.g. a metavariable) → dropped as ``stuck``;
   ``completed`` → the proof text is assembled from the tactic path and re-checked in command
   mode by ``session.recheck``. Only a re-check that says PROVED ends the search; a refused
   one is recorded (node status ``unverified``) and the search goes on.

Priorities (``search.priority``, option ``priority``): by default a tactic's edge score is
its cumulative log-probability and a node's key the sum along its path; ``token-mean``
divides each score by the tactic's token count (InternLM step provers); ``bfs-prover`` also
divides the node's sum by ``depth ** depth_reward`` (BFS-Prover-V2's length normalisation).
A node's recorded ``logprob`` is its path's summed edge scores under the rule in use.

Nodes at ``max_depth`` tactics from the root are kept but never expanded. Each attempt is a
fresh search (new session, new graph) with its own random stream drawn from ``rng``; the
proposer's ``seed`` for every expansion comes from that stream.

Sessions (``TacticSession``). The loop only needs ``root`` (a ``TacticStep`` whose
``proof_state`` is an opaque handle), ``run_tactic(state, tactic) -> TacticStep`` and
``recheck(proof) -> CheckResult``. ``lean_bridge.checker.ProofSession`` has exactly that (here
wrapped by ``repl_session``); ``search.dojo.DojoSession`` adapts LeanDojo. A session whose
process is gone raises ``SessionLost``; the loop then opens a new one (at most ``restarts``
times per attempt) and rebuilds a node's state, when it is next needed, by replaying the
tactic path from the new root (``lean_calls``, not generations; a replay that does not give
the recorded goals marks the node ``stale``). So a tactic that hangs costs that tactic, not
the attempt.

Accounting: ``generations`` = tactics asked of the proposer (``min(width, left)`` per
expansion, whatever comes back); ``lean_calls`` = tactic runs (replays included) + re-checks
+ one per session opened (the ``sorry`` command that gives the root state);
``cost`` = ``budget.cost(attempt, k)`` where k counts the proposals of this attempt up to and
including the one that closed the proof (proposals are numbered in the order they are run).
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from contextlib import AsyncExitStack
from typing import Any, Sequence

from lean_bridge.reference import placeholder_for
from lean_bridge.tactic_mode import StepStatus, TacticStep
from search.priority import DEFAULT_DEPTH_REWARD, NodePriority
from search.problem import Problem
from search.protocols import LeanChecker, Proposal, StepContext, TacticProposer

from .budget import Budget
from .graph import (
    EXPANDED,
    GRAPH_FORMAT,
    OPEN,
    PROVED,
    STALE,
    UNVERIFIED,
    GraphNode,
    NodeStatus,
    SearchGraph,
)
from .result import LeanTally, SearchResult
from .segments import goals_text
from .tactic_session import (
    ReplTacticSession,
    SessionFactory,
    SessionLost,
    TacticSession,
    repl_session,
)

_PLACEHOLDER_TAIL = "  sorry"  # what every ``placeholder_for`` answer ends with


# -- proof text ---------------------------------------------------------------------------------

def proof_from_tactics(statement: str, tactics: Sequence[str]) -> str:
    """The proof text continuing ``statement`` that runs ``tactics`` in order.

    ``… := by\\n`` gets the indented tactic lines; ``… := by`` a newline first; ``… :=`` gets
    `` by\\n`` first (the same openers as the reference placeholder). Every line of a
    multi-line tactic is indented by two spaces.
    """
    opener = placeholder_for(statement)
    assert opener.endswith(_PLACEHOLDER_TAIL), opener
    lines = []
    for tactic in tactics:
        for line in tactic.strip("\n").split("\n"):
            lines.append(("  " + line).rstrip() + "\n")
    return opener[: -len(_PLACEHOLDER_TAIL)] + "".join(lines)


# -- the search ---------------------------------------------------------------------------------

async def bestfirst_search(problem: Problem, *, proposer: TacticProposer, lean: LeanChecker,
                           budget: Budget, rng: random.Random, width: int = 8,
                           max_depth: int = 32, max_expansions: int | None = None,
                           restarts: int = 2, graphs: list[SearchGraph] | None = None,
                           priority: str = "cumulative",
                           depth_reward: float = DEFAULT_DEPTH_REWARD) -> SearchResult:
    """Best-first tactic search over the REPL (module docstring). ``graphs``, when given,
    receives each attempt's ``SearchGraph``; ``priority`` names a ``search.priority`` rule."""
    return await bestfirst_search_with(
        problem, lambda: repl_session(lean, problem), proposer=proposer, budget=budget, rng=rng,
        width=width, max_depth=max_depth, max_expansions=max_expansions, restarts=restarts,
        graphs=graphs, method="bestfirst", priority=priority, depth_reward=depth_reward)


async def bestfirst_search_with(problem: Problem, open_session: SessionFactory, *,
                                proposer: TacticProposer, budget: Budget, rng: random.Random,
                                width: int = 8, max_depth: int = 32,
                                max_expansions: int | None = None, restarts: int = 2,
                                graphs: list[SearchGraph] | None = None,
                                method: str = "bestfirst", priority: str = "cumulative",
                                depth_reward: float = DEFAULT_DEPTH_REWARD) -> SearchResult:
    """Best-first search over any ``TacticSession`` that ``open_session()`` opens (an async
    context manager, entered once per attempt and once per restart)."""
    if width < 1 or max_depth < 1:
        raise ValueError(f"width and max_depth must be >= 1, got {width} and {max_depth}")
    if max_expansions is not None and max_expansions < 1:
        raise ValueError(f"max_expansions must be >= 1 or None, got {max_expansions}")
    rule = NodePriority(priority, depth_reward)
    started = time.monotonic()
    generations = lean_calls = 0
    trace: list[dict[str, Any]] = []
    tally = LeanTally()
    totals: dict[str, Any] = {"attempts": 0, "restarts": 0, "replays": 0}
    for attempt in range(budget.attempts):
        run = _Attempt(problem, open_session, proposer, budget, attempt,
                       random.Random(rng.randrange(2**63)), width, max_depth, max_expansions,
                       restarts, rule)
        proof, cost = await run.run()
        generations += run.generations
        lean_calls += run.lean_calls
        tally.add(run.tally)
        trace += run.trace
        if graphs is not None:
            graphs.append(run.graph)
        totals["attempts"] += 1
        totals["restarts"] += run.restarts_used
        totals["replays"] += run.replays
        for key, value in run.graph.stats().items():
            totals[key] = max(totals.get(key, 0), value) if key == "max_depth" \
                else totals.get(key, 0) + value
        if proof is not None:
            return SearchResult(problem.name, proof, generations, lean_calls,
                                time.monotonic() - started, cost, method, totals, tuple(trace),
                                **tally.fields())
    return SearchResult(problem.name, None, generations, lean_calls, time.monotonic() - started,
                        None, method, totals, tuple(trace), **tally.fields())


class _AttemptOver(Exception):
    """No session can be had any more: the attempt ends."""


class _Attempt:
    def __init__(self, problem: Problem, open_session: SessionFactory, proposer: TacticProposer,
                 budget: Budget, attempt: int, rng: random.Random, width: int, max_depth: int,
                 max_expansions: int | None, restarts: int,
                 priority: NodePriority) -> None:
        self.problem, self.open_session, self.proposer = problem, open_session, proposer
        self.budget, self.attempt, self.rng = budget, attempt, rng
        self.width, self.max_depth, self.max_expansions = width, max_depth, max_expansions
        self.restarts_left = restarts
        self.priority = priority
        self.restarts_used = self.replays = self.generations = self.lean_calls = 0
        self.trace: list[dict[str, Any]] = []
        self.tally = LeanTally()
        self.graph = SearchGraph(problem.name, attempt)
        self.session: TacticSession | None = None
        self._stack: AsyncExitStack | None = None
        self.epoch = 0  # which session the handles below belong to
        self.handles: dict[int, tuple[int, Any]] = {}  # node id -> (epoch, proof-state handle)
        self.seen: dict[str, int] = {}  # goal text -> node id
        self.queue: list[tuple[float, int, int]] = []  # (-key, insertion, node id)
        self.inserted = itertools.count()

    def _log(self, event: str, **data: Any) -> None:
        self.trace.append({"attempt": self.attempt, "event": event, **data})

    # -- sessions ---------------------------------------------------------------------------

    async def _close(self) -> None:
        stack, self._stack, self.session = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _open(self) -> TacticStep:
        await self._close()
        stack = AsyncExitStack()
        try:
            session = await stack.enter_async_context(self.open_session())
        except SessionLost as exc:
            await stack.aclose()
            self.tally.note(exc.status, str(exc))
            self._log("session_open_failed", error=str(exc))
            raise _AttemptOver from exc
        self._stack, self.session = stack, session
        self.epoch += 1
        root = session.root
        if root is None or root.status is not StepStatus.OPEN or root.proof_state is None:
            self._log("session_open_failed", error=f"no open root state: {root!r}")
            raise _AttemptOver
        self.lean_calls += 1  # opening the root state is one Lean command
        return root

    async def _restart(self, lost: SessionLost) -> None:
        reason = str(lost)
        self.tally.note(lost.status, reason)
        self._log("session_lost", error=reason)
        if self.restarts_left <= 0:
            raise _AttemptOver
        self.restarts_left -= 1
        self.restarts_used += 1
        root = await self._open()
        if goals_text(root.goals) != self.graph.nodes[0].goal_text:
            self._log("session_open_failed", error="the reopened root state has other goals")
            raise _AttemptOver
        self.handles[0] = (self.epoch, root.proof_state)

    async def _run(self, state: Any, tactic: str) -> TacticStep:
        assert self.session is not None
        self.lean_calls += 1
        return await self.session.run_tactic(state, tactic)

    async def _state_of(self, node_id: int) -> Any | None:
        """The node's proof-state handle in the current session, replaying its tactic path
        after a restart; None when the replay does not reproduce its goals."""
        while True:
            try:
                return await self._replay(node_id)
            except SessionLost as exc:
                await self._restart(exc)

    async def _replay(self, node_id: int) -> Any | None:
        path = self.graph.path_to(node_id)
        if any(self.graph.nodes[i].status == STALE for i in path):
            return None
        current = [i for i in path if self.handles.get(i, (None,))[0] == self.epoch]
        start = path.index(current[-1])  # the root is always current
        for parent, child in zip(path[start:], path[start + 1:], strict=False):
            node = self.graph.nodes[child]
            self.replays += 1
            step = await self._run(self.handles[parent][1], node.tactic or "")
            if step.status is not StepStatus.OPEN or goals_text(step.goals) != node.goal_text:
                self._log("replay_failed", node=child, status=step.status)
                for i in path[path.index(child):]:
                    self.graph.nodes[i].status = STALE
                return None
            self.handles[child] = (self.epoch, step.proof_state)
        return self.handles[node_id][1]

    # -- the loop ---------------------------------------------------------------------------

    def _add(self, parent: GraphNode, tactic: str, goals: tuple[str, ...], logprob: float,
             status: NodeStatus) -> GraphNode:
        node = GraphNode(len(self.graph.nodes), parent.id, tactic, goals,
                         parent.logprob + logprob, logprob, parent.depth + 1, status)
        self.graph.nodes.append(node)
        return node

    def _push(self, node: GraphNode) -> None:
        if node.depth < self.max_depth:
            key = self.priority.key(node.logprob, node.depth)
            heapq.heappush(self.queue, (-key, next(self.inserted), node.id))

    async def run(self) -> tuple[str | None, int | None]:
        try:
            return await self._search()
        except _AttemptOver:
            return None, None
        finally:
            await self._close()

    async def _search(self) -> tuple[str | None, int | None]:
        root_step = await self._open()
        root = GraphNode(0, None, None, tuple(root_step.goals), 0.0, 0.0, 0)
        self.graph.nodes.append(root)
        self.handles[0] = (self.epoch, root_step.proof_state)
        self.seen[root.goal_text] = 0
        self._push(root)
        per_attempt = self.budget.per_attempt
        while self.queue and self.generations < per_attempt and (
                self.max_expansions is None or self.graph.expansions < self.max_expansions):
            _, _, node_id = heapq.heappop(self.queue)
            node = self.graph.nodes[node_id]
            state = await self._state_of(node_id)
            if state is None:
                continue
            n = min(self.width, per_attempt - self.generations)
            asked_before = self.generations
            context = StepContext(self.problem, tuple(self.graph.tactics_to(node_id)))
            proposals = await self.proposer.propose_tactics(node.goal_text, n,
                                                            seed=self.rng.randrange(2**31),
                                                            context=context)
            self.generations += n
            node.status, node.order = EXPANDED, self.graph.expansions
            self.graph.expansions += 1
            self._log("expand", node=node_id, via=node.tactic, depth=node.depth,
                      logprob=node.logprob, asked=n, got=len(proposals))
            proof = await self._expand(node, state, proposals)
            if proof is not None:
                k, text = proof
                return text, self.budget.cost(self.attempt, asked_before + k)
        return None, None

    async def _expand(self, node: GraphNode, state: Any, proposals: list[Proposal]
                      ) -> tuple[int, str] | None:
        """Run the proposals on ``node``; (proposal number, proof) when one is proved."""
        fallback = math.log(1.0 / max(len(proposals), 1))
        ranked = sorted(((self.priority.edge_score(p.logprob, p.tokens)
                          if p.logprob is not None else fallback, p.text)
                         for p in proposals), key=lambda lp_text: -lp_text[0])
        tried: set[str] = set()
        for k, (logprob, raw) in enumerate(ranked, start=1):
            tactic = raw.strip()
            if not tactic or tactic in tried:
                self._log("tactic", node=node.id, tactic=tactic, logprob=logprob, status="repeat")
                continue
            tried.add(tactic)
            try:
                step = await self._run(state, tactic)
            except SessionLost as exc:
                self._log("tactic", node=node.id, tactic=tactic, logprob=logprob, status="lost")
                await self._restart(exc)
                state = await self._state_of(node.id)
                if state is None:
                    return None
                continue
            goals = tuple(step.goals)
            entry = {"node": node.id, "tactic": tactic, "logprob": logprob}
            if step.status is StepStatus.ERROR:
                self._log("tactic", **entry, status="error", error=(step.error or "")[:500])
            elif step.status is StepStatus.COMPLETED:
                child = self._add(node, tactic, (), logprob, UNVERIFIED)
                proof = proof_from_tactics(self.problem.statement,
                                           self.graph.tactics_to(child.id))
                assert self.session is not None
                self.lean_calls += 1
                verdict = self.tally.check(await self.session.recheck(proof))
                self._log("tactic", **entry, status="completed", child=child.id,
                          recheck=verdict.status.value, reasons=list(verdict.reasons)[:5])
                if verdict.proved:
                    child.status = PROVED
                    self.graph.proof_node = child.id
                    return k, proof
            elif not goals:
                self._log("tactic", **entry, status="stuck")
            elif goals_text(goals) in self.seen:
                self.graph.duplicates += 1
                self._log("tactic", **entry, status="duplicate", of=self.seen[goals_text(goals)])
            else:
                child = self._add(node, tactic, goals, logprob, OPEN)
                self.seen[child.goal_text] = child.id
                self.handles[child.id] = (self.epoch, step.proof_state)
                self._push(child)
                self._log("tactic", **entry, status="open", child=child.id)
        return None


__all__ = [
    "EXPANDED", "GRAPH_FORMAT", "GraphNode", "NodeStatus", "OPEN", "PROVED", "ReplTacticSession",
    "STALE",
    "SearchGraph", "SessionFactory", "SessionLost", "TacticSession", "UNVERIFIED",
    "bestfirst_search", "bestfirst_search_with", "proof_from_tactics", "repl_session",
]
