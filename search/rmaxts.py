"""RMaxTS: Monte-Carlo tree search over truncate-and-resume paths, with RMax rewards.

Reference: ``shared/reference/deepseek-prover.md`` §6 (truncate-and-resume) and §7 (RMaxTS:
statistics, virtual loss, selection, expansion, rewards, main loop, checkpoints; pseudocode
§7.9). The pieces live next door: ``search.segments`` (valid prefix, per-line segments, the
state after each), ``search.tree`` (goal-keyed paths, selection, jobs, JSON form) and
``search.ucb`` (the DUCB arithmetic). This module is the loop that drives them.

One run, for a budget ``N×T``: N independent trees, one after another, each given T
generations; the first verified proof ends the run (its ``cost`` counts earlier trees in
full, ``Budget.cost``). In one tree, up to ``concurrency`` (K) rollouts are in flight as
asyncio tasks. One rollout:

1. select a node by DUCB with virtual loss (``Tree.select`` + ``Tree.start_job``), draw one
   of its code prefixes and a generation seed from ``rng``; this happens in the loop, at
   launch, so with K = 1 the draws follow a fixed order and a run is reproducible;
2. ask the proposer for one continuation of ``statement + prefix``, with the node's goal as
   the tactic state (none at the root, §6.3);
3. verify ``prefix + continuation`` through the full trust layer (``search.verify.verify``,
   ``allTactics`` on); a candidate already judged in this run (any tree) takes that rollout's
   outcome instead, its resolved path, with no Lean call and no probe (``search.rollouts``);
4. proved: the run stops. Otherwise truncate at the first error or sorry (not "unsolved
   goals"), split the valid prefix into segments with their states, resolve ambiguous
   states in tactic mode where asked (``resolve_probes``; a probe that cannot be resolved
   ends the path there), insert the path from the root, reward = RMax (1 when a node was
   added, anywhere), back it up along the selection path (``Tree.finish_job``).

The tree is mutated only by the loop (selection at launch, insertion and backup when a
task completes), never inside a task, so completions never interleave with a tree update.
The loop waits with ``asyncio.wait(FIRST_COMPLETED)``; nothing polls.

Checkpoints (§7.6, JSON lines instead of pickle): an append-only journal
(``search.tree_journal``): each completed rollout's change to the tree, and every
``checkpoint_every`` completed rollouts, when a tree starts, and at the end, a mark with the
counters and ``rng``'s state; written in order on a background thread, so a save costs what
the rollouts since the last one cost, whatever the tree's size. Rollouts still in flight at
a mark are not in it (their virtual loss is dropped from the replayed tree, their
generations uncounted): a resumed run redoes them. A run that finds an existing checkpoint
resumes from it; a finished one (proof found or budget spent) is answered from the file
without new work. With K = 1 the checkpoint is taken between rollouts, so an interrupted
run resumed from it grows exactly the tree an uninterrupted run grows.

Deviations from upstream, on purpose: the run stops at the first proof instead of at the
next 128-sample checkpoint (§7.10); checkpoints are JSON; tactic states that the upstream
REPL does not report (design.md §5) are probed in tactic mode on the worker that checked
the candidate, held for the check and its probes (one tactic per probe; a state the tree
already holds for the same code prefix is not probed again); a cut inside a line drops
the partial line (upstream can keep ``rw [h₁]; `` when the ``linarith`` after it fails). States the REPL printed flattened (before Lean v4.14) are
re-read the same way, with ``skip``, and never shown flat. Token counts come from the
proposer's ``token_counter()`` when it has one (its tokenizer), else code points.
"""
from __future__ import annotations

import asyncio
import random
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from lean_bridge.errors import ReplCrashed, ReplTimeout
from lean_bridge.integrity import IntegrityOptions
from lean_bridge.outcome import CheckResult, Status
from lean_bridge.tactic_mode import ProofSession
from search.problem import Problem
from search.protocols import LeanChecker, ProofProposer, token_counter_of

from .budget import Budget
from .result import LeanTally, SearchResult
from .rmaxts_checkpoint import CheckpointedRun, load_checkpoint
from .rollouts import RolloutOutcome as _Outcome
from .segments import Segment
from .states import rejected_prefix, resolve_states, segments_of
from .tree import Tree
from .tree_journal import JOURNAL_FORMAT, JournalWriter, Rollout
from .ucb import EXPLORATION, GAMMA, rmax_reward
from .verdicts import UNSETTLED, Seen, SharedVerdicts, VerdictCache, normalise
from .verify import reference_of, verify, verify_on

