"""Best-first node priorities: how a tactic's log-probability becomes its edge score, and how
a node's path of edge scores becomes its place in the queue. Pure functions of numbers; the
application picks a rule by name (``bestfirst_search(..., priority=NAME)``), search knows no
model.

Rules (``shared/reference/prompts.md`` §7-8 names each source):

* ``cumulative`` (the default): edge score = the tactic's cumulative log-probability; a node's
  key = the sum over its path. Highest key first.
* ``token-mean`` (InternLM2/2.5-StepProver, §7): edge score = ``logprob / max(tokens, 1)``
  (``output.cumulative_logprob/max(len(output.token_ids), 1)``); key = the sum over the path
  (upstream pops the smallest summed negative score, the same order).
* ``bfs-prover`` (BFS-Prover-V2, §8, ``src/search/prover_manager.py``): edge score =
  ``logprob / tokens`` (the log-probability itself when no token is counted); key =
  ``sum / depth ** depth_reward`` (upstream queues ``-priority / depth ** depth_reward`` and
  pops the smallest); the root, at depth 0, has key 0. ``depth_reward`` is 2.0 in upstream's
  ``run_local_search.sh`` (its class default is 0.0, which makes the key the plain sum).

Log-probabilities are <= 0, so dividing by a growing ``depth ** depth_reward`` moves deep nodes
up: the length normalisation that keeps long proofs from losing to short failed ones.
"""
from __future__ import annotations

from dataclasses import dataclass

PRIORITIES: tuple[str, ...] = ("cumulative", "token-mean", "bfs-prover")
DEFAULT_DEPTH_REWARD = 2.0  # BFS-Prover-V2's run_local_search.sh: --depth_reward 2.0


@dataclass(frozen=True)
class NodePriority:
    rule: str = "cumulative"
    depth_reward: float = DEFAULT_DEPTH_REWARD

    def __post_init__(self) -> None:
        if self.rule not in PRIORITIES:
            raise ValueError(f"unknown best-first priority {self.rule!r}; "
                             f"choose from {', '.join(PRIORITIES)}")
        if self.depth_reward < 0:
            raise ValueError(f"depth_reward must be >= 0, got {self.depth_reward}")

    def edge_score(self, logprob: float, tokens: int) -> float:
        """A tactic's score from its cumulative log-probability over ``tokens`` tokens."""
        if self.rule == "token-mean":
            return logprob / max(tokens, 1)
        if self.rule == "bfs-prover":
            return logprob / tokens if tokens > 0 else logprob
        return logprob

    def key(self, path_score: float, depth: int) -> float:
        """The queue key of a node whose path scores sum to ``path_score``: highest first."""
        if self.rule == "bfs-prover":
            return 0.0 if depth == 0 else path_score / depth ** self.depth_reward
        return path_score


__all__ = ["DEFAULT_DEPTH_REWARD", "NodePriority", "PRIORITIES"]