CHECKPOINT_FORMAT = JOURNAL_FORMAT
MAX_TOKENS = 2048  # §7.8 / §6.3: the prefix + state comment cap (tokens upstream)
SEED_RANGE = 2 ** 31


@dataclass(frozen=True)
class _Job:
    index: int  # launch order within the tree
    node: int
    depth: int
    code: str  # the node's code prefix the continuation extends
    goal: str | None  # the tactic state given to the proposer; None at the root
    comment: str  # the exact state comment the prompt carries after ``code`` ("" for none)
    seed: int


def _root_proof(problem: Problem) -> str:
    return "  sorry\n" if problem.ends_with_by else " by\n  sorry\n"


class _Search(CheckpointedRun):
    def __init__(self, problem: Problem, *, proposer: ProofProposer, lean: LeanChecker,
                 budget: Budget, rng: random.Random, concurrency: int, gamma: float,
                 c: float, max_tokens: int, count_tokens: Callable[[str], int] | None,
                 temperature: float, checkpoint: Path | None, checkpoint_every: int,
                 trace: bool, resolve_probes: bool, tactic_state_comment: bool,
                 shared: SharedVerdicts | None = None) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, got {checkpoint_every}")
        self.problem, self.proposer, self.lean = problem, proposer, lean
        self.budget, self.rng, self.concurrency = budget, rng, concurrency
        self.gamma, self.c, self.max_tokens = gamma, c, max_tokens
        # The prompt cap's unit: the caller's counter, else the proposer's tokenizer
        # (``TokenCounting``), else code points (the portfolio has no tokenizer).
        counter = count_tokens if count_tokens is not None else token_counter_of(proposer)
        self.count_tokens: Callable[[str], int] = counter if counter is not None else len
        self.token_unit = "code points" if counter is None or counter is len else "tokens"
        self.state_comment = tactic_state_comment
        self.integrity = getattr(lean, "integrity", None) or IntegrityOptions()
        self.temperature = temperature
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = checkpoint_every
        self.journal = JournalWriter(self.checkpoint) if self.checkpoint is not None else None
        self.unsaved: list[dict[str, Any] | Rollout] = []  # journal lines since the last mark
        self.fresh = False  # the next mark starts the file
        self.abandoned: list[int] = []  # nodes of rollouts cancelled when the tree ended
        self.keep_trace, self.resolve_probes = trace, resolve_probes
        # Run state (all of it is in the checkpoint).
        self.root_goal = ""
        self.tree: Tree | None = None
        self.attempt = 0
        self.started = 0  # rollouts launched in this tree
        self.completed = 0  # rollouts finished in this tree
        self.generations = 0
        self.lean_calls = 0
        # Each distinct candidate of the run (every tree; with ``shared``, every search of the
        # problem) is judged once: a copy takes the outcome of the rollout that judged it
        # (``search.verdicts``), never its proof-state ids, which belong to a process that may
        # be gone; crashes and timeouts are retried. The counts are this search's (``Seen``).
        self.shared = shared
        self.outcomes: Seen[str, _Outcome] = Seen(shared.outcomes if shared else None)
        self.inherited: dict[str, _Outcome] = self.outcomes.once.kept()  # for the journal
        self.seconds_before = 0.0
        self.proof: str | None = None
        self.cost: int | None = None
        self.finished = False
        self.trace: list[dict[str, Any]] = []
        self.tally = LeanTally()  # checks Lean could not judge, and Lean timeouts
        self.per_tree: list[dict[str, Any]] = []
        self.running = 0
        self.max_running = 0
        self.t0 = time.monotonic()

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> SearchResult:
        try:
            return await self._run()
        finally:
            if self.journal is not None:
                self.journal.close()  # an interrupted run keeps the marks already submitted

    async def _run(self) -> SearchResult:
        if self.checkpoint is not None and self.checkpoint.exists():
            self._load()
            if self.finished:
                return self._result()
        else:
            self.root_goal = await self._root_goal()
            self._new_tree(first=True)
        while True:
            found = await self._search_tree()
            self.per_tree.append(self._tree_stats())
            if found or self.attempt + 1 >= self.budget.attempts:
                break
            self.attempt += 1
            self.started = self.completed = self.max_running = 0
            self._new_tree()
        self.finished = True
        self._save()
        if self.journal is not None:
            await self.journal.flush()
        return self._result()

    async def _root_goal(self) -> str:
        """§7.6 setup: the goal of the ``sorry`` of ``statement + "  sorry"``. "" when Lean
        gives none (the root's key then matches no segment state, which is harmless)."""
        once = VerdictCache(self.lean, self.tally.check,  # shared: one check per problem
                            shared=self.shared.checks if self.shared else None)
        result = await once.verify(self.problem, _root_proof(self.problem))
        self.lean_calls += once.calls
        return result.sorries[-1].goal if result.sorries else ""

    async def _search_tree(self) -> bool:
        """Run the current tree to its budget or to a proof; True when proved."""
        pending: dict[asyncio.Task[_Outcome], _Job] = {}
        done_since = 0
        try:
            while True:
                while self.proof is None and len(pending) < self.concurrency \
                        and self.started < self.budget.per_attempt:
                    job = self._launch()
                    pending[asyncio.create_task(self._rollout(job))] = job
                if not pending:
                    return self.proof is not None
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: pending[t].index):
                    job = pending.pop(task)
                    self._complete(job, task.result())
                    done_since += 1
                    if self.proof is not None:
                        return True
                if done_since >= self.checkpoint_every:
                    self._save(in_flight=[j.node for j in pending.values()])
                    done_since = 0
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            self.running = 0
            # Jobs abandoned at a proof stay counted (started, generations); their nodes
            # stay expanded, and the next mark says so.
            self.abandoned = [job.node for job in pending.values()]
            if self.tree is not None:  # abandoned jobs leave no virtual loss behind
                self.tree.clear_running()

    def _launch(self) -> _Job:
        assert self.tree is not None
        node = self.tree.select(gamma=self.gamma, c=self.c)
        self.tree.start_job(node)
        code, comment = self.tree.sample_prefix(node, self.rng, comment=self.state_comment)
        seed = self.rng.randrange(SEED_RANGE)
        n = self.tree.nodes[node]
        job = _Job(self.started, node, n.depth, code, None if node == Tree.ROOT else n.goal,
                   comment, seed)
        self.started += 1
        self.generations += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        return job

    async def _rollout(self, job: _Job) -> _Outcome:
        proposals = await self.proposer.propose_proofs(
            self.problem, 1, prefix=job.code, tactic_state=job.goal, seed=job.seed,
            temperature=self.temperature, state_comment=job.comment)
        continuation = proposals[0].text if proposals else ""
        empty = not continuation.strip()
        if empty and not job.code.strip():
            return _Outcome(None, None, (), empty=True)  # nothing at all to check
        # An empty continuation checks the prefix alone: at a node whose prefix closed the
        # goal (the rollout that made it failed on a redundant line after), it is a proof.
        proof = job.code + continuation
        assert self.tree is not None
        known = self.tree.states_on_path(job.node)
        key = normalise(proof)
        # An outcome of an earlier search (``inherited``), taken for the first time, is
        # journaled as this run's too: a resume counts it in ``distinct`` once, as before.
        claim = key in self.inherited and not self.outcomes.asked(key)
        outcome, fresh = await self.outcomes.get(
            key, lambda: self._checked(proof, empty, known), lambda o: o.status not in UNSETTLED)
        return replace(outcome, key=key) if fresh else \
            replace(outcome, empty=empty, shared=True, key=key if claim else None)

    async def _checked(self, proof: str, empty: bool, known: dict[str, str]) -> _Outcome:
        if not self.resolve_probes:
            return await self._decided(proof, empty, None, known)
        # Proof-state ids belong to the process that made them: the check and the probes of
        # its answer share one held worker, so no probe needs the proof checked again (at
        # the default pin every flattened state is probed).
        async with AsyncExitStack() as stack:
            try:
                held = await stack.enter_async_context(self.lean.proof_session(
                    self.problem.header, self.problem.statement, reference_of(self.problem),
                    open_root=False))
            except (ReplCrashed, ReplTimeout):
                held = None  # no REPL could start: the plain check makes that its verdict
            return await self._decided(proof, empty, held, known)

    async def _verify(self, proof: str, held: ProofSession | None) -> CheckResult:
        self.lean_calls += 1
        if held is None:
            return await verify(self.lean, self.problem, proof, all_tactics=True)
        return await verify_on(self.lean, held.worker, self.problem, proof, all_tactics=True)

    async def _decided(self, proof: str, empty: bool, held: ProofSession | None,
                       known: dict[str, str]) -> _Outcome:
        """``known``: the states of the code prefixes the tree already holds on this path."""
        result = await self._verify(proof, held)
        if result.status is Status.REJECTED:
            return await self._rejected(proof, result, empty, held, known)
        return await self._judged(proof, result, empty=empty, held=held, known=known)

    async def _judged(self, proof: str, result: CheckResult, *, empty: bool,
                      held: ProofSession | None, known: dict[str, str],
                      rejected: CheckResult | None = None) -> _Outcome:
        """The outcome of a checked ``proof``: proved, or the path of its valid prefix.
        ``rejected``: ``proof`` is the honest prefix of that rejected candidate, whose
        verdict the outcome keeps when the prefix does not prove the theorem. ``held``: the
        worker ``result`` came from, where its proof states can be probed."""
        segments = segments_of(self.problem, proof, result)
        honest = rejected is not None
        if result.proved:
            return _Outcome(result.status, proof, tuple(segments), None, empty, honest)
        # A segment ending where a prefix of the tree ends has that node's state: no probe.
        segments = [s if s.resolved or proof[:s.end] not in known else s.resolve(known[proof[:s.end]])
                    for s in segments]
        if self.resolve_probes:
            segments = await self._resolve(proof, segments, held)
        verdict = rejected or result
        return _Outcome(verdict.status, None, tuple(segments),
                        verdict.reasons[0] if verdict.reasons else None, empty, honest)

    async def _rejected(self, proof: str, result: CheckResult, empty: bool,
                        held: ProofSession | None, known: dict[str, str]) -> _Outcome:
        """A candidate the trust layer rejected grows no path of its own (its verdict is
        not evidence), but its lines before the banned construct are honest search state:
        they are checked again alone (one more Lean call) and grow the tree like any
        candidate; should they prove the theorem by themselves, that is the proof (they
        passed the whole trust layer; the rejected candidate never does)."""
        reason = result.reasons[0] if result.reasons else None
        prefix = rejected_prefix(self.problem, proof, integrity=self.integrity)
        if not prefix.strip():
            return _Outcome(result.status, None, (), reason, empty)
        again = await self._verify(prefix, held)
        return await self._judged(prefix, again, empty=empty, held=held, known=known,
                                  rejected=result)

    async def _resolve(self, proof: str, segments: list[Segment],
                       held: ProofSession | None) -> list[Segment]:
        resolved, calls = await resolve_states(self.lean, self.problem, proof, segments,
                                               session=held)
        self.lean_calls += calls
        return resolved

    def _complete(self, job: _Job, outcome: _Outcome) -> None:
        assert self.tree is not None
        tokens: list[int] = []  # the cap's counts, which the journal keeps for a replay
        if outcome.segments:
            added, deepest = self.tree.insert_path(
                outcome.segments, max_tokens=self.max_tokens, count_tokens=self.count_tokens,
                comment=self.state_comment, log=tokens if self.journal is not None else None)
        else:
            added, deepest = 0, Tree.ROOT
        reward = rmax_reward(added)
        self.tree.finish_job(job.node, reward, gamma=self.gamma)
        if not outcome.shared:  # a crash shared by rollouts in flight is one check's
            self.tally.note(outcome.status, outcome.reason)
        self.completed += 1
        self.running -= 1
        if self.keep_trace:
            self.trace.append({
                "attempt": self.attempt, "rollout": job.index, "node": job.node,
                "depth": job.depth, "seed": job.seed,
                "status": "empty" if outcome.status is None else outcome.status.value,
                "segments": len(outcome.segments), "new_nodes": added, "reached": deepest,
                "reward": reward, "empty": outcome.empty,
                "honest_prefix": outcome.honest_prefix,
            })
        if self.journal is not None:  # with the outcome it computed, when kept for copies
            key = outcome.key
            kept = key is not None and self.outcomes.known(key) is not None
            self.unsaved.append(Rollout(job.node, outcome.segments, tuple(tokens), reward,
                                        self.trace[-1] if self.keep_trace else None,
                                        (key, outcome.to_json(segments=False)) if key and kept else None))
        if outcome.proof is not None:
            self.proof = outcome.proof
            self.cost = self.budget.cost(self.attempt, self.completed)

    # -- results and checkpoints ------------------------------------------------------------

    def _tree_stats(self) -> dict[str, Any]:
        assert self.tree is not None
        return {**self.tree.stats(), "attempt": self.attempt, "expansions": self.completed,
                "max_running": self.max_running}

    def _result(self) -> SearchResult:
        stats = dict(self.per_tree[-1]) if self.per_tree else self._tree_stats()
        stats["trees"] = len(self.per_tree)
        stats["token_unit"] = self.token_unit
        stats["per_tree"] = list(self.per_tree)
        return SearchResult(self.problem.name, self.proof, self.generations, self.lean_calls,
                            self.seconds_before + time.monotonic() - self.t0, self.cost,
                            "rmaxts", stats, tuple(self.trace), **self.tally.fields(),
                            distinct=self.outcomes.distinct)

async def rmaxts_search(problem: Problem, *, proposer: ProofProposer, lean: LeanChecker,
                        budget: Budget, rng: random.Random, concurrency: int = 4,
                        gamma: float = GAMMA, c: float = EXPLORATION,
                        max_tokens: int = MAX_TOKENS,
                        count_tokens: Callable[[str], int] | None = None,
                        temperature: float = 1.0,
                        checkpoint: Path | None = None, checkpoint_every: int = 32,
                        trace: bool = True, resolve_probes: bool = True,
                        tactic_state_comment: bool = True,
                        shared: SharedVerdicts | None = None) -> SearchResult:
    """Search for a proof of ``problem`` with RMaxTS (module docstring); stop at the first.

    Args:
      proposer: continues ``statement + prefix`` given the node's tactic state.
      lean: the checker; every candidate goes through ``search.verify.verify``.
      budget: ``N×T``: N independent trees of T generations each.
      rng: the only source of randomness (prefix choice, generation seeds); with
        ``concurrency=1`` the run is a function of its state.
      concurrency: K rollouts in flight per tree (virtual loss keeps them apart).
      gamma, c: DUCB discount and exploration constant (§7.3, §7.8).
      max_tokens, count_tokens: the prefix + state comment cap (§6.3). ``count_tokens``
        None (the default): the proposer's ``token_counter()`` (``TokenCounting``: the
        policy's tokenizer, as upstream), else code points (the portfolio);
        ``tree_stats["token_unit"]`` says which.
      tactic_state_comment: give the prompt the node's tactic-state comment (upstream's
        switch of that name); off, prompts end at the code prefix, and the cap counts it.
      checkpoint, checkpoint_every: JSON checkpoint file, resumed from when present.
      trace: keep one small dict per completed rollout in ``SearchResult.trace``.
      resolve_probes: learn ambiguous tactic states in tactic mode instead of ending the
        path there.
      shared: the root-goal verdict and rollout outcomes other searches of this problem
        share (``search.verdicts``; None: this search's own); the counts stay this search's.

    A proof's ``cost`` is ``budget.cost(tree, k)`` with k the rollouts completed in that
    tree up to and including the proving one (upstream's ``sample_count``); rollouts still
    in flight then are cancelled, but counted in ``generations``.

    ``tree_stats`` holds the last tree's ``Tree.stats()`` (nodes, max_depth,
    bytes_per_node, ...) plus ``expansions`` (rollouts completed in it), ``max_running``
    (most rollouts in flight at once), ``attempt``, ``trees`` and ``per_tree``.
    """
    return await _Search(
        problem, proposer=proposer, lean=lean, budget=budget, rng=rng, concurrency=concurrency,
        gamma=gamma, c=c, max_tokens=max_tokens, count_tokens=count_tokens,
        temperature=temperature, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
        trace=trace, resolve_probes=resolve_probes,
        tactic_state_comment=tactic_state_comment, shared=shared).run()


__all__ = ["CHECKPOINT_FORMAT", "MAX_TOKENS", "load_checkpoint", "rmaxts_search",
           "segments_of"]
